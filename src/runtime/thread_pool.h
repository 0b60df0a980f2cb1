// A fixed set of worker threads that run one task on every thread at once, with low
// per-call latency (called hundreds of times per token by the matmuls).
#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace entropix {

class ThreadPool {
 public:
  // n_threads includes the calling thread; n_threads <= 1 runs every task inline.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs task(i, size()) for every i in [0, size()), i = 0 on the calling thread, and
  // returns when all have finished. The first exception thrown by any is rethrown here.
  // Not reentrant: one run at a time, from one thread at a time.
  void run(const std::function<void(int thread_index, int n_threads)>& task);

 private:
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* task_ = nullptr;  // valid during a run
  alignas(64) std::atomic<uint32_t> generation_{0};      // bumped once per run
  alignas(64) std::atomic<int> pending_{0};              // workers still running this run
  std::atomic<bool> stop_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;  // first exception of the current run
};

}  // namespace entropix
