#include "server/metrics.h"

#include <algorithm>
#include <cmath>
#include <fmt/core.h>

namespace entropix::server {

namespace {

constexpr std::array<State, 5> kStates = {State::LELV, State::HELV, State::LEHV, State::HEHV, State::Adaptive};

// Prometheus floats: shortest round-trip form, +Inf spelled its way.
std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void histogram_lines(std::string& out, const char* name, const std::string& labels, const Histogram& h) {
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    const double le = i < h.bounds.size() ? h.bounds[i] : INFINITY;
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, number(le), cumulative);
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, number(h.sum), name, braces, h.count);
}

// A metric without labels: its HELP and TYPE lines and its value.
template <typename T>
void single(std::string& out, const char* name, const char* type, const char* help, const T& value) {
  header(out, name, type, help);
  out += fmt::format("{} {}\n", name, value);
}

const std::vector<double> kDurationBounds = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
const std::vector<double> kFirstTokenBounds = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

}  // namespace

Histogram::Histogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}

void Histogram::observe(double value) {
  const size_t i = static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin());
  ++counts[i];
  sum += value;
  ++count;
}

Metrics::Metrics() : ttft_(kFirstTokenBounds), start_(Clock::now()) {}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{endpoint, status}];
}

void Metrics::observe_request_duration(const std::string& endpoint, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  durations_.try_emplace(endpoint, kDurationBounds).first->second.observe(seconds);
}

void Metrics::count_prompt_tokens(int64_t n, int64_t n_cached) {
  std::lock_guard<std::mutex> lock(mutex_);
  prompt_tokens_ += static_cast<uint64_t>(std::max<int64_t>(n, 0));
  cached_tokens_ += static_cast<uint64_t>(std::clamp<int64_t>(n_cached, 0, std::max<int64_t>(n, 0)));
}

void Metrics::set_prefix_cache(const PrefixCacheGauges& g) {
  std::lock_guard<std::mutex> lock(mutex_);
  cache_ = g;
}

void Metrics::count_step(State state, int64_t n_tokens, Clock::time_point now) {
  const uint64_t n = static_cast<uint64_t>(std::max<int64_t>(n_tokens, 0));
  const int64_t second = std::chrono::duration_cast<std::chrono::seconds>(now - start_).count();
  std::lock_guard<std::mutex> lock(mutex_);
  generated_tokens_ += n;
  ++states_[static_cast<size_t>(state)];
  auto& bucket = per_second_[static_cast<size_t>(second) % per_second_.size()];
  if (bucket.first != second) bucket = {second, 0};
  bucket.second += n;
}

void Metrics::observe_time_to_first_token(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ttft_.observe(seconds);
}

double Metrics::rate_locked(Clock::time_point now) const {
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const int64_t second = static_cast<int64_t>(elapsed);
  uint64_t tokens = 0;
  for (const auto& [s, n] : per_second_)
    if (s > second - kRateWindowSeconds && s <= second) tokens += n;
  // Early on the window is only as long as the server has run.
  const double window = std::clamp(elapsed, 1.0, static_cast<double>(kRateWindowSeconds));
  return static_cast<double>(tokens) / window;
}

double Metrics::recent_tokens_per_second(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rate_locked(now);
}

uint64_t Metrics::requests(const std::string& endpoint, int status) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = requests_.find({endpoint, status});
  return it == requests_.end() ? 0 : it->second;
}

std::string Metrics::render(const LoopGauges& loop) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  header(out, "entropix_requests_total", "counter", "HTTP requests answered, by endpoint and status code.");
  for (const auto& [key, n] : requests_)
    out += fmt::format("entropix_requests_total{{endpoint=\"{}\",code=\"{}\"}} {}\n", key.first, key.second, n);
  header(out, "entropix_request_duration_seconds", "histogram",
         "Time from receiving a generation request to its last byte sent.");
  for (const auto& [endpoint, h] : durations_)
    histogram_lines(out, "entropix_request_duration_seconds", "endpoint=\"" + endpoint + "\"", h);
  header(out, "entropix_time_to_first_token_seconds", "histogram",
         "Time from queueing a generation request to its first sampled token.");
  histogram_lines(out, "entropix_time_to_first_token_seconds", "", ttft_);
  single(out, "entropix_prompt_tokens_total", "counter", "Prompt tokens of the admitted requests.", prompt_tokens_);
  single(out, "entropix_prompt_tokens_cached_total", "counter",
         "Prompt tokens taken from the prefix cache instead of read.", cached_tokens_);
  single(out, "entropix_prompt_tokens_read_total", "counter", "Prompt tokens read by the model (not cached).",
         prompt_tokens_ - cached_tokens_);
  single(out, "entropix_prefix_cache_hit_rate", "gauge",
         "Share of all prompt tokens so far taken from the prefix cache.",
         number(prompt_tokens_ > 0 ? double(cached_tokens_) / double(prompt_tokens_) : 0.0));
  single(out, "entropix_prefix_cache_enabled", "gauge",
         "1 when the server keeps a prefix cache (no --no-prefix-cache).", cache_.enabled ? 1 : 0);
  single(out, "entropix_prefix_cache_pages", "gauge", "KV cache pages the prefix cache holds.", cache_.pages);
  single(out, "entropix_prefix_cache_bytes", "gauge", "Keys and values of the pages the prefix cache holds.",
         cache_.bytes);
  single(out, "entropix_prefix_cache_entries", "gauge", "Entries (radix tree nodes) of the prefix cache.",
         cache_.nodes);
  single(out, "entropix_prefix_cache_evictions_total", "counter", "Prefix cache entries evicted to make room.",
         cache_.evictions);
  single(out, "entropix_prefix_cache_evicted_pages_total", "counter", "KV cache pages freed by those evictions.",
         cache_.pages_evicted);
  single(out, "entropix_generated_tokens_total", "counter",
         "Tokens generated, inserted thinking tokens included, all choices together.", generated_tokens_);
  header(out, "entropix_token_states_total", "counter", "Sampling steps by the entropix state of their distribution.");
  for (State s : kStates)
    out += fmt::format("entropix_token_states_total{{state=\"{}\"}} {}\n", state_name(s),
                       states_[static_cast<size_t>(s)]);
  single(out, "entropix_tokens_per_second", "gauge", "Generated tokens per second over the last 10 seconds.",
         number(rate_locked(Clock::now())));
  single(out, "entropix_queue_length", "gauge", "Requests waiting for a free slot.", loop.queued_requests);
  single(out, "entropix_active_sequences", "gauge", "Sequences (choices) being decoded now.", loop.active_sequences);
  single(out, "entropix_finished_requests_total", "counter", "Generation requests that ended, for any reason.",
         loop.completed_requests);
  single(out, "entropix_cancelled_requests_total", "counter", "Generation requests cancelled because the client left.",
         loop.cancelled_requests);
  return out;
}

}  // namespace entropix::server
