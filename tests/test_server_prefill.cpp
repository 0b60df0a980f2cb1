// Chunked prefill in the inference loop: while a sequence decodes, the prompt
// tokens of one step are bounded by prefill_while_decoding and shared evenly
// among the waiting prompts, and the decoding stream gets a token every step;
// an idle loop feeds whole chunks. Checked step by step through the loop's
// StepObserver (no timing), and against lone greedy runs (same text).
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include "server/inference_loop.h"
#include "server/prefill_share.h"
#include "server_fixture.h"
#include "tokenizer/tokenizer.h"

using namespace entropix;
using namespace entropix::server;
using namespace entropix::testing;

namespace {

std::vector<int64_t> share(std::vector<int64_t> remaining, int64_t per_seq, int64_t total, size_t first = 0) {
  std::vector<int64_t> out(remaining.size(), -1);
  share_prefill(remaining, per_seq, total, first, out);
  return out;
}

using V = std::vector<int64_t>;

TEST(SharePrefill, Table) {
  EXPECT_EQ(share({}, 128, 16), V{});
  EXPECT_EQ(share({300}, 128, INT64_MAX), V{128});    // idle: a whole chunk
  EXPECT_EQ(share({300, 40}, 128, INT64_MAX), (V{128, 40}));
  EXPECT_EQ(share({300}, 128, 16), V{16});            // while decoding: the budget
  EXPECT_EQ(share({5}, 128, 16), V{5});               // no more than the prompt has
  EXPECT_EQ(share({300, 300}, 128, 16), (V{8, 8}));   // shared evenly
  EXPECT_EQ(share({300, 3, 300}, 128, 16), (V{7, 3, 6}));     // a short prompt's rest goes to the others
  EXPECT_EQ(share({300, 3, 300}, 128, 16, 2), (V{6, 3, 7}));  // the odd token rotates
  EXPECT_EQ(share({300, 300, 300}, 128, 2, 0), (V{1, 1, 0})); // fewer tokens than prompts: turns
  EXPECT_EQ(share({300, 300, 300}, 128, 2, 2), (V{1, 0, 1}));
  EXPECT_EQ(share({300, 300}, 4, 16), (V{4, 4}));     // per-sequence cap under the budget
  EXPECT_EQ(share({0, 9}, 128, 16), (V{0, 9}));
  EXPECT_EQ(share({9, 9}, 128, 0), (V{0, 0}));
}

// Over many steps no prompt waits forever and the budget is used whenever it can be.
TEST(SharePrefill, RotatingFirstGivesEveryPromptItsTurn) {
  for (int64_t budget : {1, 2, 5, 16}) {
    std::vector<int64_t> left = {50, 7, 50, 31};
    std::vector<int64_t> steps_to_finish(left.size(), 0);
    for (size_t step = 0; std::accumulate(left.begin(), left.end(), int64_t{0}) > 0; ++step) {
      std::vector<int64_t> out(left.size());
      share_prefill(left, 128, budget, step % left.size(), out);
      const int64_t fed = std::accumulate(out.begin(), out.end(), int64_t{0});
      EXPECT_EQ(fed, std::min(budget, std::accumulate(left.begin(), left.end(), int64_t{0})));
      for (size_t i = 0; i < left.size(); ++i) {
        left[i] -= out[i];
        ASSERT_GE(left[i], 0);
        if (out[i] > 0 && left[i] == 0) steps_to_finish[i] = static_cast<int64_t>(step) + 1;
      }
      ASSERT_LT(step, 1000u) << "budget " << budget;
    }
    // The shortest prompt finishes first: it is not held behind the long ones.
    EXPECT_LT(steps_to_finish[1], steps_to_finish[3]) << "budget " << budget;
    EXPECT_LT(steps_to_finish[3], steps_to_finish[0]) << "budget " << budget;
  }
}

// The loop with a recording observer.
struct Recorder {
  std::mutex mutex;
  std::vector<StepReport> steps;
  StepObserver observer() {
    return [this](const StepReport& r) {
      std::lock_guard<std::mutex> lock(mutex);
      steps.push_back(r);
    };
  }
  std::vector<StepReport> snapshot() {
    std::lock_guard<std::mutex> lock(mutex);
    return steps;
  }
};

std::shared_ptr<Job> greedy_job(std::vector<int32_t> prompt, int32_t max_tokens, bool ignore_eos = true) {
  auto job = std::make_shared<Job>();
  job->prompt = std::move(prompt);
  job->decode.sampler = SamplerKind::Greedy;
  job->decode.ignore_eos = ignore_eos;
  job->decode.max_tokens = max_tokens;
  return job;
}

// A job's events until it is done; `tokens` counts the events that carried a token.
struct Collected {
  std::string text;
  int32_t tokens = 0;
  JobEvent last;
};

void collect(Job& job, Collected& c, bool until_first_token = false) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!c.last.done && std::chrono::steady_clock::now() < deadline) {
    for (JobEvent& ev : job.wait(std::chrono::milliseconds(50))) {
      c.text += ev.text;
      c.tokens += static_cast<int32_t>(ev.tokens.size());
      c.last = std::move(ev);
    }
    if (until_first_token && c.tokens > 0) return;
  }
  ASSERT_TRUE(c.last.done || (until_first_token && c.tokens > 0)) << "the job did not finish in time";
  if (c.last.done) {
    ASSERT_EQ(c.last.error, "");
  }
}

std::string lone_greedy(Engine& engine, const std::vector<int32_t>& prompt, int32_t max_tokens) {
  InferenceLoop loop(engine, LoopOptions{});
  auto job = greedy_job(prompt, max_tokens);
  EXPECT_EQ(loop.submit(job), InferenceLoop::Submit::Queued);
  Collected c;
  collect(*job, c);
  return c.text;
}

std::vector<int32_t> long_prompt(const Engine& engine, int copies) {
  std::string text;
  for (int i = 0; i < copies; ++i) text += kArithmeticPrompt + std::string(" 19\n");
  return engine.tokenizer().encode(text, true, false);
}

TEST(ChunkedPrefill, IdleLoopFeedsWholeChunks) {
  auto engine = load_demo_engine();
  Recorder rec;
  LoopOptions o;
  o.prefill_chunk = 32;
  o.prefill_while_decoding = 4;
  InferenceLoop loop(*engine, o, nullptr, rec.observer());
  const std::vector<int32_t> prompt = long_prompt(*engine, 3);
  ASSERT_GT(prompt.size(), 64u);
  auto job = greedy_job(prompt, 2);
  ASSERT_EQ(loop.submit(job), InferenceLoop::Submit::Queued);
  Collected c;
  collect(*job, c);
  const std::vector<StepReport> steps = rec.snapshot();
  const size_t chunks = (prompt.size() + 31) / 32;
  ASSERT_EQ(steps.size(), chunks + 1);  // the prompt, then the one decode step of the second token
  for (size_t i = 0; i + 1 < chunks; ++i) EXPECT_EQ(steps[i].prompt_tokens, 32) << i;
  EXPECT_EQ(steps[chunks - 1].prompt_tokens, static_cast<int32_t>(prompt.size() - (chunks - 1) * 32));
  EXPECT_EQ(steps[chunks].decoding, 1);
}

// A long prompt arrives while a stream decodes: each step feeds at most the budget,
// the stream gets a token in every step, and both texts are those of lone runs.
TEST(ChunkedPrefill, StreamGetsATokenEveryStepWhileALongPromptPrefills) {
  auto engine = load_demo_engine();
  const std::vector<int32_t> stream_prompt = engine->tokenizer().encode(kArithmeticPrompt, true, false);
  const std::vector<int32_t> long_one = long_prompt(*engine, 4);
  constexpr int32_t kBudget = 3;
  constexpr int32_t kLongTokens = 6;
  const std::string stream_alone = lone_greedy(*engine, stream_prompt, 1000);
  const std::string long_alone = lone_greedy(*engine, long_one, kLongTokens);

  Recorder rec;
  LoopOptions o;
  o.prefill_while_decoding = kBudget;
  InferenceLoop loop(*engine, o, nullptr, rec.observer());
  auto stream = greedy_job(stream_prompt, 1000);
  ASSERT_EQ(loop.submit(stream), InferenceLoop::Submit::Queued);
  Collected s;
  collect(*stream, s, true);  // decoding now
  auto long_job = greedy_job(long_one, kLongTokens);
  ASSERT_EQ(loop.submit(long_job), InferenceLoop::Submit::Queued);
  Collected l;
  collect(*long_job, l);
  stream->cancelled = true;
  collect(*stream, s);

  EXPECT_EQ(l.text, long_alone);
  EXPECT_EQ(stream_alone.rfind(s.text, 0), 0u) << "the stream's text is a prefix of its lone run";
  const std::vector<StepReport> steps = rec.snapshot();
  int32_t decode_steps = 0, shared_steps = 0, prompt_total = 0, idle_steps = 0;
  for (const StepReport& r : steps) {
    if (r.decoding == 0) ++idle_steps;
    if (r.decoding > 0) {
      ++decode_steps;
      EXPECT_LE(r.prompt_tokens, kBudget);
    }
    if (r.decoding > 0 && r.prompt_tokens > 0) ++shared_steps;
    prompt_total += r.prompt_tokens;
  }
  EXPECT_EQ(prompt_total, static_cast<int32_t>(stream_prompt.size() + long_one.size()));
  EXPECT_GE(shared_steps, static_cast<int32_t>((long_one.size() + kBudget - 1) / kBudget));
  EXPECT_EQ(idle_steps, 1);  // the stream's own prompt, fed whole
  // One token from the step that finished its prompt, then one in every later step
  // (the long job only ever decodes alongside it).
  EXPECT_EQ(s.tokens, 1 + decode_steps);
}

}  // namespace
