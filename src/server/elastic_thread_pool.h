// httplib's connection queue, one thread per open connection: threads start when
// every one is busy (so a slow client never holds up a health check behind it)
// up to a cap, and end after a while idle down to a number kept ready. At the cap
// a connection is run at once on the accepting thread with overloaded() true, for
// a short refusal rather than a wait in a queue.
#pragma once

#include <httplib.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace entropix::server {

class ElasticThreadPool : public httplib::TaskQueue {
 public:
  ElasticThreadPool(size_t kept_ready, size_t max_threads);
  ~ElasticThreadPool() override;  // shutdown()

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

  // True on the accepting thread while it runs a connection the pool had no thread for.
  static bool overloaded();

 private:
  struct Worker {
    std::thread thread;
    bool finished = false;
  };
  void work(Worker* self);
  void join_finished();  // under mutex_

  const size_t kept_ready_;
  const size_t max_threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  std::list<Worker> workers_;
  size_t idle_ = 0;
  size_t running_ = 0;  // workers not finished
  bool stopping_ = false;
};

}  // namespace entropix::server
