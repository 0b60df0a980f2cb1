// What a request asks for beyond the prompt, on the demo model's server: logit_bias
// under every sampler, the legacy function fields (refused, not ignored), the
// field each 400 names, streamed text offsets, and 20 top_logprobs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "server_fixture.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::testing;

namespace {

class ServerRequests : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<DemoServer>(); }
  static void TearDownTestSuite() { server_.reset(); }
  static json post(const std::string& path, const json& body, int status = 200) {
    return server_->post(path, body, status);
  }
  // The 400 a body gets: its error object.
  static json error_of(const std::string& path, const json& body) {
    auto r = server_->raw_post(path, body.dump());
    EXPECT_TRUE(r) << "no response";
    if (!r) return {};
    expect_api_error(r, 400);
    const json j = json::parse(r->body, nullptr, false);
    return j.contains("error") ? j["error"] : json{{"param", nullptr}, {"message", ""}};
  }
  static std::unique_ptr<DemoServer> server_;
};

std::unique_ptr<DemoServer> ServerRequests::server_;

// The id of each generated token of each choice (the entropix entries' ids; one per sampled token).
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

json completion(const json& extra) {
  json body = {{"prompt", kArithmeticPrompt}, {"max_tokens", 6}};
  body.update(extra);
  return body;
}

// The demo model's greedy first token, and its runner-up.
std::pair<int32_t, int32_t> greedy_first_two(const DemoServer& server) {
  json j = server.post("/v1/completions", completion({{"temperature", 0}, {"max_tokens", 1}}));
  const int32_t first = choice_ids(j)[0].at(0);
  // The runner-up: what greedy takes once the first is banned.
  json second = server.post("/v1/completions", completion({{"temperature", 0},
                                                           {"max_tokens", 1},
                                                           {"logit_bias", {{std::to_string(first), -100}}}}));
  return {first, choice_ids(second)[0].at(0)};
}

TEST_F(ServerRequests, LogitBiasBansATokenUnderEverySampler) {
  const auto [first, runner_up] = greedy_first_two(*server_);
  ASSERT_NE(first, runner_up) << "a ban of -100 changes the greedy choice";
  const json ban = {{std::to_string(first), -100}};
  const std::vector<json> samplers = {
      {{"temperature", 0}},                                                     // greedy
      {{"temperature", 1.0}, {"top_k", 0}, {"top_p", 1.0}, {"seed", 7}},        // standard
      {{"entropix", {{"sampler", "entropix"}}}, {"seed", 7}},                   // the entropix policy
  };
  for (const json& sampler : samplers) {
    json unbiased = sampler;
    unbiased["n"] = 4;  // forks of one prompt: each choice draws on its own
    unbiased["max_tokens"] = 1;
    json biased = unbiased;
    biased["logit_bias"] = ban;
    const auto before = choice_ids(post("/v1/completions", completion(unbiased)));
    bool took_first = false;
    for (const auto& ids : before) took_first = took_first || ids.at(0) == first;
    EXPECT_TRUE(took_first) << "without a bias the model's favourite appears: " << sampler;
    for (const auto& ids : choice_ids(post("/v1/completions", completion(biased)))) {
      ASSERT_FALSE(ids.empty()) << sampler;
      EXPECT_NE(ids[0], first) << "a banned token was drawn: " << sampler;
    }
  }
}

TEST_F(ServerRequests, LogitBiasFavoursAToken) {
  const auto [first, runner_up] = greedy_first_two(*server_);
  // +100 on the runner-up makes it the certain choice at every step, greedy or not.
  for (const json& sampler : {json{{"temperature", 0}}, json{{"temperature", 1.0}, {"seed", 3}},
                              json{{"entropix", {{"sampler", "entropix"}}}, {"seed", 3}}}) {
    json body = sampler;
    body["max_tokens"] = 3;
    body["logit_bias"] = {{std::to_string(runner_up), 100}};
    const auto ids = choice_ids(post("/v1/completions", completion(body)))[0];
    ASSERT_EQ(ids.size(), 3u) << sampler;
    for (int32_t id : ids) EXPECT_EQ(id, runner_up) << sampler;
  }
  // The logprobs describe the distribution drawn from: the favoured token is near certain.
  json j = post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", kArithmeticPrompt}}}},
                                         {"max_tokens", 1},
                                         {"temperature", 0},
                                         {"logprobs", true},
                                         {"logit_bias", {{std::to_string(runner_up), 100}}}});
  EXPECT_GT(j["choices"][0]["logprobs"]["content"][0]["logprob"].get<double>(), -1e-3) << j;
}

TEST_F(ServerRequests, LogitBiasIsChecked) {
  const json bad_biases[] = {
      json::array({1, 2}),                 // not an object
      {{"abc", 1}},                        // not a token id
      {{"-1", 1}},                         // negative
      {{"1.5", 1}},                        // not an integer
      {{"99999999999", 1}},                // beyond any id
      {{"1", 101}},                        // beyond the range
      {{"1", -100.5}},
      {{"1", "high"}},                     // not a number
      {{"100000", 5}},                     // beyond the demo model's vocabulary
  };
  for (const json& bias : bad_biases) {
    const json e = error_of("/v1/completions", completion({{"logit_bias", bias}}));
    EXPECT_EQ(e["param"], "logit_bias") << bias << " " << e;
  }
  json too_many = json::object();
  for (int i = 0; i < 1025; ++i) too_many[std::to_string(i)] = 1;
  EXPECT_EQ(error_of("/v1/completions", completion({{"logit_bias", too_many}}))["param"], "logit_bias");
  // At the limits it is served.
  post("/v1/completions", completion({{"logit_bias", {{"0", -100}, {"1", 100}, {"2", 0}}}, {"max_tokens", 1}}));
}

TEST_F(ServerRequests, LegacyFunctionFieldsAreRefusedByName) {
  const json messages = {{{"role", "user"}, {"content", "Hi"}}};
  const json tool = {{"type", "function"}, {"function", {{"name", "add"}, {"parameters", json::object()}}}};
  const std::vector<std::pair<std::string, json>> cases = {
      {"functions", json::array({tool["function"]})},
      {"function_call", "auto"},
  };
  for (const auto& [field, value] : cases) {
    const json e = error_of("/v1/chat/completions", {{"messages", messages}, {field, value}, {"max_tokens", 1}});
    EXPECT_EQ(e["param"], field) << e;
    EXPECT_NE(e["message"].get<std::string>().find("not supported"), std::string::npos) << e;
  }
  // What asks for nothing beyond text is served, and so are tools.
  for (const auto& [field, value] : std::vector<std::pair<std::string, json>>{
           {"response_format", {{"type", "text"}}}, {"tools", json::array()}, {"tool_choice", "none"},
           {"tools", json::array({tool})},
           {"response_format", {{"type", "json_object"}}},
           {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "x"}, {"schema", json::object()}}}}}}) {
    post("/v1/chat/completions", {{"messages", messages}, {field, value}, {"max_tokens", 1}});
  }
}

TEST_F(ServerRequests, EachErrorNamesItsField) {
  const json user = {{{"role", "user"}, {"content", "Hi"}}};
  const std::vector<std::tuple<std::string, json, std::string>> cases = {
      {"/v1/completions", {{"max_tokens", 4}}, "prompt"},
      {"/v1/completions", {{"prompt", json::array({1.5})}}, "prompt"},
      {"/v1/completions", {{"prompt", 7}}, "prompt"},
      {"/v1/completions", {{"prompt", json::array({1, 99999})}}, "prompt"},           // beyond the vocabulary
      {"/v1/completions", {{"prompt", std::vector<int>(2100, 65)}}, "prompt"},        // beyond the context
      {"/v1/completions", {{"prompt", "x"}, {"max_tokens", 2048}}, "prompt"},          // with the prompt, beyond it
      {"/v1/completions", {{"prompt", json::array({"x", 7})}}, "prompt"},
      {"/v1/completions", {{"prompt", json::array({json::array({1}), json::array({1, 99999})})}}, "prompt"},
      {"/v1/completions", {{"prompt", "x"}, {"top_p", 0}, {"entropix", {{"sampler", "entropix"}}}}, "top_p"},
      {"/v1/completions", {{"prompt", "x"}, {"stop", 7}}, "stop"},
      {"/v1/completions", {{"prompt", "x"}, {"stop", json::array({1})}}, "stop"},
      {"/v1/completions", {{"prompt", "x"}, {"stop", json::array({""})}}, "stop"},
      {"/v1/completions", {{"prompt", "x"}, {"stop", json::array({"a", "b", "c", "d", "e"})}}, "stop"},
      {"/v1/completions", {{"prompt", "x"}, {"n", 5}}, "n"},                            // over --parallel
      {"/v1/completions", {{"prompt", "x"}, {"temperature", 5}}, "temperature"},
      {"/v1/completions", {{"prompt", "x"}, {"logprobs", 21}}, "logprobs"},
      {"/v1/completions", {{"prompt", "x"}, {"stream_options", 1}}, "stream_options"},
      {"/v1/completions", {{"prompt", "x"}, {"stream_options", {{"include_usage", 1}}}}, "stream_options.include_usage"},
      {"/v1/completions", {{"prompt", "x"}, {"entropix", {{"sampler", "magic"}}}}, "entropix.sampler"},
      {"/v1/chat/completions", json::object(), "messages"},
      {"/v1/chat/completions", {{"messages", json::array()}}, "messages"},
      {"/v1/chat/completions", {{"messages", json::array({1})}}, "messages[0]"},
      {"/v1/chat/completions", {{"messages", {{{"content", "x"}}}}}, "messages[0].role"},
      {"/v1/chat/completions", {{"messages", {{{"role", "wizard"}, {"content", "x"}}}}}, "messages[0].role"},
      {"/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", 5}}}}}, "messages[0].content"},
      {"/v1/chat/completions", {{"messages", json::array({json{{"role", "user"}, {"content", json::array({json{{"type", "image_url"}}})}}})}},
       "messages[0].content"},
      {"/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "x"}, {"name", 3}}}}}, "messages[0].name"},
      {"/v1/chat/completions", {{"messages", user}, {"top_logprobs", 21}}, "top_logprobs"},
      {"/v1/chat/completions", {{"messages", user}, {"max_completion_tokens", 2048}}, "messages"},  // beyond the context
  };
  for (const auto& [path, body, param] : cases) {
    const json e = error_of(path, body);
    EXPECT_EQ(e["param"], param) << path << " " << body.dump().substr(0, 200) << " -> " << e;
  }
}

// Streamed, the legacy logprobs' text_offset counts from the start of the choice's
// text (the echoed prompt included), as unstreamed.
TEST_F(ServerRequests, StreamedTextOffsetsMatchUnstreamed) {
  for (bool echo : {false, true}) {
    const json body = completion({{"temperature", 0}, {"max_tokens", 8}, {"logprobs", 1}, {"echo", echo}});
    const json whole = post("/v1/completions", body)["choices"][0]["logprobs"];
    const SseResponse stream = server_->post_stream("/v1/completions", body);
    json offsets = json::array(), tokens = json::array();
    for (const json& chunk : stream.chunks) {
      for (const json& c : chunk["choices"]) {
        if (c["logprobs"].is_null()) continue;
        for (const json& o : c["logprobs"]["text_offset"]) offsets.push_back(o);
        for (const json& t : c["logprobs"]["tokens"]) tokens.push_back(t);
      }
    }
    EXPECT_EQ(tokens, whole["tokens"]) << "echo " << echo;
    EXPECT_EQ(offsets, whole["text_offset"]) << "echo " << echo;
    ASSERT_GE(offsets.size(), 3u);
    EXPECT_GT(offsets.back().get<size_t>(), 0u) << "echo " << echo;
  }
}

// Up to 20 alternatives per token, as OpenAI's top_logprobs (and, beyond OpenAI's 5,
// the legacy completions' logprobs: the engine keeps 20 either way).
TEST_F(ServerRequests, TwentyTopLogprobs) {
  json chat = post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                                            {"max_tokens", 3},
                                            {"temperature", 0},
                                            {"logprobs", true},
                                            {"top_logprobs", 20}});
  for (const json& t : chat["choices"][0]["logprobs"]["content"]) EXPECT_EQ(t["top_logprobs"].size(), 20u);
  for (const json& sampler : {json{{"temperature", 0}}, json{{"entropix", {{"sampler", "entropix"}}}}}) {
    json body = completion({{"max_tokens", 3}, {"logprobs", 20}});
    body.update(sampler);
    json legacy = post("/v1/completions", body);
    for (const json& top : legacy["choices"][0]["logprobs"]["top_logprobs"]) EXPECT_EQ(top.size(), 20u) << sampler;
  }
}

}  // namespace

namespace {

// Loopback is what a host resolves to, every address of it, not how its name begins.
TEST(ServerHost, LoopbackIsResolvedNotReadAsText) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "::ffff:127.0.0.1"})
    EXPECT_TRUE(server::is_loopback_host(host)) << host;
  for (const char* host : {"127.invalid", "127.0.0.1.invalid", "localhost.invalid", "0.0.0.0", "::", "",
                           "192.168.1.2", "::ffff:10.0.0.1"})
    EXPECT_FALSE(server::is_loopback_host(host)) << host;
}

}  // namespace
