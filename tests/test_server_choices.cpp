// `n` > 1: the prompt is prefilled once and forked into n sequences; each choice
// has its own index, random stream and finish reason.
#include <set>

#include "server_fixture.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::testing;

namespace {

class ServerChoices : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<DemoServer>(); }
  static void TearDownTestSuite() { server_.reset(); }
  static std::unique_ptr<DemoServer> server_;
};
std::unique_ptr<DemoServer> ServerChoices::server_;

const json kChat = {{"role", "user"}, {"content", "Tom has 3 pens. He buys 4 more. How many pens now?"}};

TEST_F(ServerChoices, GreedyGivesNIdenticalChoices) {
  const json one = server_->post("/v1/completions", {{"prompt", kArithmeticPrompt}, {"max_tokens", 12}, {"temperature", 0}});
  const json three =
      server_->post("/v1/completions", {{"prompt", kArithmeticPrompt}, {"max_tokens", 12}, {"temperature", 0}, {"n", 3}});
  ASSERT_EQ(three["choices"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const json& c = three["choices"][i];
    EXPECT_EQ(c["index"], i);
    EXPECT_EQ(c["text"], one["choices"][0]["text"]);
    EXPECT_EQ(c["finish_reason"], one["choices"][0]["finish_reason"]);
    EXPECT_EQ(c["entropix"].size(), one["choices"][0]["entropix"].size());
  }
  EXPECT_EQ(three["usage"]["prompt_tokens"], one["usage"]["prompt_tokens"]);
  EXPECT_EQ(three["usage"]["completion_tokens"].get<int>(), 3 * one["usage"]["completion_tokens"].get<int>());
  EXPECT_EQ(three["usage"]["total_tokens"].get<int>(),
            three["usage"]["prompt_tokens"].get<int>() + three["usage"]["completion_tokens"].get<int>());

  const json chat = server_->post("/v1/chat/completions",
                                  {{"messages", {kChat}}, {"max_tokens", 10}, {"temperature", 0}, {"n", 2}});
  ASSERT_EQ(chat["choices"].size(), 2u);
  EXPECT_EQ(chat["choices"][0]["message"], chat["choices"][1]["message"]);
  EXPECT_EQ(chat["choices"][1]["index"], 1);
}

TEST_F(ServerChoices, SampledChoicesDifferAndRepeatWithTheSeed) {
  const json body = {{"prompt", "Q:"}, {"max_tokens", 16}, {"temperature", 1.5}, {"seed", 77}, {"n", 4}};
  const json a = server_->post("/v1/completions", body);
  const json b = server_->post("/v1/completions", body);
  ASSERT_EQ(a["choices"].size(), 4u);
  std::set<std::string> distinct;
  for (size_t i = 0; i < 4; ++i) {
    distinct.insert(a["choices"][i]["text"].get<std::string>());
    EXPECT_EQ(a["choices"][i]["text"], b["choices"][i]["text"]) << i;  // the seed fixes every choice
  }
  EXPECT_GE(distinct.size(), 2u) << "four sampled choices at temperature 1.5 were all equal";
  // Choice 0 draws from the request's own seed: the same as a lone request.
  json lone = body;
  lone.erase("n");
  EXPECT_EQ(server_->post("/v1/completions", lone)["choices"][0]["text"], a["choices"][0]["text"]);
}

TEST_F(ServerChoices, StreamedChoicesEqualTheWholeResponse) {
  const json body = {{"prompt", "Q:"}, {"max_tokens", 16}, {"temperature", 1.2}, {"seed", 5}, {"n", 3},
                     {"stream_options", {{"include_usage", true}}}};
  json plain = body;
  plain.erase("stream_options");
  const json whole = server_->post("/v1/completions", plain);
  const SseResponse s = server_->post_stream("/v1/completions", body);
  EXPECT_TRUE(s.done);
  ASSERT_EQ(s.text.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(s.text[i], whole["choices"][i]["text"]) << i;
    EXPECT_EQ(s.finish[i], whole["choices"][i]["finish_reason"]) << i;
  }
  ASSERT_FALSE(s.chunks.empty());
  json usage = s.chunks.back()["usage"], whole_usage = whole["usage"];
  // The second request's prompt comes from the prefix cache, all but its last token.
  EXPECT_EQ(usage["prompt_tokens_details"]["cached_tokens"].get<int>(), usage["prompt_tokens"].get<int>() - 1);
  usage.erase("prompt_tokens_details");
  whole_usage.erase("prompt_tokens_details");
  EXPECT_EQ(usage, whole_usage);
}

TEST_F(ServerChoices, ChatStreamSendsARoleChunkPerChoice) {
  const SseResponse s = server_->post_stream(
      "/v1/chat/completions", {{"messages", {kChat}}, {"max_tokens", 8}, {"temperature", 0}, {"n", 3}});
  EXPECT_TRUE(s.done);
  std::set<int> roles;
  for (const json& c : s.chunks)
    for (const json& ch : c["choices"])
      if (ch["delta"].contains("role")) roles.insert(ch["index"].get<int>());
  EXPECT_EQ(roles, (std::set<int>{0, 1, 2}));
  ASSERT_EQ(s.finish.size(), 3u);
  for (const std::string& f : s.finish) EXPECT_FALSE(f.empty());
  EXPECT_EQ(s.text[0], s.text[2]);
}

TEST_F(ServerChoices, EntropixSamplerForksRepeatWithTheSeed) {
  const json body = {{"prompt", kArithmeticPrompt}, {"max_tokens", 20}, {"seed", 3}, {"n", 3},
                     {"entropix", {{"sampler", "entropix"}}}};
  const json a = server_->post("/v1/completions", body);
  const json b = server_->post("/v1/completions", body);
  ASSERT_EQ(a["choices"].size(), 3u);
  int tokens = 0;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a["choices"][i]["text"], b["choices"][i]["text"]) << i;
    EXPECT_EQ(a["choices"][i]["entropix"], b["choices"][i]["entropix"]) << i;
    tokens += static_cast<int>(a["choices"][i]["entropix"].size());
  }
  EXPECT_GE(a["usage"]["completion_tokens"].get<int>(), tokens);  // thinking text counts all its tokens
}

TEST_F(ServerChoices, ForksAreFreedAfterwards) {
  const int32_t free_before = server_->engine->free_positions();
  server_->post("/v1/completions", {{"prompt", kArithmeticPrompt}, {"max_tokens", 20}, {"temperature", 1}, {"n", 4}});
  EXPECT_EQ(server_->server->stats().active, 0);
  EXPECT_EQ(server_->engine->free_positions(), free_before);
}

TEST_F(ServerChoices, NOverTheLimitIs400) {
  auto r = server_->raw_post("/v1/completions", json{{"prompt", "x"}, {"n", 5}}.dump());
  expect_api_error(r, 400, "invalid_value");
  EXPECT_NE(json::parse(r->body)["error"]["message"].get<std::string>().find("at most 4"), std::string::npos);
  expect_api_error(server_->raw_post("/v1/completions", json{{"prompt", "x"}, {"n", -1}}.dump()), 400);
  expect_api_error(server_->raw_post("/v1/completions", json{{"prompt", "x"}, {"n", "2"}}.dump()), 400);
}

}  // namespace
