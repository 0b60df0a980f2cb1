#include "server/inference_loop.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include "core/error.h"
#include "entropix/metrics.h"
#include "tokenizer/tokenizer.h"

namespace entropix::server {

void Job::post(JobEvent ev) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(std::move(ev));
  }
  cv_.notify_all();
}

std::vector<JobEvent> Job::wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait_for(lock, timeout, [&] { return !events_.empty(); });
  std::vector<JobEvent> out(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

struct InferenceLoop::Slot {
  std::shared_ptr<Job> job;
  SeqId seq = -1;
  std::unique_ptr<SequenceDecoder> decoder;
  size_t n_fed = 0;              // prompt tokens already decoded
  std::vector<int32_t> pending;  // sampled tokens still to decode
  int64_t row = -1;              // logits row in the last decode(), -1 when none
  bool ended = false;
};

InferenceLoop::InferenceLoop(Engine& engine, const LoopOptions& options) : engine_(engine), options_(options) {
  if (options_.parallel < 1) throw Error("parallel requests: expected at least 1, got " + std::to_string(options_.parallel));
  if (options_.prefill_chunk < 1) options_.prefill_chunk = 1;
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

bool InferenceLoop::submit(std::shared_ptr<Job> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stop_ || static_cast<int32_t>(queue_.size()) >= options_.max_queue) return false;
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
  return true;
}

LoopStats InferenceLoop::stats() const {
  LoopStats s;
  s.completed = completed_.load();
  s.cancelled = cancelled_.load();
  s.active = active_.load();
  std::lock_guard<std::mutex> lock(mutex_);
  s.queued = static_cast<int32_t>(queue_.size());
  return s;
}

void InferenceLoop::run() {
  std::vector<Slot> slots;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty() || !slots.empty(); });
      if (stop_) break;
    }
    admit(slots);
    step(slots);
    slots.erase(std::remove_if(slots.begin(), slots.end(), [](const Slot& s) { return s.ended; }), slots.end());
  }
  for (Slot& s : slots) end(s, FinishReason::Cancelled, "the server is shutting down");
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& job : queue_) {
    JobEvent ev;
    ev.done = true;
    ev.error = "the server is shutting down";
    job->post(std::move(ev));
  }
  queue_.clear();
}

void InferenceLoop::admit(std::vector<Slot>& slots) {
  while (static_cast<int32_t>(slots.size()) < options_.parallel) {
    std::shared_ptr<Job> job;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (queue_.empty()) return;
      job = queue_.front();
      const size_t needed = job->prompt.size() + 1;
      if (!slots.empty() && static_cast<size_t>(std::max(engine_.free_positions(), 0)) < needed) return;  // wait
      queue_.pop_front();
    }
    Slot slot;
    slot.job = std::move(job);
    const auto& prompt = slot.job->prompt;
    if (slot.job->cancelled) {
      ++cancelled_;
      end(slot, FinishReason::Cancelled, "");
      continue;
    }
    if (prompt.empty() || static_cast<int64_t>(prompt.size()) >= engine_.n_ctx() ||
        static_cast<int64_t>(prompt.size()) + 1 > engine_.free_positions()) {
      end(slot, FinishReason::None,
          "the prompt has " + std::to_string(prompt.size()) + " tokens; the context holds " +
              std::to_string(engine_.n_ctx()) + " positions and needs room for at least one more");
      continue;
    }
    try {
      slot.decoder = std::make_unique<SequenceDecoder>(engine_.tokenizer(), slot.job->decode);
      slot.seq = engine_.new_sequence();
      ++active_;
    } catch (const std::exception& e) {
      end(slot, FinishReason::None, e.what());
      continue;
    }
    slots.push_back(std::move(slot));
  }
}

namespace {

TokenInfo token_info(const Tokenizer& tok, const TokenEvent& ev, int32_t n_top) {
  TokenInfo info;
  info.piece = ev.piece;
  info.inserted = ev.inserted;
  const SampleOutcome& o = ev.outcome;
  info.logprob = ev.inserted ? 0.0 : o.logprob;
  const int32_t n = std::min(n_top, o.n_alternatives);
  for (int32_t i = 0; i < n; ++i) {
    const Alternative& a = o.alternatives[static_cast<size_t>(i)];
    info.top.emplace_back(tok.token_to_piece(a.id), a.prob > 0 ? std::log(a.prob) : -1e30);
  }
  info.entropy = o.metrics.entropy;
  info.varentropy = o.metrics.varentropy;
  info.state = o.state;
  info.action = o.action;
  return info;
}

}  // namespace

void InferenceLoop::step(std::vector<Slot>& slots) {
  std::vector<BatchToken> batch;
  int64_t rows = 0;
  int64_t budget = std::max(engine_.free_positions(), 0);
  for (Slot& s : slots) {
    s.row = -1;
    if (s.job->cancelled) {
      ++cancelled_;
      end(s, FinishReason::Cancelled, "");
      continue;
    }
    const auto& prompt = s.job->prompt;
    if (s.n_fed < prompt.size()) {
      const int64_t n = std::min<int64_t>({options_.prefill_chunk, static_cast<int64_t>(prompt.size() - s.n_fed), budget});
      for (int64_t i = 0; i < n; ++i) {
        const size_t at = s.n_fed + static_cast<size_t>(i);
        batch.push_back({s.seq, prompt[at], at + 1 == prompt.size()});
      }
      s.n_fed += static_cast<size_t>(n);
      budget -= n;
      if (n > 0 && s.n_fed == prompt.size()) s.row = rows++;
      continue;
    }
    const int64_t n = static_cast<int64_t>(s.pending.size());
    if (n > budget || engine_.seq_length(s.seq) + n > engine_.n_ctx()) {
      s.decoder->finish(FinishReason::Length);  // the context is full
      JobEvent ev;
      ev.text = s.decoder->take_text();
      end(s, FinishReason::Length, "", std::move(ev));
      continue;
    }
    for (int64_t i = 0; i < n; ++i) batch.push_back({s.seq, s.pending[static_cast<size_t>(i)], i + 1 == n});
    budget -= n;
    s.row = rows++;
  }
  if (batch.empty()) {
    // Only prompts that found no room are left and nothing else can free it.
    for (Slot& s : slots)
      if (!s.ended) end(s, FinishReason::None, "the context is full: no room for the prompt");
    return;
  }
  try {
    engine_.decode(batch);
  } catch (const std::exception& e) {
    for (Slot& s : slots)
      if (!s.ended) end(s, FinishReason::None, std::string("decoding failed: ") + e.what());
    return;
  }
  const Tokenizer& tok = engine_.tokenizer();
  for (Slot& s : slots) {
    if (s.ended || s.row < 0) continue;
    try {
      AttentionMetrics attn;
      const AttentionMetrics* attn_ptr = nullptr;
      if (s.decoder->wants_attention() && engine_.options().attention_scores) {
        AttentionScores scores = engine_.attention_scores(static_cast<size_t>(s.row));
        attn = analyzer_.compute(scores.scores, scores.n_head, scores.n_pos);
        attn_ptr = &attn;
      }
      TokenEvent ev = s.decoder->step(engine_.logits(static_cast<size_t>(s.row)), attn_ptr);
      JobEvent out;
      if (!ev.end_of_text) out.tokens.push_back(token_info(tok, ev, s.job->n_top));
      s.pending = std::move(ev.tokens);
      out.text = s.decoder->take_text();
      if (s.decoder->finished()) end(s, s.decoder->finish_reason(), "", std::move(out));
      else s.job->post(std::move(out));
    } catch (const std::exception& e) {
      end(s, FinishReason::None, std::string("sampling failed: ") + e.what());
    }
  }
}

void InferenceLoop::end(Slot& slot, FinishReason reason, const std::string& error, JobEvent ev) {
  ev.done = true;
  ev.finish = reason;
  ev.error = error;
  ev.n_prompt = static_cast<int32_t>(slot.job->prompt.size());
  ev.n_generated = slot.decoder ? slot.decoder->n_generated() : 0;
  if (slot.seq >= 0) {
    engine_.free_sequence(slot.seq);
    slot.seq = -1;
    --active_;  // before the event: a client that sees the end sees the slot free
  }
  slot.ended = true;
  ++completed_;
  slot.job->post(std::move(ev));
}

}  // namespace entropix::server
