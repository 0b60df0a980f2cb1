// An array of prompts on /v1/completions (what LangChain's OpenAI.generate sends):
// n choices per prompt, numbered prompt * n + i as OpenAI numbers them, each the
// same, token for token, as the prompt sent alone; streamed too; usage summed; the
// prompts queued together and decoded in the same batches.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "server/inference_loop.h"
#include "server_fixture.h"
#include "tokenizer/tokenizer.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::server;
using namespace entropix::testing;

namespace {

const std::vector<std::string> kPrompts = {kArithmeticPrompt, "Q: Tom has 3 pens and buys 4 more. How many pens?\nA:",
                                           "Once upon a time, a little fox"};

server::ServerOptions prompt_server_options() {
  server::ServerOptions o = demo_server_options();
  o.limits.max_prompts = 6;
  o.limits.max_choices = 8;
  return o;
}

class ServerPrompts : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<DemoServer>(prompt_server_options()); }
  static void TearDownTestSuite() { server_.reset(); }
  static std::unique_ptr<DemoServer> server_;
};
std::unique_ptr<DemoServer> ServerPrompts::server_;

// Each generated token's ids, per choice.
std::vector<std::vector<int32_t>> choice_ids(const json& response) {
  std::vector<std::vector<int32_t>> out;
  for (const json& c : response["choices"]) {
    std::vector<int32_t> ids;
    for (const json& t : c["entropix"])
      for (const json& id : t["ids"]) ids.push_back(id.get<int32_t>());
    out.push_back(std::move(ids));
  }
  return out;
}

// The request with `prompt` in place of the array, as a client would send it alone.
json alone(json body, const json& prompt) {
  body["prompt"] = prompt;
  return body;
}

// Each choice of `together` equals, token for token, choice i of prompt p sent alone.
void expect_as_alone(const DemoServer& s, const json& body, const json& together) {
  const size_t n = body.value("n", 1);
  const size_t k = body["prompt"].size();
  ASSERT_EQ(together["choices"].size(), k * n) << together;
  const auto ids = choice_ids(together);
  int prompt_tokens = 0, completion_tokens = 0;
  for (size_t p = 0; p < k; ++p) {
    const json one = s.post("/v1/completions", alone(body, body["prompt"][p]));
    const auto one_ids = choice_ids(one);
    ASSERT_EQ(one["choices"].size(), n);
    for (size_t i = 0; i < n; ++i) {
      const json& c = together["choices"][p * n + i];
      EXPECT_EQ(c["index"], p * n + i);
      EXPECT_EQ(ids[p * n + i], one_ids[i]) << "prompt " << p << " choice " << i;
      EXPECT_EQ(c["text"], one["choices"][i]["text"]) << "prompt " << p << " choice " << i;
      EXPECT_EQ(c["finish_reason"], one["choices"][i]["finish_reason"]) << "prompt " << p << " choice " << i;
    }
    prompt_tokens += one["usage"]["prompt_tokens"].get<int>();
    completion_tokens += one["usage"]["completion_tokens"].get<int>();
  }
  EXPECT_EQ(together["usage"]["prompt_tokens"], prompt_tokens);
  EXPECT_EQ(together["usage"]["completion_tokens"], completion_tokens);
  EXPECT_EQ(together["usage"]["total_tokens"], prompt_tokens + completion_tokens);
}

TEST_F(ServerPrompts, StringsEachAsSentAlone) {
  const json body = {{"prompt", kPrompts}, {"max_tokens", 10}, {"temperature", 0}};
  expect_as_alone(*server_, body, server_->post("/v1/completions", body));
}

TEST_F(ServerPrompts, TokenIdArraysEachAsSentAlone) {
  const Tokenizer& tok = server_->engine->tokenizer();
  json prompts = json::array();
  for (const std::string& p : kPrompts) prompts.push_back(tok.encode(p, true, false));
  const json body = {{"prompt", prompts}, {"max_tokens", 10}, {"temperature", 0}};
  const json together = server_->post("/v1/completions", body);
  expect_as_alone(*server_, body, together);
  // And the same answers as the prompts given as text.
  const json text = server_->post("/v1/completions", {{"prompt", kPrompts}, {"max_tokens", 10}, {"temperature", 0}});
  EXPECT_EQ(choice_ids(together), choice_ids(text));
}

TEST_F(ServerPrompts, SampledChoicesArePromptMajor) {
  // Two prompts, two choices each: choice i of prompt p draws as choice i of p alone with the seed.
  const json body = {{"prompt", {kPrompts[1], kPrompts[2]}}, {"max_tokens", 12}, {"temperature", 1.3},
                     {"seed", 11}, {"n", 2}};
  const json together = server_->post("/v1/completions", body);
  expect_as_alone(*server_, body, together);
  EXPECT_NE(together["choices"][0]["text"], together["choices"][1]["text"]) << "n = 2 sampled the same twice";
}

TEST_F(ServerPrompts, StreamedEqualsWhole) {
  const json body = {{"prompt", {kPrompts[0], kPrompts[2]}}, {"max_tokens", 10}, {"temperature", 1.1},
                     {"seed", 4}, {"n", 2}, {"stream_options", {{"include_usage", true}}}};
  json plain = body;
  plain.erase("stream_options");
  const json whole = server_->post("/v1/completions", plain);
  const SseResponse s = server_->post_stream("/v1/completions", body);
  EXPECT_TRUE(s.done);
  ASSERT_EQ(s.text.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(s.text[i], whole["choices"][i]["text"]) << i;
    EXPECT_EQ(s.finish[i], whole["choices"][i]["finish_reason"]) << i;
  }
  for (const json& chunk : s.chunks) EXPECT_LE(chunk["choices"].size(), 1u);  // one choice per chunk, by index
  ASSERT_FALSE(s.chunks.empty());
  const json usage = s.chunks.back()["usage"];
  EXPECT_EQ(usage["prompt_tokens"], whole["usage"]["prompt_tokens"]);
  EXPECT_EQ(usage["completion_tokens"], whole["usage"]["completion_tokens"]);
}

TEST_F(ServerPrompts, EchoShowsEachChoicesOwnPrompt) {
  const json body = {{"prompt", {kPrompts[0], kPrompts[2]}}, {"max_tokens", 4}, {"temperature", 0}, {"echo", true},
                     {"logprobs", 1}, {"n", 2}};
  const json whole = server_->post("/v1/completions", body);
  const SseResponse s = server_->post_stream("/v1/completions", body);
  ASSERT_EQ(whole["choices"].size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const std::string& prompt = kPrompts[i < 2 ? 0 : 2];
    const json plain = server_->post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 4}, {"temperature", 0}});
    EXPECT_EQ(whole["choices"][i]["text"], prompt + plain["choices"][0]["text"].get<std::string>()) << i;
    EXPECT_EQ(s.text.at(i), whole["choices"][i]["text"]) << i;
    // The prompt's tokens lead the logprobs, each measured (the BOS is not echoed).
    for (const json& lp : whole["choices"][i]["logprobs"]["token_logprobs"]) EXPECT_TRUE(lp.is_number()) << i;
  }
}

TEST_F(ServerPrompts, MorePromptsThanParallelAreAllAnswered) {
  // --parallel is 4 here: six prompts queue together and are decoded as slots free up.
  std::vector<std::string> six;
  for (int i = 0; i < 6; ++i) six.push_back(kPrompts[static_cast<size_t>(i) % kPrompts.size()] + std::string(i, '!'));
  const json body = {{"prompt", six}, {"max_tokens", 6}, {"temperature", 0}};
  const json together = server_->post("/v1/completions", body);
  expect_as_alone(*server_, body, together);
  EXPECT_EQ(server_->server->stats().active, 0);
}

TEST_F(ServerPrompts, ShapesAndLimitsAre400NamingTheField) {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"prompt", json::array()}}, "prompt"},
      {{{"prompt", {"a", 1}}}, "prompt"},                           // mixed shapes
      {{{"prompt", {json::array({1, 2}), "b"}}}, "prompt"},
      {{{"prompt", {json::array({1, 2}), json::array()}}}, "prompt"},  // an empty prompt
      {{{"prompt", json::array({json::array({1, -2})})}}, "prompt"},
      {{{"prompt", json::array({json::array({1, 2}), json::array({1, 99999})})}}, "prompt"},  // beyond the vocabulary
      {{{"prompt", json::array({true})}}, "prompt"},
      {{{"prompt", std::vector<std::string>(7, "x")}}, "prompt"},  // over max_prompts (6)
      {{{"prompt", std::vector<std::string>(3, "x")}, {"n", 3}}, "n"},  // 9 choices, over max_choices (8)
  };
  for (const auto& [body, param] : cases) {
    auto r = server_->raw_post("/v1/completions", body.dump());
    expect_api_error(r, 400);
    ASSERT_TRUE(r);
    EXPECT_EQ(json::parse(r->body)["error"]["param"], param) << body.dump() << " -> " << r->body;
  }
  auto r = server_->raw_post("/v1/completions", json{{"prompt", std::vector<std::string>(7, "x")}}.dump());
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("at most 6"), std::string::npos) << r->body;
  // At the limits it is served: 4 prompts x 2 choices.
  EXPECT_EQ(server_->post("/v1/completions", {{"prompt", std::vector<std::string>(4, "Q:")}, {"n", 2}, {"max_tokens", 2}})
                ["choices"].size(), 8u);
}

// On the loop itself: the jobs of one request share a channel that numbers their
// choices one after another, and are admitted together, so their prompts are read
// in the same engine.decode() calls and their tokens decoded in the same batches.
TEST(PromptGroup, JobsQueuedTogetherShareBatchesAndAChannel) {
  auto engine = load_demo_engine();
  std::atomic<int> most_prefilling{0}, most_decoding{0};
  InferenceLoop loop(*engine, LoopOptions{}, nullptr, [&](const StepReport& r) {
    most_prefilling = std::max(most_prefilling.load(), r.prefilling);
    most_decoding = std::max(most_decoding.load(), r.decoding);
  });
  auto channel = std::make_shared<JobChannel>();
  std::vector<std::shared_ptr<Job>> jobs;
  for (size_t p = 0; p < 2; ++p) {
    auto job = std::make_shared<Job>();
    job->prompt = engine->tokenizer().encode(kPrompts[p], true, false);
    job->decode.sampler = SamplerKind::Greedy;
    job->decode.ignore_eos = true;
    job->decode.max_tokens = 5;
    job->n = 2;
    job->channel = channel;
    job->first_choice = static_cast<int32_t>(p) * 2;
    jobs.push_back(job);
  }
  ASSERT_EQ(loop.submit_all(jobs), InferenceLoop::Submit::Queued);
  std::vector<int> done(4, 0), tokens(4, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (int open = 4; open > 0 && std::chrono::steady_clock::now() < deadline;) {
    for (const JobEvent& ev : channel->wait(std::chrono::milliseconds(100))) {
      ASSERT_EQ(ev.error, "");
      ASSERT_GE(ev.index, 0);
      ASSERT_LT(ev.index, 4);
      tokens[static_cast<size_t>(ev.index)] += static_cast<int>(ev.tokens.size());
      if (ev.done) ++done[static_cast<size_t>(ev.index)], --open;
    }
  }
  EXPECT_EQ(done, (std::vector<int>{1, 1, 1, 1}));
  EXPECT_EQ(tokens, (std::vector<int>{5, 5, 5, 5}));
  EXPECT_EQ(most_prefilling, 2) << "both prompts were read in one step";
  EXPECT_EQ(most_decoding, 4) << "all four choices were decoded in one step";
}

TEST(PromptGroup, AFullQueueRefusesTheWholeRequest) {
  auto engine = load_demo_engine();
  LoopOptions one;
  one.max_queue = 1;
  InferenceLoop loop(*engine, one);
  std::vector<std::shared_ptr<Job>> jobs;
  for (int p = 0; p < 3; ++p) {
    auto job = std::make_shared<Job>();
    job->prompt = engine->tokenizer().encode(kPrompts[0], true, false);
    job->decode.max_tokens = 400;
    job->decode.ignore_eos = true;
    job->n = 4;  // each takes every slot: the second waits in the queue
    jobs.push_back(job);
  }
  ASSERT_EQ(loop.submit(jobs[0]), InferenceLoop::Submit::Queued);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (loop.stats().queued > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // until it decodes, the queue empty
  // A queue with room takes a request's prompts together, past its length...
  ASSERT_EQ(loop.submit_all({jobs[1], jobs[2]}), InferenceLoop::Submit::Queued);
  // ...and a full one refuses them all.
  auto late = std::make_shared<Job>();
  late->prompt = jobs[0]->prompt;
  EXPECT_EQ(loop.submit_all({late, late}), InferenceLoop::Submit::QueueFull);
  for (const auto& job : jobs) job->cancelled = true;
}

}  // namespace
