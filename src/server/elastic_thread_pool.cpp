#include "server/elastic_thread_pool.h"

#include <chrono>

namespace entropix::server {

namespace {
thread_local bool t_overloaded = false;
constexpr auto kIdleBeforeExit = std::chrono::seconds(30);
}  // namespace

ElasticThreadPool::ElasticThreadPool(size_t kept_ready, size_t max_threads)
    : kept_ready_(kept_ready), max_threads_(std::max<size_t>(max_threads, 1)) {}

ElasticThreadPool::~ElasticThreadPool() { shutdown(); }

bool ElasticThreadPool::overloaded() { return t_overloaded; }

void ElasticThreadPool::enqueue(std::function<void()> fn) {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!stopping_) {
      join_finished();
      // Each queued job needs an idle worker of its own.
      if (idle_ > jobs_.size()) {
        jobs_.push_back(std::move(fn));
        wake_.notify_one();
        return;
      }
      if (running_ < max_threads_) {
        jobs_.push_back(std::move(fn));
        Worker& w = workers_.emplace_back();
        ++running_;
        w.thread = std::thread([this, &w] { work(&w); });
        return;
      }
    }
  }
  // No thread for it: the connection is answered here, briefly, and closed.
  t_overloaded = true;
  fn();
  t_overloaded = false;
}

void ElasticThreadPool::work(Worker* self) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (!jobs_.empty()) {
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
      continue;
    }
    if (stopping_) break;
    ++idle_;
    const bool woken = wake_.wait_for(lock, kIdleBeforeExit, [this] { return stopping_ || !jobs_.empty(); });
    --idle_;
    if (!woken && running_ > kept_ready_) break;
  }
  --running_;
  self->finished = true;
}

void ElasticThreadPool::join_finished() {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->finished) {
      it->thread.join();  // it has left work() and holds no lock
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void ElasticThreadPool::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  std::list<Worker> workers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    workers.swap(workers_);
  }
  for (Worker& w : workers) w.thread.join();
}

}  // namespace entropix::server
