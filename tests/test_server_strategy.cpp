// entropix.strategy per request: the server's answer is the library's (run_strategy on
// the same model and options), whole or streamed, with the strategy's "entropix"
// object; requests it cannot answer are refused naming the field; a client that
// leaves stops it; requests around it are served.
#include <chrono>
#include <future>
#include <thread>

#include "decoding/strategy.h"
#include "decoding/vote.h"
#include "server/inference_loop.h"
#include "server_fixture.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::testing;

namespace {

class ServerStrategy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = std::make_unique<DemoServer>();
    reference_ = load_demo_engine();
  }
  static void TearDownTestSuite() {
    server_.reset();
    reference_.reset();
  }
  // What the library answers on its own engine, from the server's default options.
  static StrategyResult library(const std::string& spec, const std::string& prompt, int32_t max_tokens, uint64_t seed) {
    DecodeOptions base = demo_server_options().decode;
    base.max_tokens = max_tokens;
    base.seed = seed;
    const StrategyOptions o = parse_strategy(spec, base);
    return run_strategy(*reference_, reference_->tokenizer().encode(prompt, true, false), o);
  }
  static std::unique_ptr<DemoServer> server_;
  static std::unique_ptr<Engine> reference_;
};
std::unique_ptr<DemoServer> ServerStrategy::server_;
std::unique_ptr<Engine> ServerStrategy::reference_;

json strategy_body(const std::string& spec, int32_t max_tokens = 40, uint64_t seed = 5) {
  return {{"prompt", kArithmeticPrompt}, {"max_tokens", max_tokens}, {"seed", seed}, {"entropix", {{"strategy", spec}}}};
}

// The object's figures hold together: the paths' tokens add up to what was spent, and
// the answer is among the paths'.
void expect_consistent(const json& ex, const std::string& spec, const std::string& text) {
  EXPECT_EQ(ex["strategy"], spec);
  ASSERT_TRUE(ex["paths"].is_array());
  ASSERT_FALSE(ex["paths"].empty());
  const double confidence = ex["confidence"].get<double>();
  EXPECT_GE(confidence, 0.0);
  EXPECT_LE(confidence, 1.0);
  bool found = false;
  for (const json& p : ex["paths"]) found = found || p["text"] == text;
  EXPECT_TRUE(found) << "the answer's text is none of the paths': " << text;
}

TEST_F(ServerStrategy, AnswersAsTheLibraryDoesWithItsPathsAndConfidence) {
  for (const std::string spec : {"self-consistency:4", "adaptive-consistency:6", "entropy-fork:3", "entropix-vote:2"}) {
    SCOPED_TRACE(spec);
    const json r = server_->post("/v1/completions", strategy_body(spec));
    const StrategyResult want = library(spec, kArithmeticPrompt, 40, 5);
    ASSERT_EQ(r["choices"].size(), 1u);
    EXPECT_EQ(r["choices"][0]["text"], want.text);
    EXPECT_EQ(r["choices"][0]["finish_reason"], finish_reason_name(want.finish));
    EXPECT_FALSE(r["choices"][0].contains("entropix")) << "a strategy reports no per-token records";
    const json& ex = r["entropix"];
    expect_consistent(ex, spec, want.text);
    EXPECT_EQ(ex["answer"], want.answer ? json(*want.answer) : json(nullptr));
    EXPECT_DOUBLE_EQ(ex["confidence"].get<double>(), want.confidence);
    EXPECT_EQ(ex["tokens_spent"], want.tokens_spent);
    ASSERT_EQ(ex["paths"].size(), want.paths.size());
    for (size_t i = 0; i < want.paths.size(); ++i) {
      EXPECT_EQ(ex["paths"][i]["text"], want.paths[i].text) << i;
      EXPECT_EQ(ex["paths"][i]["tokens"], want.paths[i].n_tokens) << i;
    }
    EXPECT_EQ(r["usage"]["completion_tokens"], want.n_generated);
  }
  // A voting strategy's confidence is its winner's share of the vote.
  const json sc = server_->post("/v1/completions", strategy_body("self-consistency:4"))["entropix"];
  int votes = 0;
  for (const json& p : sc["paths"]) votes += p["answer"] == sc["answer"];
  EXPECT_DOUBLE_EQ(sc["confidence"].get<double>(), votes / 4.0);
}

TEST_F(ServerStrategy, StreamedAnswerComesWholeWithTheObjectInItsLastChunk) {
  const json whole = server_->post("/v1/completions", strategy_body("self-consistency:3", 32, 9));
  const SseResponse s = server_->post_stream("/v1/completions", strategy_body("self-consistency:3", 32, 9));
  EXPECT_TRUE(s.done);
  ASSERT_EQ(s.text.size(), 1u);
  EXPECT_EQ(s.text[0], whole["choices"][0]["text"]);
  EXPECT_EQ(s.finish[0], whole["choices"][0]["finish_reason"]);
  ASSERT_FALSE(s.chunks.empty());
  const json& last = s.chunks.back();
  ASSERT_TRUE(last.contains("entropix"));
  EXPECT_EQ(last["entropix"], whole["entropix"]);

  // Chat: the message is the chosen path's text.
  const json chat_body = {{"messages", {{{"role", "user"}, {"content", "Tom has 3 pens. He buys 4 more. How many pens now?"}}}},
                          {"max_tokens", 24},
                          {"seed", 3},
                          {"entropix", {{"strategy", "adaptive-consistency:4"}}}};
  const json chat = server_->post("/v1/chat/completions", chat_body);
  expect_consistent(chat["entropix"], "adaptive-consistency:4", chat["choices"][0]["message"]["content"]);
  const SseResponse streamed = server_->post_stream("/v1/chat/completions", chat_body);
  ASSERT_EQ(streamed.text.size(), 1u);
  EXPECT_EQ(streamed.text[0], chat["choices"][0]["message"]["content"]);
}

TEST_F(ServerStrategy, RefusesWhatAStrategyCannotGiveNamingTheField) {
  const auto refused = [&](json body, const std::string& param) {
    const auto r = server_->raw_post("/v1/completions", body.dump());
    expect_api_error(r, 400);
    if (r) {
      EXPECT_EQ(json::parse(r->body)["error"]["param"], param) << body.dump();
    }
  };
  const json body = strategy_body("self-consistency:4");
  const auto with = [&](const json& patch) {
    json b = body;
    b.merge_patch(patch);
    return b;
  };
  refused(with({{"n", 2}}), "n");
  refused(with({{"logprobs", 2}}), "logprobs");
  refused(with({{"echo", true}}), "echo");
  refused(with({{"grammar", "root ::= \"a\""}}), "grammar");
  refused(with({{"prompt", {"a", "b"}}}), "prompt");
  refused(strategy_body("majority-of-three"), "entropix.strategy");
  refused(strategy_body("self-consistency:0"), "entropix.strategy");
  refused(strategy_body("self-consistency:33"), "entropix.strategy");
  refused(with({{"entropix", {{"strategy", 4}}}}), "entropix.strategy");
  // The server still answers.
  EXPECT_EQ(server_->post("/v1/completions", strategy_body("greedy"))["entropix"]["paths"].size(), 1u);
}

TEST_F(ServerStrategy, RequestsAroundItAreServedWithTheirOwnAnswers) {
  const json plain = {{"prompt", "Q: Ana has 5 cups. She breaks 2. How many cups are left?\nA:"}, {"max_tokens", 20}, {"temperature", 0}};
  const json alone = server_->post("/v1/completions", plain);
  const json strategy_alone = server_->post("/v1/completions", strategy_body("self-consistency:4", 40, 11));
  // A plain request started first, a strategy, and another plain request, together.
  auto first = std::async(std::launch::async, [&] { return server_->post("/v1/completions", plain); });
  auto strategy = std::async(std::launch::async, [&] {
    return server_->post("/v1/completions", strategy_body("self-consistency:4", 40, 11));
  });
  auto after = std::async(std::launch::async, [&] { return server_->post("/v1/completions", plain); });
  EXPECT_EQ(first.get()["choices"][0]["text"], alone["choices"][0]["text"]);
  const json s = strategy.get();
  EXPECT_EQ(s["choices"][0]["text"], strategy_alone["choices"][0]["text"]);
  EXPECT_EQ(s["entropix"]["paths"], strategy_alone["entropix"]["paths"]);
  EXPECT_EQ(after.get()["choices"][0]["text"], alone["choices"][0]["text"]);
}

// The loop on its own: a strategy whose client left stops between two batches, ends
// Cancelled and leaves the KV cache as it found it.
TEST(InferenceLoopStrategy, ACancelledStrategyStopsAndFreesItsSequences) {
  // The cache holds all 8 paths at their longest (8 x 4,000 positions and the prompt) and
  // the paths take 4,000 steps, far more than the 100 ms before the cancel: only the cancel
  // can end the strategy, however fast the machine. (With 2,048 positions a fast machine
  // filled the cache first, and the strategy ended with that error instead.)
  auto engine = load_demo_engine(32768);
  const int32_t free_before = engine->free_positions();
  server::InferenceLoop loop(*engine, server::LoopOptions{});
  auto job = std::make_shared<server::Job>();
  job->prompt = engine->tokenizer().encode(kArithmeticPrompt, true, false);
  DecodeOptions d;
  d.ignore_eos = true;
  d.max_tokens = 4000;
  d.seed = 1;
  job->decode = d;
  job->strategy = std::make_shared<const StrategyOptions>(parse_strategy("self-consistency:8", d));
  ASSERT_EQ(loop.submit(job), server::InferenceLoop::Submit::Queued);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (loop.stats().active == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(loop.stats().active, 1) << "the strategy did not start";
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  job->cancelled = true;
  server::JobEvent last;
  while (!last.done && std::chrono::steady_clock::now() < deadline)
    for (server::JobEvent& ev : job->wait(std::chrono::milliseconds(100))) last = std::move(ev);
  ASSERT_TRUE(last.done);
  EXPECT_EQ(last.finish, FinishReason::Cancelled);
  EXPECT_TRUE(last.error.empty()) << last.error;
  EXPECT_EQ(loop.stats().cancelled, 1);
  EXPECT_EQ(loop.stats().active, 0);
  EXPECT_EQ(engine->free_positions(), free_before);

  // The loop goes on: a strategy after it gives its answer.
  auto next = std::make_shared<server::Job>();
  next->prompt = job->prompt;
  DecodeOptions g;
  g.max_tokens = 24;
  next->decode = g;
  next->strategy = std::make_shared<const StrategyOptions>(parse_strategy("entropy-fork:3", g));
  ASSERT_EQ(loop.submit(next), server::InferenceLoop::Submit::Queued);
  server::JobEvent end;
  while (!end.done && std::chrono::steady_clock::now() < deadline)
    for (server::JobEvent& ev : next->wait(std::chrono::milliseconds(100))) end = std::move(ev);
  ASSERT_TRUE(end.done);
  ASSERT_TRUE(end.strategy);
  EXPECT_EQ(end.text, end.strategy->text);
  EXPECT_FALSE(end.text.empty());
}

}  // namespace
