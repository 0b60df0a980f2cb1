// The one thread that owns the Engine and decodes every active request together
// (continuous batching). Each iteration gathers the pending tokens of all active
// requests (the tokens sampled last step, and chunks of the prompts still to feed,
// kept small while others stream: see LoopOptions) into one engine.decode() call,
// then steps each request's SequenceDecoder on its logits row and posts the result
// to the request's channel. HTTP handlers only submit native Jobs and read their
// channels; nothing else touches the engine. The loop also owns the engine's prefix
// cache: a request takes the longest cached prefix of its prompt and reads the rest,
// and each finished choice leaves the tokens in its KV (prompt and answer) there.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "decoding/decode_options.h"
#include "decoding/sequence_decoder.h"
#include "decoding/strategy.h"
#include "entropix/metrics.h"
#include "entropix/policy.h"
#include "entropix/token_sampler.h"
#include "model/engine.h"
#include "model/prefix_cache.h"
#include "server/metrics.h"

namespace entropix::server {

// One step of one request: the tokens appended and what the sampler saw.
struct TokenInfo {
  std::vector<int32_t> ids;  // the appended token(s): the sampled one, or the inserted thinking text's
  std::string piece;        // bytes of the appended token(s); may hold part of a UTF-8 character
  bool inserted = false;    // thinking text inserted by the policy (no logprob of its own)
  bool forced = false;      // a token the job forced (Job::forced) instead of a draw
  double logprob = 0;       // natural log of the chosen token's probability (0 when inserted)
  std::vector<std::pair<std::string, double>> top;  // most probable tokens: piece, natural logprob
  // With Job::explain: the ids of `top`, and their probabilities under the step's
  // draw (sampled_probabilities; empty when nothing was drawn); rest_mass is the raw
  // probability outside `top`.
  std::vector<int32_t> top_ids;
  std::vector<double> top_q;
  double rest_mass = 0;
  double entropy = 0;       // bits
  double varentropy = 0;    // bits^2
  bool has_attention = false;  // the step's attention metrics were measured (the sampler reads them)
  double attn_entropy = 0, attn_varentropy = 0, agreement = 0, interaction = 0;  // as in TokenMetrics
  State state = State::Adaptive;
  Action action = Action::Standard;
  // Under a grammar, the allowed tokens' distribution the token was drawn from
  // (logprob, entropy and varentropy above stay the model's own); active false otherwise.
  ConstrainedStep constrained;
};

// What the loop posts to a request: new text and tokens of one choice, and once
// per choice, its end.
struct JobEvent {
  int32_t index = 0;              // the choice: Job::first_choice + (0..n-1)
  std::string text;               // newly released text (whole characters, no stop-string prefix)
  std::vector<TokenInfo> tokens;  // the steps that produced it
  // With Job::prompt_logprobs, in the events before the first token (one per chunk of
  // the prompt read): the prompt's tokens from the second on, in order, each measured
  // on the logits of the position before it.
  std::vector<TokenInfo> prompt;
  bool done = false;              // this choice ended
  FinishReason finish = FinishReason::None;
  std::string error;              // set when the request failed (done is then true; no more events follow)
  int32_t n_prompt = 0;           // with done: prompt tokens
  int32_t n_cached = 0;           // with done: of them, taken from the prefix cache (not read again)
  int32_t n_generated = 0;        // with done: tokens generated for this choice (inserted thinking included)
  // With done, for a Job::strategy: the whole result (text holds the chosen answer, tokens is empty).
  std::shared_ptr<const StrategyResult> strategy;
};

// The channel from the loop to a handler: the events of a request's jobs, in the
// order they were posted. The jobs of one request share one (a completions request
// with an array of prompts is a job per prompt).
class JobChannel {
 public:
  void post(JobEvent ev);
  // Waits up to `timeout` for events; returns those pending (possibly none).
  std::vector<JobEvent> wait(std::chrono::milliseconds timeout);

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<JobEvent> events_;
};

// A request as the loop sees it: tokens and options, parsed and checked by the handler.
// With n > 1 the prompt is prefilled once and forked into n sequences sharing its
// cache; choice 0 draws from decode.seed, choice i from a stream forked from it.
struct Job {
  std::vector<int32_t> prompt;
  DecodeOptions decode;
  int32_t n = 1;      // choices (1..LoopOptions::parallel)
  int32_t n_top = 0;  // alternatives to report per token (0..kMaxAlternatives)
  // Tokens taken, in order, in place of the first draws; each is still measured as
  // a step (metrics, alternatives). decode.max_tokens counts them. Choice 0 only.
  std::vector<int32_t> forced;
  bool explain = false;          // TokenInfo::top_ids, top_q and rest_mass on every token
  bool prompt_logprobs = false;  // JobEvent::prompt; the prompt is then read whole (not from the cache)
  // A decoding strategy over several paths of the prompt (n 1, no forced tokens). It
  // takes the engine alone: it waits until the sequences decoding before it ended,
  // and those after it wait for its answer, posted as one event.
  std::shared_ptr<const StrategyOptions> strategy;

  std::atomic<bool> cancelled{false};  // set by the handler when the client is gone

  // Where its events go (its own unless the handler shares one among several jobs),
  // and the index its choice 0 has there: post() numbers choice i first_choice + i.
  std::shared_ptr<JobChannel> channel = std::make_shared<JobChannel>();
  int32_t first_choice = 0;

  void post(JobEvent ev);
  std::vector<JobEvent> wait(std::chrono::milliseconds timeout) { return channel->wait(timeout); }

 private:
  friend class InferenceLoop;
  // Loop thread only.
  int32_t choices_open_ = 0;  // choices not yet ended
  bool first_token_seen_ = false;
  std::chrono::steady_clock::time_point submitted_;
};

struct LoopOptions {
  int32_t parallel = 4;        // sequences (choices of requests) decoded together at most
  int32_t max_queue = 64;      // requests waiting for a slot at most (then submit() refuses)
  int32_t prefill_chunk = 128; // prompt tokens of one request per iteration at most
  // Prompt tokens of all requests together per iteration at most while any other
  // sequence decodes (vLLM's chunked-prefill token budget): every stream waits for
  // the whole iteration between two of its tokens, and on a CPU each prompt token
  // adds a generated token's compute to it. Prompts share it evenly; with nothing
  // decoding each prompt feeds up to prefill_chunk, so an idle server prefills at
  // full speed. 8 because on a 1B Q8_0 model with 2 threads (76 ms a token, 40 ms
  // a prompt token) a 256-token prompt then pauses a stream for 0.44 s at most
  // instead of 4.8 s, and is itself prefilled at about 80% of its idle speed
  // (tools/bench_server.py --gap-only).
  int32_t prefill_while_decoding = 8;
  // Keep the KV of finished prompts and answers in a prefix cache (model/prefix_cache.h),
  // so that a request starting with text already read (a system prompt, the previous
  // turns of a chat, a repeated prompt) reads only the rest.
  bool prefix_cache = true;
  int64_t cache_ram_mib = 0;  // memory the prefix cache keeps at most after a request ends, MiB (0: the whole KV cache)
};

// What one iteration put into engine.decode(), for tests and tracing.
struct StepReport {
  int32_t prompt_tokens = 0;  // prompt tokens, all prefilling sequences together
  int32_t prefilling = 0;     // sequences that fed prompt tokens
  int32_t decoding = 0;       // sequences that fed the tokens they sampled last step
};
using StepObserver = std::function<void(const StepReport&)>;

struct LoopStats {
  int64_t completed = 0;  // jobs that ended (any reason, errors included): a request, or a prompt of an array
  int64_t cancelled = 0;  // jobs dropped because the client went away
  int32_t active = 0;     // sequences being decoded now (a request with n choices holds n)
  int32_t queued = 0;     // requests waiting for a slot
  int64_t preemptions = 0;  // sequences that gave up their KV for older ones and read it again later
};

class InferenceLoop {
 public:
  // `metrics`, when given, receives token counts, states and first-token times;
  // `observer`, when given, is called on the loop thread before each engine.decode().
  InferenceLoop(Engine& engine, const LoopOptions& options, Metrics* metrics = nullptr,
                StepObserver observer = {});
  ~InferenceLoop();  // stops the thread; pending jobs end with an error event
  InferenceLoop(const InferenceLoop&) = delete;
  InferenceLoop& operator=(const InferenceLoop&) = delete;

  enum class Submit { Queued, QueueFull, Stopped };
  // Queues a job (job->n must be 1..options().parallel).
  Submit submit(std::shared_ptr<Job> job);
  // Queues the jobs of one request, in order, all or none: they are refused only when
  // the queue is already full, so that a request's prompts queue together (and, with
  // room in the loop, are admitted together and decoded in the same batches).
  Submit submit_all(const std::vector<std::shared_ptr<Job>>& jobs);
  // Ends every request, decoding or queued, with an error, and refuses new ones
  // (a shutdown whose grace period ran out).
  void abort_all();
  LoopStats stats() const;
  const Engine& engine() const { return engine_; }
  const LoopOptions& options() const { return options_; }

 private:
  struct Slot;
  void run();
  void admit(std::vector<Slot>& slots);
  void step(std::vector<Slot>& slots);
  // Gives up the slot's KV (to the prefix cache) to read its tokens again later.
  void preempt(Slot& slot);
  // Takes a pre-empted slot back when there is room (whatever there is when `alone`).
  bool resume(Slot& slot, bool alone);
  void make_room(std::vector<Slot>& slots, size_t from, int64_t pages);
  void run_strategy_job(Job& job);  // a Job::strategy, alone on the engine
  void sample(Slot& slot);  // steps the decoder on the slot's logits row, posts the result
  void report_prompt_rows(Slot& slot);  // posts the prompt positions measured in the last decode()
  // Ends a choice: its sequence goes to the prefix cache (the tokens in its KV) or is freed.
  void end(Slot& slot, FinishReason reason, const std::string& error, JobEvent ev = {});
  void publish_cache_stats();
  void fail_queued(const std::string& error);  // with mutex_ held

  Engine& engine_;
  LoopOptions options_;
  Metrics* metrics_;
  StepObserver observer_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stop_ = false;
  bool aborting_ = false;  // abort_all() was called
  std::atomic<int64_t> completed_{0}, cancelled_{0};
  std::atomic<int32_t> active_{0};
  std::atomic<int64_t> preemptions_{0};
  // Used by the loop thread only.
  std::unique_ptr<PrefixCache> cache_;    // null with options.prefix_cache off; before the thread, after the engine
  AttentionAnalyzer analyzer_;
  Sampler explain_sampler_;               // scratch for Job::explain's sampler probabilities
  std::vector<Candidate> prompt_scratch_; // scratch for the prompt's alternatives
  std::vector<BatchToken> batch_;         // the tokens of one engine.decode()
  std::vector<Slot*> prefilling_;         // slots still feeding their prompt this step
  std::vector<int64_t> prompt_left_;      // [prefilling_.size()] prompt tokens not yet fed
  std::vector<int64_t> prompt_share_;     // [prefilling_.size()] prompt tokens fed this step
  int64_t free_pages_ = -1;               // step(): pages free now, -1 once a sequence gave some back
  size_t prefill_turn_ = 0;               // rotates the first in line for tokens an even split leaves over
  std::thread thread_;
};

}  // namespace entropix::server
