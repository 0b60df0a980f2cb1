// A prompt and max_tokens that cannot fit the context are refused up front with
// OpenAI's 400 context_length_exceeded (the numbers in the message, param
// "messages" or "prompt"), not accepted and cut short; without max_tokens the
// server's default is lowered to what fits.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/api.h"
#include "server_fixture.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::server;
using namespace entropix::testing;

namespace {

constexpr int kCtx = 256;

class ServerContext : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ServerOptions o = demo_server_options();
    o.decode.max_tokens = 1000;    // a default larger than the context: lowered per request
    o.decode.ignore_eos = true;    // every answer runs to its max_tokens
    server_ = std::make_unique<DemoServer>(o, kCtx);
  }
  static void TearDownTestSuite() { server_.reset(); }
  static std::unique_ptr<DemoServer> server_;
};
std::unique_ptr<DemoServer> ServerContext::server_;

const json kUser = {{{"role", "user"}, {"content", "Tom has 3 pens. He buys 4 more. How many pens now?"}}};


json error_of(const DemoServer& s, const std::string& path, const json& body) {
  auto r = s.raw_post(path, body.dump());
  expect_api_error(r, 400, "context_length_exceeded");
  return r ? json::parse(r->body)["error"] : json();
}

TEST_F(ServerContext, MaxTokensBeyondTheContextIs400WithTheNumbers) {
  for (const std::string path : {"/v1/completions", "/v1/chat/completions"}) {
    const bool chat = path == "/v1/chat/completions";
    json body = chat ? json{{"messages", kUser}} : json{{"prompt", kArithmeticPrompt}};
    body["max_tokens"] = 1;
    const int p = server_->post(path, body)["usage"]["prompt_tokens"];
    ASSERT_GT(p, 5);
    for (const char* key : {"max_tokens", "max_completion_tokens"}) {
      if (!chat && std::string(key) == "max_completion_tokens") continue;
      json over = chat ? json{{"messages", kUser}} : json{{"prompt", kArithmeticPrompt}};
      over[key] = kCtx - p + 1;
      const json e = error_of(*server_, path, over);
      EXPECT_EQ(e["param"], chat ? "messages" : "prompt");
      EXPECT_EQ(e["type"], "invalid_request_error");
      const std::string where = chat ? "the messages" : "the prompt";
      EXPECT_EQ(e["message"], "This model's maximum context length is " + std::to_string(kCtx) +
                                  " tokens. However, you requested " + std::to_string(kCtx + 1) + " tokens (" +
                                  std::to_string(p) + " in " + where + ", " + std::to_string(kCtx - p + 1) +
                                  " in the completion). Please reduce the length of " + where + " or completion.");
      // Streamed, it is refused before anything streams.
      over["stream"] = true;
      error_of(*server_, path, over);
      // Exactly the room left is served, to its end.
      over.erase("stream");
      over[key] = kCtx - p;
      const json fit = server_->post(path, over);
      EXPECT_EQ(fit["usage"]["completion_tokens"], kCtx - p) << path << " " << key;
      EXPECT_EQ(fit["choices"][0]["finish_reason"], "length");
    }
  }
}

TEST_F(ServerContext, WithoutMaxTokensTheDefaultIsLoweredToWhatFits) {
  for (const std::string path : {"/v1/completions", "/v1/chat/completions"}) {
    const json body = path == "/v1/completions" ? json{{"prompt", kArithmeticPrompt}} : json{{"messages", kUser}};
    const json j = server_->post(path, body);
    const int p = j["usage"]["prompt_tokens"];
    EXPECT_EQ(j["usage"]["completion_tokens"], kCtx - p) << path;  // the default (1000) lowered to the room left
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length") << path;
  }
}

TEST_F(ServerContext, APromptThatFillsTheContextIs400EvenWithoutMaxTokens) {
  for (const int n : {kCtx, kCtx + 40}) {
    const json e = error_of(*server_, "/v1/completions", {{"prompt", std::vector<int>(static_cast<size_t>(n), 65)}});
    EXPECT_EQ(e["param"], "prompt");
    EXPECT_EQ(e["message"], "This model's maximum context length is " + std::to_string(kCtx) +
                                " tokens. However, the prompt resulted in " + std::to_string(n) +
                                " tokens, which leaves no room for the completion. Please reduce the length of the prompt.");
  }
  // One token short of the context leaves room for one.
  const json j = server_->post("/v1/completions", {{"prompt", std::vector<int>(kCtx - 1, 65)}});
  EXPECT_EQ(j["usage"]["completion_tokens"], 1);
  std::string long_text;
  for (int i = 0; i < kCtx; ++i) long_text += "apple ";
  const json e = error_of(*server_, "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", long_text}}}}});
  EXPECT_EQ(e["param"], "messages");
  EXPECT_NE(e["message"].get<std::string>().find("the messages resulted in"), std::string::npos) << e;
}

TEST_F(ServerContext, EachPromptOfAnArrayIsChecked) {
  const json e = error_of(*server_, "/v1/completions",
                          {{"prompt", json::array({json::array({1, 2, 3}), std::vector<int>(200, 65)})}, {"max_tokens", 100}});
  EXPECT_EQ(e["param"], "prompt");
  EXPECT_NE(e["message"].get<std::string>().find("(200 in prompt[1], 100 in the completion)"), std::string::npos) << e;
}

TEST(FitMaxTokens, ChecksGivenAndLowersTheDefault) {
  ApiRequest chat;
  chat.endpoint = Endpoint::ChatCompletions;
  chat.decode.max_tokens = 100;
  EXPECT_EQ(fit_max_tokens(chat, 0, 50, 1000), 100);
  EXPECT_EQ(fit_max_tokens(chat, 0, 950, 1000), 50);   // the default, lowered
  EXPECT_EQ(fit_max_tokens(chat, 0, 999, 1000), 1);
  EXPECT_THROW(fit_max_tokens(chat, 0, 1000, 1000), ApiError);
  chat.max_tokens_set = true;
  EXPECT_EQ(fit_max_tokens(chat, 0, 900, 1000), 100);  // exactly fits
  try {
    fit_max_tokens(chat, 0, 901, 1000);
    FAIL() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.code(), "context_length_exceeded");
    EXPECT_EQ(e.param(), "messages");
    EXPECT_NE(std::string(e.what()).find("you requested 1001 tokens (901 in the messages, 100 in the completion)"),
              std::string::npos) << e.what();
  }
}

}  // namespace
