// The OpenAI request parser on its own (no server): bodies the fuzzer found, each
// turned away with an ApiError 400 that names the field at fault.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "server/api.h"

namespace entropix::server {
namespace {

// The error a chat body gets; fails the test when the body is accepted.
ApiError chat_error(const std::string& body) {
  try {
    parse_request(body, Endpoint::ChatCompletions, DecodeOptions{}, RequestLimits{});
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << body;
  return ApiError(0, "");
}

// A text part without a string "type" was read as a string anyway: nlohmann's
// type_error came out as "unexpected value in the request", naming no field.
TEST(ParseRequest, TextPartWithoutTypeNamesTheMessage) {
  for (const std::string part : {R"({"text": "b"})", R"({"type": null, "text": "b"})", R"({"type": 3, "text": "b"})"}) {
    const ApiError e = chat_error(R"({"messages": [{"role": "user", "content": "a"},
                                                    {"role": "user", "content": [)" + part + "]}]}");
    EXPECT_EQ(e.status(), 400);
    EXPECT_NE(std::string(e.what()).find("'messages[1].content' parts must be"), std::string::npos) << e.what();
  }
}

// Every 400 the parser gives for one field names it in `param`, as OpenAI's do
// (a field inside another, or a message, by its path).
TEST(ParseRequest, EachErrorNamesItsField) {
  using nlohmann::json;
  const json user = json::array({{{"role", "user"}, {"content", "Hi"}}});
  const json prompt = {{"prompt", "x"}};
  const auto tool = [](const std::string& name, const json& parameters = {{"type", "object"}}) {
    return json{{"type", "function"}, {"function", {{"name", name}, {"parameters", parameters}}}};
  };
  json many_large_tools = json::array();
  {
    json values = json::array();
    for (int v = 0; v < 2000; ++v) values.push_back(std::string(60, static_cast<char>('a' + v % 26)) + std::to_string(v));
    for (int i = 0; i < 10; ++i)
      many_large_tools.push_back(tool(std::string(1, static_cast<char>('a' + i)),
                                      {{"type", "object"}, {"properties", {{"v", {{"enum", values}}}}}}));
  }
  const auto with = [](json body, const json& extra) {
    body.update(extra);
    return body;
  };
  RequestLimits limits;
  limits.max_prompts = 3;
  limits.max_choices = 4;
  const std::vector<std::tuple<Endpoint, json, std::string>> cases = {
      {Endpoint::Completions, json::object(), "prompt"},
      {Endpoint::Completions, {{"prompt", 7}}, "prompt"},
      {Endpoint::Completions, {{"prompt", json::array()}}, "prompt"},
      {Endpoint::Completions, {{"prompt", json::array({1.5})}}, "prompt"},
      {Endpoint::Completions, {{"prompt", json::array({1, -1})}}, "prompt"},
      {Endpoint::Completions, {{"prompt", json::array({"a", 1})}}, "prompt"},
      {Endpoint::Completions, {{"prompt", json::array({json::array({1}), json::array()})}}, "prompt"},
      {Endpoint::Completions, {{"prompt", json::array({json::array({1}), "a"})}}, "prompt"},
      {Endpoint::Completions, {{"prompt", json::array({"a", "b", "c", "d"})}}, "prompt"},  // over max_prompts
      {Endpoint::Completions, with(prompt, {{"n", 5}}), "n"},                              // 5 choices, over max_choices
      {Endpoint::Completions, {{"prompt", json::array({"a", "b"})}, {"n", 3}}, "n"},       // 6 choices, over max_choices
      {Endpoint::Completions, with(prompt, {{"model", 3}}), "model"},
      {Endpoint::Completions, with(prompt, {{"stream", "yes"}}), "stream"},
      {Endpoint::Completions, with(prompt, {{"stream_options", 1}}), "stream_options"},
      {Endpoint::Completions, with(prompt, {{"stream_options", {{"include_usage", 1}}}}), "stream_options.include_usage"},
      {Endpoint::Completions, with(prompt, {{"n", 0}}), "n"},
      {Endpoint::Completions, with(prompt, {{"n", "2"}}), "n"},
      {Endpoint::Completions, with(prompt, {{"max_tokens", 0}}), "max_tokens"},
      {Endpoint::Completions, with(prompt, {{"max_tokens", 5000}}), "max_tokens"},
      {Endpoint::Completions, with(prompt, {{"max_tokens", 2.5}}), "max_tokens"},
      {Endpoint::Completions, with(prompt, {{"stop", 7}}), "stop"},
      {Endpoint::Completions, with(prompt, {{"stop", json::array({""})}}), "stop"},
      {Endpoint::Completions, with(prompt, {{"logit_bias", json::array()}}), "logit_bias"},
      {Endpoint::Completions, with(prompt, {{"logit_bias", {{"x", 1}}}}), "logit_bias"},
      {Endpoint::Completions, with(prompt, {{"seed", "s"}}), "seed"},
      {Endpoint::Completions, with(prompt, {{"logprobs", 21}}), "logprobs"},
      {Endpoint::Completions, with(prompt, {{"echo", 1}}), "echo"},
      {Endpoint::Completions, with(prompt, {{"temperature", "hot"}}), "temperature"},
      {Endpoint::Completions, with(prompt, {{"temperature", 3}}), "temperature"},
      {Endpoint::Completions, with(prompt, {{"top_p", 1.5}}), "top_p"},
      {Endpoint::Completions, with(prompt, {{"top_k", -1}}), "top_k"},
      {Endpoint::Completions, with(prompt, {{"min_p", 2}}), "min_p"},
      {Endpoint::Completions, with(prompt, {{"entropix", 1}}), "entropix"},
      {Endpoint::Completions, with(prompt, {{"entropix", {{"sampler", 1}}}}), "entropix.sampler"},
      {Endpoint::Completions, with(prompt, {{"entropix", {{"sampler", "magic"}}}}), "entropix.sampler"},
      // In range for the request, out of range for the entropix profile's knobs.
      {Endpoint::Completions, with(prompt, {{"entropix", {{"sampler", "entropix"}}}, {"top_p", 0}}), "top_p"},
      {Endpoint::Completions, with(prompt, {{"entropix", {{"sampler", "entropix"}}}, {"min_p", 1}}), "min_p"},
      {Endpoint::Completions, with(prompt, {{"tools", json::array({1})}}), "tools"},
      {Endpoint::Completions, with(prompt, {{"response_format", {{"type", "xml"}}}}), "response_format.type"},
      {Endpoint::Completions, with(prompt, {{"response_format", "json"}}), "response_format"},
      {Endpoint::Completions, with(prompt, {{"grammar", 5}}), "grammar"},
      {Endpoint::ChatCompletions, json::object(), "messages"},
      {Endpoint::ChatCompletions, {{"messages", json::array()}}, "messages"},
      {Endpoint::ChatCompletions, {{"messages", "Hi"}}, "messages"},
      {Endpoint::ChatCompletions, {{"messages", json::array({1})}}, "messages[0]"},
      {Endpoint::ChatCompletions, {{"messages", json::array({user[0], {{"content", "x"}}})}}, "messages[1].role"},
      {Endpoint::ChatCompletions, {{"messages", json::array({{{"role", 1}}})}}, "messages[0].role"},
      {Endpoint::ChatCompletions, {{"messages", json::array({{{"role", "wizard"}}})}}, "messages[0].role"},
      {Endpoint::ChatCompletions, {{"messages", json::array({{{"role", "user"}, {"content", 5}}})}}, "messages[0].content"},
      {Endpoint::ChatCompletions,
       {{"messages", json::array({{{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", 5}}})}}})}},
       "messages[0].content[].text"},
      {Endpoint::ChatCompletions, {{"messages", json::array({{{"role", "user"}, {"name", 5}}})}}, "messages[0].name"},
      {Endpoint::ChatCompletions, {{"messages", user}, {"max_completion_tokens", 0}}, "max_completion_tokens"},
      {Endpoint::ChatCompletions, {{"messages", user}, {"logprobs", 1}}, "logprobs"},
      {Endpoint::ChatCompletions, {{"messages", user}, {"top_logprobs", 21}}, "top_logprobs"},
      {Endpoint::ChatCompletions, {{"messages", user}, {"tool_choice", "required"}}, "tool_choice"},
      {Endpoint::ChatCompletions, {{"messages", user}, {"tools", json::array({1})}}, "tools[0]"},
      {Endpoint::ChatCompletions, {{"messages", user}, {"tools", json::array({{{"type", "retrieval"}}})}}, "tools[0].type"},
      {Endpoint::ChatCompletions, {{"messages", user}, {"tools", json::array({{{"type", "function"}}})}}, "tools[0].function"},
      {Endpoint::ChatCompletions, {{"messages", user}, {"tools", json::array({tool("a b")})}}, "tools[0].function.name"},
      {Endpoint::ChatCompletions, {{"messages", user}, {"tools", json::array({tool("f"), tool("f")})}}, "tools[1].function.name"},
      {Endpoint::ChatCompletions, {{"messages", user}, {"tools", json::array({tool("f", {{"type", "array"}})})}}, "tools[0].function.parameters.type"},
      {Endpoint::ChatCompletions, {{"messages", user}, {"tools", json::array({tool("f", {{"type", "object"}, {"properties", {{"s", {{"type", "string"}, {"pattern", "x"}}}}}})})}}, "tools[0].function.parameters"},
      {Endpoint::ChatCompletions, {{"messages", user}, {"tools", json::array({tool("f")})}, {"tool_choice", "any"}}, "tool_choice"},
      // Each function's grammar under its limit, all of them together over it.
      {Endpoint::ChatCompletions, {{"messages", user}, {"tools", many_large_tools}}, "tools"},
      {Endpoint::ChatCompletions, {{"messages", user}, {"tools", json::array({tool("f")})}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "g"}}}}}}, "tool_choice"},
      {Endpoint::ChatCompletions, {{"messages", user}, {"tools", json::array({tool("f")})}, {"parallel_tool_calls", "yes"}}, "parallel_tool_calls"},
      {Endpoint::ChatCompletions, {{"messages", user}, {"functions", json::array({tool("f")["function"]})}}, "functions"},
      {Endpoint::ChatCompletions, {{"messages", json::array({{{"role", "assistant"}, {"tool_calls", json::array({{{"type", "function"}, {"function", {{"arguments", "{}"}}}}})}}})}}, "messages[0].tool_calls[0].function.name"},
      {Endpoint::ChatCompletions, {{"messages", json::array({{{"role", "assistant"}, {"tool_calls", "f()"}}})}}, "messages[0].tool_calls"},
      {Endpoint::ChatCompletions, {{"messages", json::array({{{"role", "tool"}, {"content", "1"}, {"tool_call_id", 5}}})}}, "messages[0].tool_call_id"},
  };
  for (const auto& [endpoint, body, param] : cases) {
    try {
      parse_request(body.dump(), endpoint, DecodeOptions{}, limits);
      ADD_FAILURE() << "accepted: " << body.dump();
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400) << body.dump();
      EXPECT_EQ(e.param(), param) << body.dump() << " -> " << e.what();
    }
  }
}

// The four shapes of a completions prompt.
TEST(ParseRequest, PromptShapes) {
  const auto prompts = [](const std::string& body) {
    return parse_request(body, Endpoint::Completions, DecodeOptions{}, RequestLimits{}).prompts;
  };
  auto p = prompts(R"({"prompt": "a"})");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].text, "a");
  EXPECT_FALSE(p[0].tokens);
  p = prompts(R"({"prompt": ["a", "b", ""]})");
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[1].text, "b");
  p = prompts(R"({"prompt": [5, 6, 7]})");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].tokens, (std::vector<int32_t>{5, 6, 7}));
  p = prompts(R"({"prompt": [[5], [6, 7]]})");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[1].tokens, (std::vector<int32_t>{6, 7}));
  EXPECT_FALSE(parse_request(R"({"prompt": "a"})", Endpoint::Completions, DecodeOptions{}, RequestLimits{}).max_tokens_set);
  EXPECT_TRUE(parse_request(R"({"prompt": "a", "max_tokens": 3})", Endpoint::Completions, DecodeOptions{}, RequestLimits{})
                  .max_tokens_set);
}

}  // namespace
}  // namespace entropix::server
