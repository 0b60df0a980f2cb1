// What the server has done, for GET /metrics in the Prometheus text exposition
// format (version 0.0.4): requests by endpoint and status, prompt tokens (read,
// and taken from the prefix cache) and generated tokens, the prefix cache's size,
// entropix states, recent generation speed, time to first token and
// request duration histograms. The HTTP threads and the inference loop record
// into it concurrently; render() takes a consistent snapshot.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "entropix/policy.h"

namespace entropix::server {

// Cumulative histogram with fixed upper bounds (seconds).
struct Histogram {
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);

  std::vector<double> bounds;    // upper bounds, ascending (+Inf implied)
  std::vector<uint64_t> counts;  // [bounds.size() + 1], not cumulative
  double sum = 0;
  uint64_t count = 0;
};

// The gauges the inference loop knows at scrape time.
struct LoopGauges {
  int32_t active_sequences = 0;
  int32_t queued_requests = 0;
  int64_t completed_requests = 0;
  int64_t cancelled_requests = 0;
};

// What the prefix cache holds, copied by the inference loop after each step.
struct PrefixCacheGauges {
  bool enabled = false;
  int32_t pages = 0;          // KV pages the cache holds
  int64_t bytes = 0;          // their keys and values
  int32_t nodes = 0;          // entries (nodes of its tree)
  int64_t evictions = 0;      // entries evicted since start
  int64_t pages_evicted = 0;  // pages freed by them
};

class Metrics {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kRateWindowSeconds = 10;  // tokens/s is averaged over this many seconds

  Metrics();

  // `endpoint` is a route of the server (or "other"); `status` the HTTP status sent.
  void count_request(const std::string& endpoint, int status);
  void observe_request_duration(const std::string& endpoint, double seconds);
  // A request admitted: its prompt tokens, `n_cached` of them taken from the prefix cache.
  void count_prompt_tokens(int64_t n, int64_t n_cached = 0);
  void set_prefix_cache(const PrefixCacheGauges& g);
  // One sampling step that appended `n_tokens` tokens (thinking text counts all its tokens).
  void count_step(State state, int64_t n_tokens, Clock::time_point now = Clock::now());
  void observe_time_to_first_token(double seconds);

  // Generated tokens per second over the last kRateWindowSeconds.
  double recent_tokens_per_second(Clock::time_point now = Clock::now()) const;
  uint64_t requests(const std::string& endpoint, int status) const;

  std::string render(const LoopGauges& loop) const;

 private:
  double rate_locked(Clock::time_point now) const;

  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (endpoint, status) -> count
  std::map<std::string, Histogram> durations_;                 // endpoint -> request duration
  Histogram ttft_;
  uint64_t prompt_tokens_ = 0;
  uint64_t cached_tokens_ = 0;  // of the prompt tokens, taken from the prefix cache
  PrefixCacheGauges cache_;
  uint64_t generated_tokens_ = 0;
  std::array<uint64_t, 5> states_{};  // steps per State (enum order)
  // Tokens per whole second since start, in a ring of kRateWindowSeconds + 1 buckets.
  Clock::time_point start_;
  std::array<std::pair<int64_t, uint64_t>, kRateWindowSeconds + 1> per_second_{};
};

}  // namespace entropix::server
