// Tool calls on the demo model's server: tool_choice required and a named function
// give calls of declared functions whose arguments meet their schema, streamed calls
// add up to the unstreamed ones, earlier calls and their results reach the prompt,
// tool_choice none leaves the tools out; with a template that has its own call syntax
// (Qwen2.5's <tool_call>, Llama 3.1's JSON), the answer is written and read in it.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "server_fixture.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::testing;

namespace {

const json kWeather = json::parse(R"({"type": "function", "function": {"name": "get_weather",
  "description": "The weather in a city now",
  "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12},
                 "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                 "required": ["city", "unit"], "additionalProperties": false}}})");
const json kTime = json::parse(R"({"type": "function", "function": {"name": "get_time",
  "parameters": {"type": "object", "properties": {"offset": {"type": "integer", "minimum": -12, "maximum": 14}},
                 "required": ["offset"], "additionalProperties": false}}})");
const json kUser = json::array({{{"role", "user"}, {"content", "What is the weather in Oslo?"}}});

json request(const json& tool_choice, int seed) {
  return {{"messages", kUser},          {"tools", json::array({kWeather, kTime})},
          {"tool_choice", tool_choice}, {"max_tokens", 256},
          {"temperature", 1},           {"seed", seed}};
}

// The arguments of a call meet its function's schema, checked by hand (the schemas are small).
void expect_valid_call(const json& call) {
  ASSERT_EQ(call["type"], "function") << call;
  ASSERT_TRUE(call["id"].is_string() && !call["id"].get<std::string>().empty()) << call;
  const std::string name = call["function"]["name"];
  const json args = json::parse(call["function"]["arguments"].get<std::string>());
  ASSERT_TRUE(args.is_object()) << call;
  if (name == "get_weather") {
    EXPECT_EQ(args.size(), 2u) << args;
    EXPECT_LE(args["city"].get<std::string>().size(), 12u) << args;
    EXPECT_TRUE(args["unit"] == "celsius" || args["unit"] == "fahrenheit") << args;
  } else {
    ASSERT_EQ(name, "get_time") << call;
    EXPECT_EQ(args.size(), 1u) << args;
    EXPECT_TRUE(args["offset"].is_number_integer() && args["offset"] >= -12 && args["offset"] <= 14) << args;
  }
}

// The calls a stream's deltas add up to: the first delta of an index carries id and name.
json streamed_calls(const SseResponse& s, std::string& finish) {
  std::map<int, json> calls;
  for (const json& chunk : s.chunks) {
    for (const json& c : chunk["choices"]) {
      if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
      if (!c["delta"].contains("tool_calls")) continue;
      for (const json& d : c["delta"]["tool_calls"]) {
        const int i = d["index"];
        if (!calls.count(i)) {
          EXPECT_TRUE(d.contains("id") && d["function"].contains("name")) << "first delta of a call: " << d;
          calls[i] = {{"id", d["id"]}, {"type", d["type"]}, {"function", {{"name", d["function"]["name"]}, {"arguments", ""}}}};
        }
        calls[i]["function"]["arguments"] =
            calls[i]["function"]["arguments"].get<std::string>() + d["function"].value("arguments", "");
      }
    }
  }
  json out = json::array();
  for (auto& [i, call] : calls) out.push_back(call);
  return out;
}

class ServerTools : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<DemoServer>(); }
  static void TearDownTestSuite() { server_.reset(); }
  static std::unique_ptr<DemoServer> server_;
};
std::unique_ptr<DemoServer> ServerTools::server_;

TEST_F(ServerTools, RequiredGivesACallOfADeclaredFunctionWithValidArguments) {
  std::set<std::string> names;
  for (int seed = 1; seed <= 6; ++seed) {
    const json r = server_->post("/v1/chat/completions", request("required", seed));
    const json& choice = r["choices"][0];
    ASSERT_EQ(choice["finish_reason"], "tool_calls") << choice;
    EXPECT_TRUE(choice["message"]["content"].is_null()) << choice;
    ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u) << "one call unless parallel_tool_calls: " << choice;
    expect_valid_call(choice["message"]["tool_calls"][0]);
    names.insert(choice["message"]["tool_calls"][0]["function"]["name"].get<std::string>());
  }
  EXPECT_FALSE(names.empty());
}

TEST_F(ServerTools, ANamedFunctionIsTheOneCalled) {
  for (const char* name : {"get_weather", "get_time"}) {
    for (int seed = 1; seed <= 3; ++seed) {
      const json choice =
          server_->post("/v1/chat/completions", request({{"type", "function"}, {"function", {{"name", name}}}}, seed))["choices"][0];
      ASSERT_EQ(choice["finish_reason"], "tool_calls") << choice;
      ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u);
      EXPECT_EQ(choice["message"]["tool_calls"][0]["function"]["name"], name);
      expect_valid_call(choice["message"]["tool_calls"][0]);
    }
  }
}

TEST_F(ServerTools, StreamedCallsAddUpToTheUnstreamedOnes) {
  for (int seed = 1; seed <= 3; ++seed) {
    const json whole = server_->post("/v1/chat/completions", request("required", seed))["choices"][0];
    std::string finish;
    const json calls = streamed_calls(server_->post_stream("/v1/chat/completions", request("required", seed)), finish);
    EXPECT_EQ(finish, "tool_calls");
    ASSERT_EQ(calls.size(), whole["message"]["tool_calls"].size());
    for (size_t i = 0; i < calls.size(); ++i) {
      EXPECT_EQ(calls[i]["function"], whole["message"]["tool_calls"][i]["function"]);
      expect_valid_call(calls[i]);
    }
  }
}

TEST_F(ServerTools, AutoAnswersWithACallOrText) {
  for (int seed = 1; seed <= 4; ++seed) {
    const json choice = server_->post("/v1/chat/completions", request("auto", seed))["choices"][0];
    const json& message = choice["message"];
    if (message.contains("tool_calls")) {
      EXPECT_EQ(choice["finish_reason"], "tool_calls");
      for (const json& call : message["tool_calls"]) expect_valid_call(call);
    } else {
      ASSERT_TRUE(message["content"].is_string()) << choice;
      EXPECT_EQ(message["content"].get<std::string>().find("tool_calls"), std::string::npos) << "the JSON form is read, not shown";
    }
  }
}

TEST_F(ServerTools, CallsAndResultsReachThePrompt) {
  const json call = {{"id", "call_abc"}, {"type", "function"},
                     {"function", {{"name", "get_weather"}, {"arguments", R"({"city": "Oslo", "unit": "celsius"})"}}}};
  json messages = kUser;
  const json before = server_->post("/v1/chat/completions", request("auto", 1))["usage"];
  messages.push_back({{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array({call})}});
  messages.push_back({{"role", "tool"}, {"tool_call_id", "call_abc"}, {"content", R"({"temperature": -3})"}});
  json body = request("auto", 1);
  body["messages"] = messages;
  const json after = server_->post("/v1/chat/completions", body)["usage"];
  // The call and its result are in the prompt: at least their JSON's bytes in tokens.
  EXPECT_GT(after["prompt_tokens"].get<int>(), before["prompt_tokens"].get<int>() + 10) << before << after;
}

TEST_F(ServerTools, ToolChoiceNoneLeavesTheToolsOut) {
  json with_tools = request("none", 1);
  json without = with_tools;
  without.erase("tools");
  without.erase("tool_choice");
  const json a = server_->post("/v1/chat/completions", with_tools);
  const json b = server_->post("/v1/chat/completions", without);
  EXPECT_EQ(a["usage"]["prompt_tokens"], b["usage"]["prompt_tokens"]);
  EXPECT_EQ(a["choices"][0]["message"], b["choices"][0]["message"]);
  EXPECT_FALSE(a["choices"][0]["message"].contains("tool_calls"));
  // A conversation with earlier calls and results is answered without tools too.
  json later = with_tools;
  later["messages"].push_back({{"role", "assistant"}, {"content", nullptr},
                               {"tool_calls", json::array({{{"id", "call_1"}, {"type", "function"},
                                                            {"function", {{"name", "get_time"}, {"arguments", R"({"offset": 1})"}}}}})}});
  later["messages"].push_back({{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "13:00"}});
  const json c = server_->post("/v1/chat/completions", later);
  EXPECT_TRUE(c["choices"][0]["message"]["content"].is_string()) << c;
  EXPECT_GT(c["usage"]["prompt_tokens"].get<int>(), a["usage"]["prompt_tokens"].get<int>());
}

// A server whose chat template has its own call syntax (from ../shared/testdata).
class ServerNativeTools : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(ServerNativeTools, CallsAreWrittenInTheTemplatesSyntaxAndReadBack) {
  ENTROPIX_REQUIRE_TESTDATA();
  const auto [file, marker] = GetParam();
  server::ServerOptions o = demo_server_options();
  o.chat_template = read_file(testdata_dir() / "chat-templates" / file);
  DemoServer server(o);
  for (int seed = 1; seed <= 3; ++seed) {
    const json choice = server.post("/v1/chat/completions", request("required", seed))["choices"][0];
    ASSERT_EQ(choice["finish_reason"], "tool_calls") << choice;
    ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u) << choice;
    expect_valid_call(choice["message"]["tool_calls"][0]);
    std::string raw;
    for (const json& t : choice["entropix"]) raw += t["token"].get<std::string>();
    EXPECT_NE(raw.find(marker), std::string::npos) << "written in the template's syntax: " << raw;
    std::string finish;
    const json streamed = streamed_calls(server.post_stream("/v1/chat/completions", request("required", seed)), finish);
    EXPECT_EQ(finish, "tool_calls");
    ASSERT_EQ(streamed.size(), 1u);
    EXPECT_EQ(streamed[0]["function"], choice["message"]["tool_calls"][0]["function"]);
  }
}

INSTANTIATE_TEST_SUITE_P(Templates, ServerNativeTools,
                         ::testing::Values(std::make_pair("Qwen-Qwen2.5-7B-Instruct.jinja", "<tool_call>"),
                                           std::make_pair("meta-llama-Llama-3.1-8B-Instruct.jinja", "\"parameters\"")),
                         [](const auto& info) { return std::string(info.index == 0 ? "Hermes" : "Llama3Json"); });

}  // namespace
