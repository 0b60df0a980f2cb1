#include "server/inference_loop.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>

#include "core/error.h"
#include "decoding/step_on_row.h"
#include "entropix/metrics.h"
#include "entropix/sampled_probability.h"
#include "server/prefill_share.h"
#include "tokenizer/tokenizer.h"

namespace entropix::server {

void JobChannel::post(JobEvent ev) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(std::move(ev));
  }
  cv_.notify_all();
}

void Job::post(JobEvent ev) {
  ev.index += first_choice;
  channel->post(std::move(ev));
}

std::vector<JobEvent> JobChannel::wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait_for(lock, timeout, [&] { return !events_.empty(); });
  std::vector<JobEvent> out(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

struct InferenceLoop::Slot {
  std::shared_ptr<Job> job;
  int32_t choice = 0;            // index of the choice this sequence decodes
  bool forks_pending = false;    // choice 0 of a job with n > 1, before its prompt is forked
  SeqId seq = -1;
  std::unique_ptr<SequenceDecoder> decoder;
  size_t n_fed = 0;              // prompt tokens already decoded (or taken from the prefix cache)
  int32_t n_cached = 0;          // prompt tokens taken from the prefix cache
  std::vector<int32_t> tokens;   // the tokens in seq's KV, in order: the prompt fed so far, then each decoded batch
  std::vector<int32_t> pending;  // sampled tokens still to decode
  size_t n_forced = 0;           // of job->forced, taken so far
  int64_t row = -1;              // logits row in the last decode(), -1 when none
  int64_t prompt_row = -1;       // with prompt_logprobs: the row of prompt position prompt_at in the last decode()
  size_t prompt_at = 0;
  size_t prompt_rows = 0;        // rows of prompt positions in the last decode()
  // Pre-empted when the KV cache ran short: its sequence went to the prefix cache (or
  // was freed) and `tokens` is read again, from where the cache still holds it, once
  // there is room (vLLM's recompute pre-emption). The decoder's state is kept.
  bool preempted = false;
  std::vector<int32_t> replay;   // tokens to read again before it goes on
  bool ended = false;
  bool holds_kv() const { return seq >= 0 && !ended; }
};

InferenceLoop::InferenceLoop(Engine& engine, const LoopOptions& options, Metrics* metrics, StepObserver observer)
    : engine_(engine), options_(options), metrics_(metrics), observer_(std::move(observer)) {
  if (options_.parallel < 1) throw Error("parallel requests: expected at least 1, got " + std::to_string(options_.parallel));
  // At least one prompt token per step, so that a prompt always advances.
  options_.prefill_chunk = std::max(options_.prefill_chunk, 1);
  options_.prefill_while_decoding = std::max(options_.prefill_while_decoding, 1);
  if (options_.prefix_cache) {
    KvCache& kv = engine_.kv_cache();
    PrefixCacheOptions co;
    if (options_.cache_ram_mib > 0)  // at least one page: 0 would mean the whole pool
      co.max_pages = static_cast<int32_t>(std::clamp<int64_t>(
          options_.cache_ram_mib * (int64_t{1} << 20) / static_cast<int64_t>(kv.page_bytes()), 1, kv.n_pages()));
    cache_ = std::make_unique<PrefixCache>(kv, co);
  }
  publish_cache_stats();
  thread_ = std::thread([this] { run(); });
}

InferenceLoop::~InferenceLoop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

InferenceLoop::Submit InferenceLoop::submit(std::shared_ptr<Job> job) { return submit_all({std::move(job)}); }

InferenceLoop::Submit InferenceLoop::submit_all(const std::vector<std::shared_ptr<Job>>& jobs) {
  const auto now = std::chrono::steady_clock::now();
  for (const std::shared_ptr<Job>& job : jobs) {
    if (job->n < 1 || job->n > options_.parallel)
      throw Error("a job asks for " + std::to_string(job->n) + " choices; the loop decodes at most " +
                  std::to_string(options_.parallel) + " sequences together");
    job->choices_open_ = job->n;
    job->submitted_ = now;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stop_ || aborting_) return Submit::Stopped;
    if (static_cast<int32_t>(queue_.size()) >= options_.max_queue) return Submit::QueueFull;
    queue_.insert(queue_.end(), jobs.begin(), jobs.end());
  }
  cv_.notify_all();
  return Submit::Queued;
}

LoopStats InferenceLoop::stats() const {
  LoopStats s;
  s.completed = completed_.load();
  s.cancelled = cancelled_.load();
  s.active = active_.load();
  s.preemptions = preemptions_.load();
  std::lock_guard<std::mutex> lock(mutex_);
  s.queued = static_cast<int32_t>(queue_.size());
  return s;
}

void InferenceLoop::abort_all() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    aborting_ = true;
    fail_queued("the server is shutting down");
  }
  cv_.notify_all();
}

void InferenceLoop::fail_queued(const std::string& error) {
  for (auto& job : queue_) {
    JobEvent ev;
    ev.done = true;
    ev.error = error;
    job->post(std::move(ev));
  }
  queue_.clear();
}

void InferenceLoop::run() {
  std::vector<Slot> slots;
  for (;;) {
    bool aborting = false;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty() || !slots.empty(); });
      if (stop_) break;
      aborting = aborting_;
    }
    if (aborting) {
      for (Slot& s : slots)
        if (!s.ended) end(s, FinishReason::Cancelled, "the server is shutting down");
      slots.clear();
      continue;
    }
    admit(slots);
    step(slots);
    publish_cache_stats();
    slots.erase(std::remove_if(slots.begin(), slots.end(), [](const Slot& s) { return s.ended; }), slots.end());
  }
  for (Slot& s : slots)
    if (!s.ended) end(s, FinishReason::Cancelled, "the server is shutting down");
  std::lock_guard<std::mutex> lock(mutex_);
  fail_queued("the server is shutting down");
}

void InferenceLoop::admit(std::vector<Slot>& slots) {
  for (;;) {
    Slot slot;
    std::shared_ptr<Job> exclusive;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (queue_.empty()) return;
      // Those pre-empted go on first: a newcomer would take the room they wait for.
      if (std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return s.preempted; })) return;
      const Job& job = *queue_.front();
      if (job.strategy) {
        if (!slots.empty()) return;  // it waits for the engine to itself
        exclusive = queue_.front();
        queue_.pop_front();
      }
    }
    if (exclusive) {
      run_strategy_job(*exclusive);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const Job& job = *queue_.front();
      // A job takes a slot per choice; the first in line waits for room (no overtaking).
      if (!slots.empty() && static_cast<int32_t>(slots.size()) + job.n > options_.parallel) return;
      if (!job.cancelled && !job.prompt.empty()) {
        // The prompt's cached prefix, then room for the rest and one token per choice
        // (a sequence whose first write copies a shared, partly filled page needs that page).
        try {
          if (cache_ && !job.prompt_logprobs) {
            const PrefixMatch m = cache_->match(job.prompt);
            slot.seq = m.seq;
            slot.n_cached = m.n_cached;
          } else {
            slot.seq = engine_.new_sequence();
          }
        } catch (const std::exception&) {
          slot.seq = -1;  // reported below, as the room a lone request lacks
        }
        const int64_t partial = slot.n_cached % KvCache::kPageSize ? KvCache::kPageSize : 0;
        const int64_t needed = static_cast<int64_t>(job.prompt.size()) - slot.n_cached + job.n + partial;
        if (!slots.empty() && (slot.seq < 0 || engine_.free_positions() < needed)) {
          if (slot.seq >= 0) engine_.free_sequence(slot.seq);  // the cache keeps the prefix
          return;
        }
      }
      slot.job = queue_.front();
      queue_.pop_front();
    }
    if (slot.seq >= 0) ++active_;
    slot.forks_pending = slot.job->n > 1;
    const auto& prompt = slot.job->prompt;
    if (slot.job->cancelled) {
      end(slot, FinishReason::Cancelled, "");
      continue;
    }
    const int64_t to_read = static_cast<int64_t>(prompt.size()) - slot.n_cached;
    if (prompt.empty() || slot.seq < 0 || static_cast<int64_t>(prompt.size()) >= engine_.n_ctx() ||
        to_read + slot.job->n > engine_.free_positions()) {
      end(slot, FinishReason::None,
          "the prompt has " + std::to_string(prompt.size()) + " tokens; the context holds " +
              std::to_string(engine_.n_ctx()) + " positions and needs room for at least one more per choice");
      continue;
    }
    slot.n_fed = static_cast<size_t>(slot.n_cached);
    slot.tokens.reserve(static_cast<size_t>(
        std::min<int64_t>(engine_.n_ctx(), static_cast<int64_t>(prompt.size()) + std::max(slot.job->decode.max_tokens, 0))));
    slot.tokens.assign(prompt.begin(), prompt.begin() + slot.n_cached);
    try {
      slot.decoder = std::make_unique<SequenceDecoder>(engine_.tokenizer(), slot.job->decode);
    } catch (const std::exception& e) {
      end(slot, FinishReason::None, e.what());
      continue;
    }
    if (metrics_) metrics_->count_prompt_tokens(static_cast<int64_t>(prompt.size()), slot.n_cached);
    slots.push_back(std::move(slot));
  }
}

void InferenceLoop::run_strategy_job(Job& job) {
  JobEvent ev;
  ev.done = true;
  ev.n_prompt = static_cast<int32_t>(job.prompt.size());
  ++active_;
  if (job.cancelled) {
    ev.finish = FinishReason::Cancelled;
  } else if (job.prompt.empty() || ev.n_prompt >= engine_.n_ctx()) {
    ev.error = "the prompt has " + std::to_string(job.prompt.size()) + " tokens; the context holds " +
               std::to_string(engine_.n_ctx()) + " positions and needs room for at least one more";
  } else {
    StrategyOptions options = *job.strategy;
    // A client gone, or a shutdown, stops it between two batches.
    auto shutting_down = [this] {
      std::lock_guard<std::mutex> lock(mutex_);
      return stop_ || aborting_;
    };
    options.stop = [&job, shutting_down] { return job.cancelled.load() || shutting_down(); };
    try {
      auto result = std::make_shared<StrategyResult>(run_strategy(engine_, job.prompt, options, {}, cache_.get()));
      ev.text = result->text;
      ev.finish = result->finish;
      ev.n_cached = result->n_cached;
      ev.n_generated = result->n_generated;
      if (metrics_) {
        metrics_->count_prompt_tokens(ev.n_prompt, ev.n_cached);
        for (size_t s = 0; s < result->state_counts.size(); ++s)
          for (int32_t i = 0; i < result->state_counts[s]; ++i) metrics_->count_step(static_cast<State>(s), 1);
      }
      ev.strategy = std::move(result);
    } catch (const std::exception& e) {
      if (job.cancelled) ev.finish = FinishReason::Cancelled;
      else ev.error = shutting_down() ? "the server is shutting down" : e.what();
    }
  }
  free_pages_ = -1;
  --active_;
  ++completed_;
  if (job.cancelled) ++cancelled_;
  job.post(std::move(ev));
}

void InferenceLoop::publish_cache_stats() {
  if (!metrics_) return;
  PrefixCacheGauges g;
  g.enabled = cache_ != nullptr;
  if (cache_) {
    const PrefixCacheStats s = cache_->stats();
    g.pages = s.pages_held;
    g.bytes = static_cast<int64_t>(s.pages_held) * static_cast<int64_t>(engine_.kv_cache().page_bytes());
    g.nodes = s.nodes;
    g.evictions = s.evictions;
    g.pages_evicted = s.pages_evicted;
  }
  metrics_->set_prefix_cache(g);
}

namespace {

// The step's metrics and top alternatives (and, with `explain`, their ids and the rest mass).
TokenInfo measured_info(const Tokenizer& tok, const SampleOutcome& o, int32_t n_top, bool explain) {
  TokenInfo info;
  const int32_t n = std::min(n_top, o.n_alternatives);
  double listed = 0;
  for (int32_t i = 0; i < n; ++i) {
    const Alternative& a = o.alternatives[static_cast<size_t>(i)];
    info.top.emplace_back(tok.token_to_piece(a.id), a.prob > 0 ? std::log(a.prob) : -1e30);
    if (explain) info.top_ids.push_back(a.id);
    listed += a.prob;
  }
  info.rest_mass = std::max(0.0, 1.0 - listed);
  info.entropy = o.metrics.entropy;
  info.varentropy = o.metrics.varentropy;
  info.has_attention = o.metrics.has_attention;
  info.attn_entropy = o.metrics.attn_entropy;
  info.attn_varentropy = o.metrics.attn_varentropy;
  info.agreement = o.metrics.agreement;
  info.interaction = o.metrics.interaction;
  info.state = o.state;
  info.action = o.action;
  info.constrained = o.constrained;
  return info;
}

TokenInfo token_info(const Tokenizer& tok, const TokenEvent& ev, int32_t n_top, bool explain) {
  TokenInfo info = measured_info(tok, ev.outcome, n_top, explain);
  info.ids = ev.tokens;
  info.piece = ev.piece;
  info.inserted = ev.inserted;
  info.logprob = ev.inserted ? 0.0 : ev.outcome.logprob;
  return info;
}

}  // namespace

namespace {

// Positions a sequence can append within `pages` free pages: the rest of its last
// page (unless that is shared, and so copied first) and whole pages after it.
int64_t positions_within(const KvCache& kv, SeqId seq, int64_t pages) {
  constexpr int32_t P = KvCache::kPageSize;
  const int32_t len = kv.length(seq);
  const int64_t tail = len % P ? P - len % P : 0;
  const int64_t copy = kv.pages_to_append(seq, 1) - (len % P == 0 ? 1 : 0);
  if (pages < copy) return 0;
  return (pages - copy) * P + tail;
}

}  // namespace

void InferenceLoop::preempt(Slot& s) {
  if (!s.holds_kv() || s.tokens.empty()) return;  // a sequence without tokens holds no page
  try {
    if (cache_) cache_->retire(s.tokens, s.seq);
    else engine_.free_sequence(s.seq);
  } catch (const std::exception&) {
    // retire() frees the sequence whatever happens; the tokens are read again in full
  }
  s.seq = -1;
  --active_;
  free_pages_ = -1;
  s.replay.insert(s.replay.begin(), s.tokens.begin(), s.tokens.end());
  s.tokens.clear();
  s.preempted = true;
  s.row = -1;
  ++preemptions_;
}

bool InferenceLoop::resume(Slot& s, bool alone) {
  // Room for what it reads again and what it has sampled, and a page to grow into,
  // or it would be pre-empted again at once; a slot that runs alone takes what there is.
  const int64_t needed = static_cast<int64_t>(s.replay.size() + s.pending.size()) + 2 * KvCache::kPageSize;
  if (!alone && engine_.free_positions() < needed) return false;
  PrefixMatch m;
  try {
    if (cache_ && !s.replay.empty()) m = cache_->match(s.replay);
    else m.seq = engine_.new_sequence();
  } catch (const std::exception&) {
    return false;
  }
  s.seq = m.seq;
  ++active_;
  s.tokens.assign(s.replay.begin(), s.replay.begin() + m.n_cached);
  s.replay.erase(s.replay.begin(), s.replay.begin() + m.n_cached);
  s.preempted = false;
  return true;
}

// Makes room for `pages` pages by pre-empting the youngest slots after `from` that
// hold KV (the oldest keep going: first come, first served), as far as they can.
void InferenceLoop::make_room(std::vector<Slot>& slots, size_t from, int64_t pages) {
  for (size_t i = slots.size(); i-- > from + 1;) {
    if (engine_.free_positions() / KvCache::kPageSize >= pages) return;
    if (slots[i].holds_kv() && slots[i].row < 0) preempt(slots[i]);
  }
}

void InferenceLoop::step(std::vector<Slot>& slots) {
  batch_.clear();
  prefilling_.clear();
  int64_t rows = 0;
  KvCache& kv = engine_.kv_cache();
  StepReport report;
  for (Slot& s : slots) s.row = -1;
  // Those pre-empted come back, oldest first, when there is room; with none holding
  // KV the oldest comes back whatever the room, so that something always advances.
  const bool none_hold = std::none_of(slots.begin(), slots.end(), [](const Slot& s) { return s.holds_kv(); });
  bool first = true;
  for (Slot& s : slots) {
    if (!s.preempted || s.ended || s.job->cancelled) continue;
    if (!resume(s, none_hold && first)) break;
    first = false;
  }
  // Pages the cache can still give this step; each sequence takes its share in slot
  // order. Read afresh each time: a sequence that ends or is pre-empted gives pages back.
  int64_t taken = 0;
  free_pages_ = -1;
  const auto room = [&] {
    if (free_pages_ < 0) free_pages_ = std::max(engine_.free_positions(), 0) / KvCache::kPageSize;  // scans the cache
    return free_pages_ - taken;
  };
  // Decoding sequences first: each feeds the tokens it sampled, every step (or reads
  // again what a pre-emption dropped).
  for (size_t i = 0; i < slots.size(); ++i) {
    Slot& s = slots[i];
    if (s.ended) continue;
    if (s.job->cancelled) {
      end(s, FinishReason::Cancelled, "");
      continue;
    }
    if (s.preempted) continue;
    const bool replaying = !s.replay.empty();
    if (!replaying && s.n_fed < s.job->prompt.size()) {
      prefilling_.push_back(&s);
      continue;
    }
    const std::vector<int32_t>& feed = replaying ? s.replay : s.pending;
    const int64_t n = replaying ? std::min<int64_t>(static_cast<int64_t>(feed.size()), options_.prefill_chunk)
                                : static_cast<int64_t>(feed.size());
    if (engine_.seq_length(s.seq) + n > engine_.n_ctx()) {
      s.decoder->finish(FinishReason::Length);  // the sequence fills the whole context
      JobEvent ev;
      ev.text = s.decoder->take_text();
      end(s, FinishReason::Length, "", std::move(ev));
      continue;
    }
    const int64_t need = kv.pages_to_append(s.seq, static_cast<int32_t>(n));
    if (need > room()) {
      make_room(slots, i, need + taken);
      if (need > room()) {
        if (batch_.empty() && std::none_of(slots.begin(), slots.end(),
                                           [&](const Slot& o) { return &o != &s && o.holds_kv(); })) {
          // Alone and still no room: the context is full for it.
          s.decoder->finish(FinishReason::Length);
          JobEvent ev;
          ev.text = s.decoder->take_text();
          end(s, FinishReason::Length, "", std::move(ev));
        } else {
          preempt(s);  // older sequences take the room; this one waits for it
        }
        continue;
      }
    }
    for (int64_t j = 0; j < n; ++j)
      batch_.push_back({s.seq, feed[static_cast<size_t>(j)], !replaying && j + 1 == n});
    s.tokens.insert(s.tokens.end(), feed.begin(), feed.begin() + n);
    taken += need;
    if (replaying) {
      s.replay.erase(s.replay.begin(), s.replay.begin() + n);
      report.prompt_tokens += static_cast<int32_t>(n);
    } else {
      s.row = rows++;
      ++report.decoding;
    }
  }
  // Then the prompts, sharing the step's budget; the cache's room goes in slot order
  // (first come, first served), so that the earliest prompt can always complete.
  if (!prefilling_.empty()) {
    const size_t k = prefilling_.size();
    prompt_left_.resize(k);
    prompt_share_.resize(k);
    for (size_t i = 0; i < k; ++i)
      prompt_left_[i] = static_cast<int64_t>(prefilling_[i]->job->prompt.size() - prefilling_[i]->n_fed);
    const int64_t total = report.decoding > 0 ? options_.prefill_while_decoding : INT64_MAX;
    share_prefill(prompt_left_, options_.prefill_chunk, total, prefill_turn_++ % k, prompt_share_);
    for (size_t i = 0; i < k; ++i) {
      Slot& s = *prefilling_[i];
      const auto& prompt = s.job->prompt;
      const int64_t n = std::min(prompt_share_[i], positions_within(kv, s.seq, room()));
      if (n <= 0) continue;
      taken += kv.pages_to_append(s.seq, static_cast<int32_t>(n));
      // With prompt logprobs every position but the last keeps its row (the last one's
      // is the first step's, below).
      const bool each_row = s.job->prompt_logprobs;
      s.prompt_rows = 0;
      if (each_row) s.prompt_row = rows, s.prompt_at = s.n_fed;
      for (int64_t j = 0; j < n; ++j) {
        const size_t at = s.n_fed + static_cast<size_t>(j);
        const bool last = at + 1 == prompt.size();
        batch_.push_back({s.seq, prompt[at], last || each_row});
        s.tokens.push_back(prompt[at]);
        if (each_row && !last) ++s.prompt_rows, ++rows;
      }
      s.n_fed += static_cast<size_t>(n);
      report.prompt_tokens += static_cast<int32_t>(n);
      ++report.prefilling;
      if (s.n_fed == prompt.size()) s.row = rows++;
    }
  }
  if (batch_.empty()) {
    // Prompts that found no room: the youngest of those holding KV gives it up for the
    // oldest, which can always complete alone.
    Slot* youngest = nullptr;
    int holders = 0;
    for (Slot& s : slots)
      if (s.holds_kv() && !s.tokens.empty()) ++holders, youngest = &s;
    if (holders > 1) {
      preempt(*youngest);
      return;
    }
    if (std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return s.preempted && !s.ended; }) && holders == 0)
      return;  // they come back next step
    for (Slot& s : slots)
      if (!s.ended) end(s, FinishReason::None, "the context is full: no room for the prompt");
    return;
  }
  if (observer_) observer_(report);
  try {
    engine_.decode(batch_);
  } catch (const std::exception& e) {
    for (Slot& s : slots) {
      s.tokens.clear();  // what the failed decode wrote is not to be trusted: free without caching
      if (!s.ended) end(s, FinishReason::None, std::string("decoding failed: ") + e.what());
    }
    return;
  }
  std::vector<Slot> spawned;  // forks made this step (appended after the loop)
  for (Slot& s : slots) {
    if (!s.ended && s.prompt_rows > 0) report_prompt_rows(s);
    if (s.ended || s.row < 0) continue;
    if (s.forks_pending) {
      // The prompt is in the cache: fork it once per further choice; each samples
      // its first token from the same logits row with its own random stream.
      s.forks_pending = false;
      for (int32_t i = 1; i < s.job->n; ++i) {
        Slot child;
        child.job = s.job;
        child.choice = i;
        child.n_fed = s.n_fed;
        child.n_cached = s.n_cached;
        child.tokens = s.tokens;
        child.row = s.row;
        try {
          child.decoder = s.decoder->fork(static_cast<uint64_t>(i));
          child.seq = engine_.fork(s.seq);
          ++active_;
        } catch (const std::exception& e) {
          end(child, FinishReason::None, std::string("forking the prompt failed: ") + e.what());
          continue;
        }
        sample(child);
        spawned.push_back(std::move(child));
      }
    }
    sample(s);
  }
  for (Slot& c : spawned) slots.push_back(std::move(c));
}

void InferenceLoop::sample(Slot& s) {
  if (s.ended) return;
  try {
    Job& job = *s.job;
    const int32_t forced = s.choice == 0 && s.n_forced < job.forced.size() ? job.forced[s.n_forced++] : -1;
    TokenEvent ev = step_on_row(engine_, static_cast<size_t>(s.row), *s.decoder, analyzer_, forced);
    if (metrics_) {
      metrics_->count_step(ev.outcome.state, static_cast<int64_t>(ev.tokens.size()));
      if (!job.first_token_seen_) {
        job.first_token_seen_ = true;
        metrics_->observe_time_to_first_token(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - job.submitted_).count());
      }
    }
    JobEvent out;
    out.index = s.choice;
    if (!ev.end_of_text) {
      TokenInfo info = token_info(engine_.tokenizer(), ev, job.n_top, job.explain);
      info.forced = forced >= 0;
      if (job.explain) {
        if (auto q = sampled_probabilities(engine_.logits(static_cast<size_t>(s.row)), ev.outcome, info.top_ids,
                                           explain_sampler_))
          info.top_q = std::move(*q);
      }
      out.tokens.push_back(std::move(info));
    }
    s.pending = std::move(ev.tokens);
    out.text = s.decoder->take_text();
    if (s.decoder->finished()) end(s, s.decoder->finish_reason(), "", std::move(out));
    else job.post(std::move(out));
  } catch (const std::exception& e) {
    end(s, FinishReason::None, std::string("sampling failed: ") + e.what());
  }
}

void InferenceLoop::report_prompt_rows(Slot& s) {
  const Job& job = *s.job;
  const Tokenizer& tok = engine_.tokenizer();
  JobEvent out;
  out.index = s.choice;
  try {
    for (size_t i = 0; i < s.prompt_rows; ++i) {
      const std::span<const float> logits = engine_.logits(static_cast<size_t>(s.prompt_row) + i);
      const int32_t next = job.prompt[s.prompt_at + i + 1];  // the token this row predicts
      SampleOutcome o;
      const LogitMetrics lm = analyze_step(logits, nullptr, job.n_top, prompt_scratch_, o);
      o.state = classify(o.metrics, job.decode.profile);
      o.action = Action::Standard;
      TokenInfo info = measured_info(tok, o, job.n_top, job.explain);
      info.ids = {next};
      info.piece = tok.token_to_piece(next);
      info.logprob = lm.logprob(logits, next);
      out.prompt.push_back(std::move(info));
    }
  } catch (const std::exception& e) {
    end(s, FinishReason::None, std::string("measuring the prompt failed: ") + e.what());
    return;
  }
  s.prompt_rows = 0;
  s.job->post(std::move(out));
}

void InferenceLoop::end(Slot& slot, FinishReason reason, const std::string& error, JobEvent ev) {
  Job& job = *slot.job;
  ev.index = slot.choice;
  ev.done = true;
  ev.finish = reason;
  ev.error = error;
  ev.n_prompt = static_cast<int32_t>(job.prompt.size());
  ev.n_cached = slot.n_cached;
  ev.n_generated = slot.decoder ? slot.decoder->n_generated() : 0;
  if (slot.seq >= 0) {
    try {
      if (cache_) cache_->retire(slot.tokens, slot.seq);
      else engine_.free_sequence(slot.seq);
    } catch (const std::exception&) {
      // retire() frees the sequence whatever happens; the answer stands without its cache entry
    }
    slot.seq = -1;
    --active_;  // before the event: a client that sees the end sees the slot free
    free_pages_ = -1;
  }
  slot.ended = true;
  // A first choice that ends before its prompt was forked ends the choices never born.
  job.choices_open_ -= slot.forks_pending ? job.n : 1;
  if (job.choices_open_ <= 0) {
    ++completed_;
    if (job.cancelled) ++cancelled_;
  }
  job.post(std::move(ev));
}

}  // namespace entropix::server
