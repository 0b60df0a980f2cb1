// Grammars of tool calls: every call form the grammar allows is one parse_tool_calls
// reads back (checked with write_tool_calls, the independent writer of each format's
// syntax), undeclared functions and arguments outside their schema are refused, and
// the generic JSON form of templates without call syntax reads back the same whole
// and streamed, split anywhere.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "chat/generic_tool_calls.h"
#include "chat/tool_call_grammar.h"
#include "chat/tool_calls.h"
#include "grammar/gbnf_parser.h"
#include "grammar/gbnf_writer.h"
#include "grammar/grammar_matcher.h"
#include "grammar/json_schema_grammar.h"

namespace entropix {
namespace {

using ordered_json = nlohmann::ordered_json;

bool matches(const std::string& gbnf, std::string_view text) {
  auto g = std::make_shared<const grammar::Grammar>(grammar::parse_gbnf(gbnf, "test"));
  grammar::GrammarMatcher m(g);
  return m.accept(text) && m.accepting();
}

const ordered_json kWeather = ordered_json::parse(R"({"type": "object",
  "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
  "required": ["city", "unit"], "additionalProperties": false})");
const ordered_json kTime = ordered_json::parse(R"({"type": "object",
  "properties": {"tz": {"type": "string"}, "offset": {"type": "integer", "minimum": -12, "maximum": 14}},
  "required": ["tz"], "additionalProperties": false})");

std::vector<ToolGrammarFunction> functions() {
  return {{"get_weather", json_schema_to_gbnf(kWeather)}, {"get_time", json_schema_to_gbnf(kTime)}};
}

const ToolCall kWeatherCall{"", "get_weather", R"({"city": "Paris", "unit": "c"})"};
const ToolCall kTimeCall{"", "get_time", R"({"tz": "Europe/Paris", "offset": 1})"};

TEST(GbnfPrefix, RenamesRulesButNotLiteralsClassesOrCounts) {
  const std::string text = "root ::= item{2,3} \"root item\" [a-z] x-y\nitem ::= \"i\" | [0-9]+\nx-y ::= \"z\"\n";
  EXPECT_EQ(gbnf_with_prefix(text, "p-"),
            "p-root ::= p-item{2,3} \"root item\" [a-z] p-x-y\np-item ::= \"i\" | [0-9]+\np-x-y ::= \"z\"\n");
  // The prefixed grammar takes what the original takes.
  const std::string schema = json_schema_to_gbnf(kTime);
  const std::string prefixed = "root ::= q-root\n" + gbnf_with_prefix(schema, "q-");
  for (const char* s : {R"({"tz": "UTC"})", R"({"tz":"UTC","offset":-12})", R"({"tz": "a", "offset": 15})", "{}"})
    EXPECT_EQ(matches(prefixed, s), matches(schema, s)) << s;
}

class NativeFormats : public ::testing::TestWithParam<ToolCallFormat> {};

TEST_P(NativeFormats, EveryWrittenCallIsTakenAndReadBack) {
  const ToolCallFormat format = GetParam();
  const std::string single = tool_calls_gbnf(format, functions(), false);
  const std::string parallel = tool_calls_gbnf(format, functions(), true);
  for (const ToolCall& call : {kWeatherCall, kTimeCall}) {
    const std::string text = write_tool_calls(format, {call});
    EXPECT_TRUE(matches(single, text)) << text;
    EXPECT_TRUE(matches(parallel, text)) << text;
    const ParsedToolCalls back = parse_tool_calls(format, text, 1);
    ASSERT_EQ(back.calls.size(), 1u) << text;
    EXPECT_EQ(back.calls[0].name, call.name);
    EXPECT_EQ(ordered_json::parse(back.calls[0].arguments), ordered_json::parse(call.arguments));
    EXPECT_EQ(back.content, "");
  }
  const std::string two = write_tool_calls(format, {kWeatherCall, kTimeCall});
  EXPECT_TRUE(matches(parallel, two)) << two;
  EXPECT_FALSE(matches(single, two)) << "one call only without parallel_tool_calls: " << two;
  EXPECT_EQ(parse_tool_calls(format, two, 1).calls.size(), 2u);
}

TEST_P(NativeFormats, UndeclaredFunctionsAndArgumentsOutsideTheSchemaAreRefused) {
  const ToolCallFormat format = GetParam();
  const std::string g = tool_calls_gbnf(format, functions(), true);
  for (const ToolCall& bad : {ToolCall{"", "get_wether", R"({"city": "Paris", "unit": "c"})"},
                              ToolCall{"", "get_weather", R"({"city": "Paris"})"},
                              ToolCall{"", "get_weather", R"({"city": "Paris", "unit": "k"})"},
                              ToolCall{"", "get_time", R"({"tz": "UTC", "offset": 15})"},
                              ToolCall{"", "get_time", R"({"tz": "UTC", "extra": 1})"}}) {
    const std::string text = write_tool_calls(format, {bad});
    EXPECT_FALSE(matches(g, text)) << text;
  }
  EXPECT_FALSE(matches(g, "")) << "a call is required";
  EXPECT_FALSE(matches(g, "Sure! " + write_tool_calls(format, {kWeatherCall})));
  // Only the named function, when one is named.
  const std::string named = tool_calls_gbnf(format, {functions()[1]}, false);
  EXPECT_TRUE(matches(named, write_tool_calls(format, {kTimeCall})));
  EXPECT_FALSE(matches(named, write_tool_calls(format, {kWeatherCall})));
}

TEST_P(NativeFormats, AutoWithAJsonReplyTakesACallOrTheReply) {
  const ToolCallFormat format = GetParam();
  const std::string reply = json_schema_to_gbnf(ordered_json::parse(R"({"type": "object",
      "properties": {"answer": {"type": "integer"}}, "required": ["answer"]})"));
  const std::string g = either_gbnf(tool_calls_gbnf(format, functions(), false), reply);
  EXPECT_TRUE(matches(g, write_tool_calls(format, {kTimeCall})));
  EXPECT_TRUE(matches(g, R"({"answer": 42})"));
  EXPECT_FALSE(matches(g, R"({"answer": "42"})"));
}

INSTANTIATE_TEST_SUITE_P(ToolGrammar, NativeFormats,
                         ::testing::Values(ToolCallFormat::Llama3Json, ToolCallFormat::Hermes, ToolCallFormat::Mistral,
                                           ToolCallFormat::Granite, ToolCallFormat::DeepSeekR1),
                         [](const auto& info) {
                           std::string name = tool_call_format_name(info.param);
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

TEST(GenericToolForm, GrammarTakesCallsOrAReply) {
  const std::string required = generic_tool_gbnf(functions(), false, "");
  const std::string any = generic_tool_gbnf(functions(), true, string_response_gbnf());
  const std::string one = R"({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "f"}}]})";
  const std::string two = R"({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "f"}}, )"
                          R"({"name": "get_time", "arguments": {"tz": "UTC"}}]})";
  EXPECT_TRUE(matches(required, one));
  EXPECT_FALSE(matches(required, two));
  EXPECT_FALSE(matches(required, R"({"response": "hi"})"));
  EXPECT_TRUE(matches(any, two));
  EXPECT_TRUE(matches(any, R"({"response": "it is \"sunny\"\n"})"));
  EXPECT_FALSE(matches(any, R"({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})"));
  EXPECT_FALSE(matches(any, R"({"tool_calls": []})"));
}

TEST(GenericToolForm, AnswersReadBack) {
  ParsedToolCalls calls = parse_generic_tool_answer(
      R"({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "f"}}, {"name": "get_time", "arguments": {"tz": "UTC"}}]})",
      7);
  ASSERT_EQ(calls.calls.size(), 2u);
  EXPECT_EQ(calls.calls[0].name, "get_weather");
  EXPECT_EQ(calls.calls[0].arguments, R"({"city":"Oslo","unit":"f"})");
  EXPECT_EQ(calls.calls[1].name, "get_time");
  EXPECT_EQ(calls.calls[0].id.rfind("call_", 0), 0u);
  EXPECT_NE(calls.calls[0].id, calls.calls[1].id);
  EXPECT_EQ(parse_generic_tool_answer(R"({"tool_calls": [{"name": "get_time", "arguments": {"tz": "UTC"}}]})", 7).calls[0].id,
            calls.calls[0].id)
      << "the same seed, the same ids";
  EXPECT_EQ(parse_generic_tool_answer(R"({"response": "caf\u00e9 \ud83d\ude00 \"q\"\n"})", 1).content,
            "caf\xC3\xA9 \xF0\x9F\x98\x80 \"q\"\n");
  EXPECT_EQ(parse_generic_tool_answer(R"({"response": {"answer": 4}})", 1).content, R"({"answer":4})");
  EXPECT_EQ(parse_generic_tool_answer(R"({"response": "cut sho)", 1).content, "cut sho") << "cut by max_tokens";
  EXPECT_EQ(parse_generic_tool_answer("plain words", 1).content, "plain words");
  const ParsedToolCalls bad = parse_generic_tool_answer(R"({"tool_calls": [{"name": "f", "arguments": "x"}]})", 1);
  EXPECT_TRUE(bad.calls.empty());
  EXPECT_EQ(bad.content, R"({"tool_calls": [{"name": "f", "arguments": "x"}]})");
}

TEST(GenericToolForm, StreamedInAnyPiecesEqualsWhole) {
  std::mt19937 rng(5);
  const std::vector<std::string> answers = {
      R"({"response": "caf\u00e9 \ud83d\ude00 and \"quotes\" \\ done"})",
      R"({"tool_calls": [{"name": "get_time", "arguments": {"tz": "UTC"}}]})",
      R"({"response": {"answer": 4}})",
      R"({"respon)",
      "\xFF\xFE not json",
  };
  for (const std::string& text : answers) {
    const ParsedToolCalls whole = parse_generic_tool_answer(text, 3);
    for (int trial = 0; trial < 50; ++trial) {
      GenericToolStream stream(3);
      std::vector<ToolCallStreamEvent> events;
      for (size_t at = 0; at < text.size();) {
        const size_t n = std::min<size_t>(text.size() - at, 1 + rng() % 5);
        for (auto& e : stream.feed(std::string_view(text).substr(at, n))) events.push_back(std::move(e));
        at += n;
      }
      for (auto& e : stream.finish()) events.push_back(std::move(e));
      const ParsedToolCalls streamed = collect_tool_call_events(events);
      EXPECT_EQ(streamed.content, whole.content) << text;
      ASSERT_EQ(streamed.calls.size(), whole.calls.size());
      for (size_t i = 0; i < whole.calls.size(); ++i) {
        EXPECT_EQ(streamed.calls[i].id, whole.calls[i].id);
        EXPECT_EQ(streamed.calls[i].arguments, whole.calls[i].arguments);
      }
    }
  }
}

TEST(GenericToolForm, ConversationCarriesToolsCallsAndResultsAsText) {
  const ordered_json tools = ordered_json::parse(
      R"([{"type": "function", "function": {"name": "get_time", "description": "The time", "parameters": {"type": "object"}}}])");
  nlohmann::json calls = nlohmann::json::parse(
      R"([{"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\": \"UTC\"}"}}])");
  const std::vector<ChatMessage> messages = {{"user", "What time is it?", nullptr, "", ""},
                                             {"assistant", "", calls, "", ""},
                                             {"tool", "{\"time\": \"12:00\"}", nullptr, "", "call_1"},
                                             {"tool", "not json", nullptr, "get_time", "call_2"}};
  const std::vector<ChatMessage> out = generic_tool_messages(messages, tools, ToolDemand::CallNamed, "get_time");
  ASSERT_EQ(out.size(), 3u) << "the two results are one user turn";
  EXPECT_EQ(out[0].role, "user");
  EXPECT_NE(out[0].content.find(R"({"name":"get_time","description":"The time","parameters":{"type":"object"}})"),
            std::string::npos)
      << out[0].content;
  EXPECT_NE(out[0].content.find("Call get_time now."), std::string::npos);
  EXPECT_NE(out[0].content.find("What time is it?"), std::string::npos);
  EXPECT_EQ(out[1].role, "assistant");
  EXPECT_EQ(ordered_json::parse(out[1].content),
            ordered_json::parse(R"({"tool_calls": [{"name": "get_time", "arguments": {"tz": "UTC"}, "id": "call_1"}]})"));
  EXPECT_TRUE(out[1].tool_calls.is_null());
  EXPECT_EQ(out[2].role, "user");
  EXPECT_EQ(out[2].content,
            "{\"tool_response\":{\"tool_call_id\":\"call_1\",\"content\":{\"time\":\"12:00\"}}}\n"
            "{\"tool_response\":{\"tool_call_id\":\"call_2\",\"name\":\"get_time\",\"content\":\"not json\"}}");
  // Without tools now, earlier calls and results are still written in the JSON form, with no instructions.
  const std::vector<ChatMessage> no_tools = generic_tool_messages(messages, nullptr, ToolDemand::Choose, "");
  ASSERT_EQ(no_tools.size(), 3u);
  EXPECT_EQ(no_tools[0].content, "What time is it?");
  EXPECT_EQ(no_tools[1].content, out[1].content);
  EXPECT_EQ(no_tools[2].content, out[2].content);
  // With a system message, the instructions go there.
  const std::vector<ChatMessage> with_system =
      generic_tool_messages({{"system", "Be brief.", nullptr, "", ""}, messages[0]}, tools, ToolDemand::Choose, "");
  EXPECT_EQ(with_system[0].content.rfind("Be brief.\n\nYou can call these tools", 0), 0u);
  EXPECT_NE(with_system[0].content.find("{\"response\": <your answer>}"), std::string::npos);
  EXPECT_EQ(with_system[1].content, "What time is it?");
}

}  // namespace
}  // namespace entropix
