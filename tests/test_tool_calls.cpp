// Tool calls: each real template's call syntax recognised; tool conversations rendered
// through every template byte for byte as python3-jinja2 renders them (contexts built by
// tool_template_context from OpenAI messages in tests/data/chat/tool_conversations.json);
// model answers parsed against hand-written expectations; the streaming parser checked
// against the whole-answer parse over random splits; grammar-forced calls read back.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "chat/json_prefix.h"
#include "chat/tool_call_format.h"
#include "chat/tool_call_stream.h"
#include "chat/tool_calls.h"
#include "chat/tool_template_context.h"
#include "core/error.h"
#include "sampling/rng.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;
using entropix::ParsedToolCalls;
using entropix::ToolCall;
using entropix::ToolCallFormat;
using ordered_json = nlohmann::ordered_json;

const std::vector<std::pair<const char*, ToolCallFormat>> kTemplateFormats = {
    {"meta-llama-Llama-3.1-8B-Instruct", ToolCallFormat::Llama3Json},
    {"meta-llama-Llama-3.2-3B-Instruct", ToolCallFormat::Llama3Json},
    {"Qwen-Qwen2.5-7B-Instruct", ToolCallFormat::Hermes},
    {"Qwen-Qwen3-0.6B", ToolCallFormat::Hermes},
    {"HuggingFaceTB-SmolLM3-3B", ToolCallFormat::None},  // Unsloth's template: tools never shown
    {"Mistral-Small-3.2-24B-Instruct-2506", ToolCallFormat::Mistral},
    {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B", ToolCallFormat::DeepSeekR1},
    {"google-gemma-2-2b-it", ToolCallFormat::None},
    {"ibm-granite-granite-3.3-2B-Instruct", ToolCallFormat::Granite},
    {"microsoft-Phi-3.5-mini-instruct", ToolCallFormat::None},
};

const ToolCallFormat kFormats[] = {ToolCallFormat::Llama3Json, ToolCallFormat::Hermes, ToolCallFormat::Mistral,
                                   ToolCallFormat::Granite, ToolCallFormat::DeepSeekR1};

fs::path template_path(const std::string& name) {
  return entropix::testing::testdata_dir() / "chat-templates" / (name + ".jinja");
}

std::string safe_name(std::string n) {
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

// ---- detection ----

TEST(ToolCallFormat, DetectedFromEachRealTemplate) {
  for (const auto& [name, expected] : kTemplateFormats) {
    const fs::path tpl = template_path(name);
    if (!fs::exists(tpl)) GTEST_SKIP() << "external chat template not found at " << tpl << " (set ENTROPIX_TESTDATA)";
    EXPECT_EQ(entropix::detect_tool_call_format(entropix::testing::read_file(tpl)), expected)
        << name << ": detected "
        << entropix::tool_call_format_name(entropix::detect_tool_call_format(entropix::testing::read_file(tpl)));
  }
}

TEST(ToolCallFormat, DetectedFromMarkers) {
  using entropix::detect_tool_call_format;
  EXPECT_EQ(detect_tool_call_format("{{ '<tool_call>\\n' }}"), ToolCallFormat::Hermes);
  EXPECT_EQ(detect_tool_call_format("{{ '<|tool_call|>' }}"), ToolCallFormat::Granite);
  EXPECT_EQ(detect_tool_call_format("{{ '[TOOL_CALLS]' + name }}"), ToolCallFormat::Mistral);
  EXPECT_EQ(detect_tool_call_format("{{'<｜tool▁calls▁begin｜>'}}"), ToolCallFormat::DeepSeekR1);
  EXPECT_EQ(detect_tool_call_format("{% if message.tool_calls %}{{ '\"parameters\": ' }}{% endif %}"),
            ToolCallFormat::Llama3Json);
  EXPECT_EQ(detect_tool_call_format("{% for m in messages %}{{ m.content }}{% endfor %}"), ToolCallFormat::None);
}

// ---- rendering tool conversations, against python3-jinja2 ----

entropix::ChatMessage chat_message(const ordered_json& m) {
  entropix::ChatMessage msg;
  msg.role = m.at("role");
  if (m.contains("content") && m["content"].is_string()) msg.content = m["content"];
  if (m.contains("tool_calls")) msg.tool_calls = nlohmann::json::parse(m["tool_calls"].dump());
  if (m.contains("name")) msg.name = m["name"];
  if (m.contains("tool_call_id")) msg.tool_call_id = m["tool_call_id"];
  return msg;
}

ordered_json tool_conversations() {
  return ordered_json::parse(entropix::testing::read_file(entropix::testing::source_dir() / "tests" / "data" / "chat" /
                                                          "tool_conversations.json"));
}

// Each conversation's context as tool_template_context builds it for this format, with a fixed date.
ordered_json contexts_for(ToolCallFormat format) {
  ordered_json cases = ordered_json::array();
  for (const ordered_json& conv : tool_conversations()) {
    std::vector<entropix::ChatMessage> messages;
    for (const ordered_json& m : conv["messages"]) messages.push_back(chat_message(m));
    ordered_json ctx = entropix::tool_template_context(messages, conv["tools"], format,
                                                       conv["add_generation_prompt"].get<bool>(), "<s>", "</s>");
    ctx["now"] = "2025-03-07T09:05:00";
    cases.push_back({{"name", conv["name"]}, {"context", std::move(ctx)}});
  }
  return cases;
}

class ToolConversationVsJinja2 : public ::testing::TestWithParam<std::pair<const char*, ToolCallFormat>> {};

TEST_P(ToolConversationVsJinja2, RendersByteForByte) {
  const fs::path tpl = template_path(GetParam().first);
  if (!fs::exists(tpl)) GTEST_SKIP() << "external chat template not found at " << tpl << " (set ENTROPIX_TESTDATA)";
  const std::string source = entropix::testing::read_file(tpl);
  const ordered_json cases = contexts_for(entropix::detect_tool_call_format(source));
  entropix::testing::TempDir dir;
  const fs::path cases_file = dir.path / "cases.json";
  std::ofstream(cases_file) << cases.dump();
  const entropix::testing::Jinja2Reference ref = entropix::testing::render_with_jinja2(tpl, cases_file);
  if (!ref.available) GTEST_SKIP() << ref.why_not;

  const entropix::ChatTemplate chat(source);
  const auto [rendered, errors] = entropix::testing::expect_renders_like_jinja2(chat, cases, ref);
  std::printf("%s: %d tool conversations rendered identically, %d rejected by both\n", GetParam().first, rendered,
              errors);
  // Templates with a tool syntax must render every tool conversation; the others may refuse some.
  if (GetParam().second != ToolCallFormat::None) {
    EXPECT_EQ(errors, 0) << "a template with tool syntax refused a tool conversation";
  }
}

INSTANTIATE_TEST_SUITE_P(RealTemplates, ToolConversationVsJinja2, ::testing::ValuesIn(kTemplateFormats),
                         [](const auto& info) { return safe_name(info.param.first); });

// The call as each template writes it into the prompt reads back as the same call: the
// parser and the templates agree on the syntax.
TEST(ToolConversation, TemplatesWriteCallsTheParserReads) {
  struct Case {
    const char* tpl;
    ToolCallFormat format;
    const char* from;  // the rendered call starts after the last of these
    const char* to;    // and ends before this
  };
  const Case cases[] = {
      {"meta-llama-Llama-3.1-8B-Instruct", ToolCallFormat::Llama3Json, "assistant<|end_header_id|>\n\n", "<|eot_id|>"},
      {"meta-llama-Llama-3.2-3B-Instruct", ToolCallFormat::Llama3Json, "assistant<|end_header_id|>\n\n", "<|eot_id|>"},
      {"Qwen-Qwen2.5-7B-Instruct", ToolCallFormat::Hermes, "<|im_start|>assistant", "<|im_end|>"},
      {"Qwen-Qwen3-0.6B", ToolCallFormat::Hermes, "<|im_start|>assistant\n", "<|im_end|>"},
      {"Mistral-Small-3.2-24B-Instruct-2506", ToolCallFormat::Mistral, "[/INST]", "</s>"},
      {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B", ToolCallFormat::DeepSeekR1, "<｜Assistant｜>",
       "<｜tool▁outputs▁begin｜>"},
  };
  const ordered_json convs = tool_conversations();
  const ordered_json& single = convs[2];
  ASSERT_EQ(single["name"], "single_call");
  for (const Case& c : cases) {
    const fs::path tpl = template_path(c.tpl);
    if (!fs::exists(tpl)) GTEST_SKIP() << "external chat template not found at " << tpl;
    const entropix::ChatTemplate chat(entropix::testing::read_file(tpl));
    ordered_json ctx = contexts_for(c.format)[2]["context"];
    ctx["add_generation_prompt"] = false;
    const std::string prompt = chat.render(ctx);
    const size_t from = prompt.rfind(c.from);
    ASSERT_NE(from, std::string::npos) << c.tpl;
    const size_t start = from + std::string(c.from).size();
    const size_t end = prompt.find(c.to, start);
    ASSERT_NE(end, std::string::npos) << c.tpl;
    const std::string turn = prompt.substr(start, end - start);
    const ParsedToolCalls p = entropix::parse_tool_calls(c.format, turn, 1);
    EXPECT_EQ(p.content, "") << c.tpl << ": " << turn;
    ASSERT_EQ(p.calls.size(), 1u) << c.tpl << ": " << turn;
    EXPECT_EQ(p.calls[0].name, "get_weather") << c.tpl;
    EXPECT_EQ(p.calls[0].arguments, R"({"city":"Zürich","days":2})") << c.tpl;
    if (c.format == ToolCallFormat::Mistral) {
      EXPECT_EQ(p.calls[0].id, entropix::mistral_tool_call_id("call_9fK2mQ7xL1pZ"));
    }
  }
}

TEST(ToolTemplateContext, ShapesMessagesPerFormat) {
  std::vector<entropix::ChatMessage> messages(3);
  messages[0].role = "user";
  messages[0].content = "Hi";
  messages[1].role = "assistant";
  messages[1].tool_calls = nlohmann::json::parse(R"([
    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"b\": 1, \"a\": [2]}"}},
    {"id": "call_2", "function": {"name": "g", "arguments": "not json"}}])");
  messages[2].role = "tool";
  messages[2].tool_call_id = "call_1";
  messages[2].content = "{\"ok\": true}";
  const ordered_json tools = ordered_json::parse(R"([{"type": "function", "function": {"name": "f"}}])");

  const ordered_json hermes = entropix::tool_template_context(messages, tools, ToolCallFormat::Hermes, true, "", "");
  EXPECT_EQ(hermes["messages"][1]["content"], "");
  EXPECT_EQ(hermes["messages"][1]["tool_calls"][0]["function"]["arguments"].dump(), R"({"b":1,"a":[2]})");
  EXPECT_EQ(hermes["messages"][1]["tool_calls"][1]["function"]["arguments"], "not json");
  EXPECT_EQ(hermes["messages"][1]["tool_calls"][1]["type"], "function");
  EXPECT_EQ(hermes["messages"][2]["content"], "{\"ok\": true}");
  EXPECT_EQ(hermes["tools"], tools);

  const ordered_json deepseek =
      entropix::tool_template_context(messages, tools, ToolCallFormat::DeepSeekR1, true, "", "");
  EXPECT_TRUE(deepseek["messages"][1]["content"].is_null());
  EXPECT_EQ(deepseek["messages"][1]["tool_calls"][0]["function"]["arguments"], "{\"b\": 1, \"a\": [2]}");

  const ordered_json llama = entropix::tool_template_context(messages, tools, ToolCallFormat::Llama3Json, true, "", "");
  ASSERT_EQ(llama["messages"].size(), 4u);  // the two parallel calls in two assistant messages
  EXPECT_EQ(llama["messages"][1]["tool_calls"][0]["function"]["name"], "f");
  EXPECT_EQ(llama["messages"][2]["tool_calls"][0]["function"]["name"], "g");
  EXPECT_EQ(llama["messages"][3]["content"].dump(), R"({"ok":true})");

  const ordered_json mistral =
      entropix::tool_template_context(messages, nullptr, ToolCallFormat::Mistral, false, "", "");
  const std::string id = entropix::mistral_tool_call_id("call_1");
  EXPECT_EQ(mistral["messages"][1]["tool_calls"][0]["id"], id);
  EXPECT_EQ(mistral["messages"][2]["tool_call_id"], id);
  EXPECT_TRUE(mistral["tools"].is_null());
  EXPECT_TRUE(
      entropix::tool_template_context(messages, ordered_json::array(), ToolCallFormat::Hermes, true, "", "")["tools"]
          .is_null());
}

TEST(ToolTemplateContext, MistralIds) {
  EXPECT_EQ(entropix::mistral_tool_call_id("abcDEF123"), "abcDEF123");
  const std::string id = entropix::mistral_tool_call_id("call_9fK2mQ7xL1pZ");
  EXPECT_EQ(id.size(), 9u);
  for (char c : id) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << id;
  EXPECT_EQ(id, entropix::mistral_tool_call_id("call_9fK2mQ7xL1pZ"));
  EXPECT_NE(id, entropix::mistral_tool_call_id("call_9fK2mQ7xL1pY"));
}

// ---- parsing finished answers ----

struct Expected {
  std::string content;
  std::vector<std::pair<std::string, std::string>> calls;  // name, compact arguments
};

void expect_parse(ToolCallFormat format, const std::string& text, const Expected& want) {
  const ParsedToolCalls got = entropix::parse_tool_calls(format, text, 7);
  EXPECT_EQ(got.content, want.content) << entropix::tool_call_format_name(format) << " on: " << text;
  ASSERT_EQ(got.calls.size(), want.calls.size()) << entropix::tool_call_format_name(format) << " on: " << text;
  for (size_t i = 0; i < want.calls.size(); ++i) {
    EXPECT_EQ(got.calls[i].name, want.calls[i].first) << text;
    EXPECT_EQ(got.calls[i].arguments, want.calls[i].second) << text;
  }
}

TEST(ParseToolCalls, Hermes) {
  const auto F = ToolCallFormat::Hermes;
  expect_parse(
      F, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\", \"days\": 2}}\n</tool_call>",
      {"", {{"get_weather", R"({"city":"Zürich","days":2})"}}});
  expect_parse(F,
               "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"arguments\": {\"x\": "
               "[1, {\"y\": null}]}, \"name\": \"b\"}\n</tool_call>\n",
               {"", {{"a", "{}"}, {"b", R"({"x":[1,{"y":null}]})"}}});
  expect_parse(F, "I'll check.\n\n<tool_call>{\"name\":\"a\",\"arguments\":{\"k\":\"v\"}}</tool_call>",
               {"I'll check.\n\n", {{"a", R"({"k":"v"})"}}});
  expect_parse(F, "<think>\nNeed weather.\n</think>\n\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>",
               {"<think>\nNeed weather.\n</think>\n\n", {{"a", "{}"}}});
  // Missing closing tag at the very end: still a call.
  expect_parse(F, "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"n\": 1}}\n", {"", {{"a", R"({"n":1})"}}});
  // Arguments given as JSON text, or left out.
  expect_parse(F, "<tool_call>{\"name\": \"a\", \"arguments\": \"{\\\"n\\\": 1}\"}</tool_call>",
               {"", {{"a", R"({"n":1})"}}});
  expect_parse(F, "<tool_call>{\"name\": \"now\"}</tool_call>", {"", {{"now", "{}"}}});
  // Text after a call is content (the whitespace before it too).
  expect_parse(F, "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n\nDone.", {"\n\nDone.", {{"a", "{}"}}});
  // Malformed calls stay text, and a good call after them is still read.
  const std::string bad = "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": }\n</tool_call>";
  expect_parse(F, bad, {bad, {}});
  expect_parse(F, bad + "<tool_call>{\"name\": \"b\", \"arguments\": {}}</tool_call>", {bad, {{"b", "{}"}}});
  expect_parse(F, "<tool_call>{\"arguments\": {}}</tool_call>", {"<tool_call>{\"arguments\": {}}</tool_call>", {}});
  expect_parse(F, "<tool_call>{\"name\": \"a\", \"arguments\": [1]}</tool_call>",
               {"<tool_call>{\"name\": \"a\", \"arguments\": [1]}</tool_call>", {}});
  expect_parse(F, "<tool_call>{\"name\": \"a\", \"arguments\": {}} trailing</tool_call>",
               {"<tool_call>{\"name\": \"a\", \"arguments\": {}} trailing</tool_call>", {}});
  expect_parse(F, "<tool_call>{\"name\": \"a\", \"arguments\": {\"open\": 1",
               {"<tool_call>{\"name\": \"a\", \"arguments\": {\"open\": 1", {}});
  expect_parse(F, "Use <tool_call> tags.", {"Use <tool_call> tags.", {}});
  expect_parse(F, "a < b and <tool_ x", {"a < b and <tool_ x", {}});
  expect_parse(F, "", {"", {}});
  expect_parse(F, "  \n", {"  \n", {}});
}

TEST(ParseToolCalls, Llama3Json) {
  const auto F = ToolCallFormat::Llama3Json;
  expect_parse(F, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}",
               {"", {{"get_weather", R"({"city":"Paris"})"}}});
  expect_parse(F, "\n {\"type\": \"function\", \"name\": \"a\", \"parameters\": {\"n\": 1.5}}",
               {"", {{"a", R"({"n":1.5})"}}});
  expect_parse(F, "<|python_tag|>{\"name\": \"a\", \"parameters\": {}}", {"", {{"a", "{}"}}});
  expect_parse(F, "Let me see.<|python_tag|>{\"name\": \"a\", \"arguments\": {\"q\": \"x\"}}",
               {"Let me see.", {{"a", R"({"q":"x"})"}}});
  // Several calls, separated by ';' or whitespace.
  expect_parse(F, "{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {\"x\": true}}\n",
               {"", {{"a", "{}"}, {"b", R"({"x":true})"}}});
  // JSON that is not a call is the answer; a call-shaped object inside prose is too.
  expect_parse(F, "{\"name\": \"Ada\", \"age\": 36}", {"{\"name\": \"Ada\", \"age\": 36}", {}});
  expect_parse(F, "The call is {\"name\": \"a\", \"parameters\": {}}",
               {"The call is {\"name\": \"a\", \"parameters\": {}}", {}});
  expect_parse(F, "{\"name\": \"a\", \"parameters\": {}} and more", {" and more", {{"a", "{}"}}});
  expect_parse(F, "{ not json at all", {"{ not json at all", {}});
  expect_parse(F, "<|python_tag|>brave_search.call(query=\"x\")", {"<|python_tag|>brave_search.call(query=\"x\")", {}});
}

TEST(ParseToolCalls, Mistral) {
  const auto F = ToolCallFormat::Mistral;
  expect_parse(F, "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}", {"", {{"get_weather", R"({"city":"Paris"})"}}});
  expect_parse(F, "[TOOL_CALLS]a[ARGS]{}[TOOL_CALLS]b[ARGS]{\"n\": [1, 2]}",
               {"", {{"a", "{}"}, {"b", R"({"n":[1,2]})"}}});
  expect_parse(F, "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {\"x\": 1}}, {\"name\": \"b\", \"arguments\": {}}]",
               {"", {{"a", R"({"x":1})"}, {"b", "{}"}}});
  expect_parse(F, "Sure.[TOOL_CALLS]get_time[ARGS]{}", {"Sure.", {{"get_time", "{}"}}});
  expect_parse(F, "[TOOL_CALLS]a b[ARGS]{}", {"[TOOL_CALLS]a b[ARGS]{}", {}});
  expect_parse(F, "[TOOL_CALLS]a[ARGS]{\"x\": nope}", {"[TOOL_CALLS]a[ARGS]{\"x\": nope}", {}});
  expect_parse(F, "[TOOL_CALLS][]", {"[TOOL_CALLS][]", {}});
  expect_parse(F, "[TOOL_CALLS]", {"[TOOL_CALLS]", {}});
  // The model's own id is kept.
  const ParsedToolCalls p = entropix::parse_tool_calls(F, "[TOOL_CALLS]a[CALL_ID]abcDEF123[ARGS]{}", 1);
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].id, "abcDEF123");
  EXPECT_EQ(p.content, "");
}

TEST(ParseToolCalls, Granite) {
  const auto F = ToolCallFormat::Granite;
  expect_parse(F, "<|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]",
               {"", {{"get_weather", R"({"city":"Paris"})"}}});
  expect_parse(F, "<|tool_call|> [{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"arguments\": {\"k\": 0}}]",
               {"", {{"a", "{}"}, {"b", R"({"k":0})"}}});
  expect_parse(F, "<|tool_call|>{\"name\": \"a\"}", {"<|tool_call|>{\"name\": \"a\"}", {}});
}

TEST(ParseToolCalls, DeepSeekR1) {
  const auto F = ToolCallFormat::DeepSeekR1;
  const std::string call_a =
      "<｜tool▁call▁begin｜>function<｜tool▁sep｜>a\n```json\n{\"x\": 1}\n```<｜tool▁call▁end｜>";
  const std::string call_b = "<｜tool▁call▁begin｜>function<｜tool▁sep｜>b\n```json\n{}\n```<｜tool▁call▁end｜>";
  expect_parse(F, "<think>\nok\n</think>\n\n<｜tool▁calls▁begin｜>" + call_a + "\n" + call_b + "<｜tool▁calls▁end｜>",
               {"<think>\nok\n</think>\n\n", {{"a", R"({"x":1})"}, {"b", "{}"}}});
  expect_parse(F, "<｜tool▁calls▁begin｜>" + call_a, {"", {{"a", R"({"x":1})"}}});
  expect_parse(F, "<｜tool▁calls▁begin｜>" + call_a + " then text", {" then text", {{"a", R"({"x":1})"}}});
  expect_parse(F, "<｜tool▁calls▁begin｜>nothing", {"<｜tool▁calls▁begin｜>nothing", {}});
  expect_parse(F, "<｜tool▁calls▁begin｜><｜tool▁calls▁end｜>", {"<｜tool▁calls▁begin｜><｜tool▁calls▁end｜>", {}});
}

TEST(ParseToolCalls, NoneIsAllContent) {
  const std::string text = "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>";
  expect_parse(ToolCallFormat::None, text, {text, {}});
}

TEST(ParseToolCalls, IdsAreOpenAiShapedAndSeeded) {
  const std::string text =
      "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call><tool_call>{\"name\": \"b\", \"arguments\": "
      "{}}</tool_call>";
  const ParsedToolCalls p = entropix::parse_tool_calls(ToolCallFormat::Hermes, text, 42);
  ASSERT_EQ(p.calls.size(), 2u);
  for (const ToolCall& c : p.calls) {
    ASSERT_EQ(c.id.size(), 29u) << c.id;
    EXPECT_EQ(c.id.substr(0, 5), "call_");
    for (char ch : c.id.substr(5)) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch))) << c.id;
  }
  EXPECT_NE(p.calls[0].id, p.calls[1].id);
  EXPECT_EQ(entropix::parse_tool_calls(ToolCallFormat::Hermes, text, 42).calls[1].id, p.calls[1].id);
  EXPECT_NE(entropix::parse_tool_calls(ToolCallFormat::Hermes, text, 43).calls[0].id, p.calls[0].id);
  entropix::Rng rng(5);
  const std::string mistral = entropix::new_tool_call_id(ToolCallFormat::Mistral, rng);
  EXPECT_EQ(mistral.size(), 9u);
  EXPECT_EQ(mistral, entropix::mistral_tool_call_id(mistral));  // the template accepts it as it is
}

TEST(ParseToolCalls, OpenAiShape) {
  const ordered_json j = entropix::openai_tool_calls({{"call_x", "f", "{\"a\":1}"}});
  EXPECT_EQ(j.dump(), R"([{"id":"call_x","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}])");
}

TEST(JsonExtent, FindsTheEndOrRejectsEarly) {
  using entropix::JsonExtent;
  EXPECT_EQ(entropix::json_extent(R"({"a": [1, "}"]} tail)", 0).end, 15u);
  EXPECT_EQ(entropix::json_extent(R"({"a": [1, "}"]} tail)", 0).kind, JsonExtent::Complete);
  EXPECT_EQ(entropix::json_extent(R"({"a": "\u00e)", 0).kind, JsonExtent::Incomplete);
  EXPECT_EQ(entropix::json_extent(R"({"a": tru)", 0).kind, JsonExtent::Incomplete);
  EXPECT_EQ(entropix::json_extent(R"({"a": trap)", 0).kind, JsonExtent::Invalid);
  EXPECT_EQ(entropix::json_extent("{ not json", 0).kind, JsonExtent::Invalid);
  EXPECT_EQ(entropix::json_extent(R"({"a" 1})", 0).kind, JsonExtent::Invalid);
  EXPECT_EQ(entropix::json_extent(R"([1 2])", 0).kind, JsonExtent::Invalid);
  EXPECT_EQ(entropix::json_extent(std::string(200, '['), 0).kind, JsonExtent::Invalid);  // too deep
}

// ---- grammar-forced calls ----

TEST(ForcedToolCalls, WrittenCallsParseBack) {
  const std::vector<ToolCall> calls = {{"", "get_weather", R"({"city":"Zürich","days":2})"},
                                       {"", "get_time", "{}"},
                                       {"", "nested", R"({"a":{"b":[1,"x</tool_call>"]}})"}};
  for (ToolCallFormat f : kFormats) {
    for (size_t n = 1; n <= calls.size(); ++n) {
      const std::vector<ToolCall> some(calls.begin(), calls.begin() + n);
      const std::string text = entropix::write_tool_calls(f, some);
      const ParsedToolCalls p = entropix::parse_tool_calls(f, text, 3);
      EXPECT_EQ(p.content, "") << entropix::tool_call_format_name(f) << ": " << text;
      ASSERT_EQ(p.calls.size(), n) << entropix::tool_call_format_name(f) << ": " << text;
      for (size_t i = 0; i < n; ++i) {
        EXPECT_EQ(p.calls[i].name, some[i].name);
        EXPECT_EQ(p.calls[i].arguments, some[i].arguments);
      }
    }
  }
  EXPECT_THROW(entropix::write_tool_calls(ToolCallFormat::None, calls), entropix::Error);
  EXPECT_THROW(entropix::write_tool_calls(ToolCallFormat::Hermes, {{"", "f", "[1]"}}), entropix::Error);
}

// The syntax as a grammar builder reads it, assembled by hand with other spacing in the JSON.
TEST(ForcedToolCalls, SyntaxFieldsDescribeWhatParses) {
  for (ToolCallFormat f : kFormats) {
    const entropix::ToolCallSyntax s = entropix::tool_call_syntax(f);
    auto call = [&](const std::string& name, const std::string& args) {
      if (s.name_in_json)
        return s.call_open + "{ \"name\" : \"" + name + "\",\n  \"" + s.arguments_key + "\": " + args + " }" +
               s.call_close;
      return s.call_open + name + s.name_close + args + s.call_close;
    };
    const std::string text =
        s.block_open + call("f", "{\"x\" : [ 1 ]}") + s.call_separator + call("g", "{}") + s.block_close;
    expect_parse(f, text, {"", {{"f", R"({"x":[1]})"}, {"g", "{}"}}});
    ASSERT_FALSE(s.start_markers.empty());
    if (!s.json_at_start) {
      EXPECT_EQ(text.find(s.start_markers[0]), 0u) << "a forced call starts with the marker";
    }
  }
  EXPECT_EQ(entropix::tool_call_syntax(ToolCallFormat::Llama3Json).arguments_key, "parameters");
  EXPECT_EQ(entropix::tool_call_syntax(ToolCallFormat::Hermes).call_open, "<tool_call>\n");
  EXPECT_EQ(entropix::tool_call_syntax(ToolCallFormat::Hermes).call_close, "\n</tool_call>");
  EXPECT_THROW(entropix::tool_call_syntax(ToolCallFormat::None), entropix::Error);
}

// ---- streaming ----

struct Streamed {
  std::string content;
  std::vector<ToolCall> calls;
};

// Feeds the pieces, checks each delta's OpenAI shape, and joins the deltas back up.
Streamed stream(ToolCallFormat f, const std::vector<std::string>& pieces, uint64_t seed) {
  entropix::ToolCallStreamParser parser(f, seed);
  Streamed out;
  auto take = [&](const std::vector<entropix::ToolCallStreamEvent>& events) {
    for (const auto& e : events) {
      if (!e.is_call) {
        EXPECT_FALSE(e.content.empty());
        out.content += e.content;
        continue;
      }
      const ordered_json j = entropix::openai_tool_call_delta(e.call);
      if (e.call.first) {
        EXPECT_EQ(e.call.index, static_cast<int>(out.calls.size()));
        EXPECT_EQ(j["type"], "function");
        EXPECT_EQ(j["function"]["arguments"], "");
        out.calls.push_back({j["id"], j["function"]["name"], ""});
      } else {
        EXPECT_EQ(e.call.index + 1, static_cast<int>(out.calls.size()));
        EXPECT_FALSE(j.contains("id"));
        out.calls.at(e.call.index).arguments += j["function"]["arguments"].get<std::string>();
      }
    }
  };
  for (const std::string& piece : pieces) take(parser.feed(piece));
  take(parser.finish());
  EXPECT_EQ(parser.calls(), static_cast<int>(out.calls.size()));
  return out;
}

std::vector<std::string> random_split(const std::string& text, std::mt19937& rng) {
  std::vector<std::string> pieces;
  std::uniform_int_distribution<int> len(0, 7);
  for (size_t at = 0; at < text.size();) {
    const size_t n = std::min<size_t>(text.size() - at, len(rng));
    pieces.push_back(text.substr(at, n));
    at += n;
  }
  return pieces;
}

void expect_stream_matches_parse(ToolCallFormat f, const std::string& text, std::mt19937& rng) {
  const ParsedToolCalls whole = entropix::parse_tool_calls(f, text, 11);
  for (int split = 0; split < 8; ++split) {
    std::vector<std::string> pieces = split == 0 ? std::vector<std::string>{text} : random_split(text, rng);
    if (split == 1) {  // byte by byte
      pieces.clear();
      for (char c : text) pieces.emplace_back(1, c);
    }
    const Streamed s = stream(f, pieces, 11);
    ASSERT_EQ(s.content, whole.content) << entropix::tool_call_format_name(f) << " on: " << text;
    ASSERT_EQ(s.calls.size(), whole.calls.size()) << entropix::tool_call_format_name(f) << " on: " << text;
    for (size_t i = 0; i < s.calls.size(); ++i) {
      EXPECT_EQ(s.calls[i].id, whole.calls[i].id);
      EXPECT_EQ(s.calls[i].name, whole.calls[i].name);
      EXPECT_EQ(s.calls[i].arguments, whole.calls[i].arguments);
    }
  }
}

// Answers assembled from fragments: plain text, text near a marker, well-formed calls in
// the format and in others, calls broken in various ways, whitespace and separators.
std::string random_answer(ToolCallFormat f, std::mt19937& rng) {
  const entropix::ToolCallSyntax s = entropix::tool_call_syntax(f);
  const std::vector<ToolCall> calls = {{"", "get_weather", R"({"city":"Zürich","days":2})"},
                                       {"", "t", "{}"},
                                       {"", "q", R"({"s":"a \"quoted\" [TOOL_CALLS] <tool_call> }"})"}};
  std::vector<std::string> fragments = {
      "Hello",
      " world. ",
      "\n",
      "  ",
      "; ",
      "{",
      "}",
      "[",
      "<",
      "<tool_",
      "<|",
      "[TOOL",
      "<｜tool",
      "é",
      "{\"name\": \"x\"}",
      "{\"name\": \"a\", \"parameters\": {\"k\": 1}}",
      "{\"name\": \"a\", \"parameters\": {\"k\": ",
      "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>",
      "<tool_call>{bad}</tool_call>",
      "</tool_call>",
      "[TOOL_CALLS]f[ARGS]{}",
      "[TOOL_CALLS]f[ARGS]{",
      "[TOOL_CALLS][{\"name\": \"a\"}]",
      "<|python_tag|>",
      "<|tool_call|>[{\"name\": \"g\", \"arguments\": {}}]",
      "<｜tool▁calls▁begin｜>",
      "<｜tool▁calls▁end｜>",
      "<｜tool▁call▁begin｜>function<｜tool▁sep｜>d\n```json\n{}\n```<｜tool▁call▁end｜>"};
  for (const std::string& m : s.start_markers) fragments.push_back(m);
  std::uniform_int_distribution<size_t> pick(0, fragments.size() + 2);
  std::uniform_int_distribution<int> count(0, 6);
  std::string text;
  for (int i = count(rng); i > 0; --i) {
    const size_t k = pick(rng);
    if (k < fragments.size()) {
      text += fragments[k];
    } else {
      std::vector<ToolCall> some(calls.begin(), calls.begin() + 1 + (k - fragments.size()));
      std::string written = entropix::write_tool_calls(f, some);
      if (rng() % 4 == 0) written.resize(rng() % (written.size() + 1));  // cut short
      text += written;
    }
  }
  return text;
}

TEST(ToolCallStream, MatchesWholeParseOnTableCases) {
  std::mt19937 rng(1);
  const std::vector<std::pair<ToolCallFormat, std::string>> cases = {
      {ToolCallFormat::Hermes,
       "I'll check.\n\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"k\": \"v\"}}\n</tool_call>\n"
       "<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>"},
      {ToolCallFormat::Hermes, "<tool_call>{\"name\": \"a\", \"arguments\": {\"x\": }</tool_call> after"},
      {ToolCallFormat::Hermes, "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n"},
      {ToolCallFormat::Llama3Json,
       "  {\"name\": \"a\", \"parameters\": {\"n\": [1, 2]}};{\"name\": \"b\", \"parameters\": {}}"},
      {ToolCallFormat::Llama3Json,
       "Text first {\"name\": \"a\", \"parameters\": {}}<|python_tag|>{\"name\": \"b\", \"parameters\": {}}"},
      {ToolCallFormat::Mistral, "[TOOL_CALLS]a[CALL_ID]abcDEF123[ARGS]{\"x\": 1}[TOOL_CALLS]b[ARGS]{}"},
      {ToolCallFormat::Granite, "<|tool_call|>[{\"name\": \"a\", \"arguments\": {\"k\": [true, null]}}]"},
      {ToolCallFormat::DeepSeekR1,
       "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>a\n```json\n{}\n```<｜tool▁call▁end｜>\n\nok"},
  };
  for (const auto& [f, text] : cases) expect_stream_matches_parse(f, text, rng);
}

TEST(ToolCallStream, MatchesWholeParseOnRandomAnswers) {
  std::mt19937 rng(2024);
  for (ToolCallFormat f : kFormats)
    for (int i = 0; i < 400; ++i) expect_stream_matches_parse(f, random_answer(f, rng), rng);
}

// Random bytes: never a throw or a crash, and streaming still agrees.
TEST(ToolCallStream, MatchesWholeParseOnRandomBytes) {
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]\":,; \n<>|_/tolcaeTOLCAS0123456789\\u";
  for (ToolCallFormat f : kFormats)
    for (int i = 0; i < 300; ++i) {
      std::string text(rng() % 80, ' ');
      for (char& c : text) c = alphabet[rng() % alphabet.size()];
      expect_stream_matches_parse(f, text, rng);
    }
}

TEST(ToolCallStream, ReleasesContentThatCannotStartACall) {
  entropix::ToolCallStreamParser hermes(ToolCallFormat::Hermes, 1);
  auto content = [](const std::vector<entropix::ToolCallStreamEvent>& events) {
    std::string s;
    for (const auto& e : events) s += e.content;
    return s;
  };
  EXPECT_EQ(content(hermes.feed("Hello wor")), "Hello wor");
  EXPECT_EQ(content(hermes.feed("ld <tool")), "ld ");  // "<tool" may open a call
  EXPECT_EQ(content(hermes.feed("s> here")), "<tools> here");
  EXPECT_EQ(content(hermes.feed("<tool_call>{\"name\": \"a\", ")), "");
  const auto events = hermes.feed("\"arguments\": {}}</tool_call>");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].call.first);
  EXPECT_EQ(events[0].call.name, "a");
  EXPECT_EQ(events[1].call.arguments, "{}");
  EXPECT_EQ(hermes.calls(), 1);

  // Llama: leading whitespace waits for what follows; prose is released at once.
  entropix::ToolCallStreamParser llama(ToolCallFormat::Llama3Json, 1);
  EXPECT_EQ(content(llama.feed(" \n")), "");
  EXPECT_EQ(content(llama.feed("Sure")), " \nSure");
  EXPECT_EQ(content(llama.feed(", {\"a\": 1}")), ", {\"a\": 1}");  // a call opens only the answer
  EXPECT_EQ(content(llama.finish()), "");

  // JSON that cannot be a call is released as soon as that is certain.
  entropix::ToolCallStreamParser early(ToolCallFormat::Llama3Json, 1);
  EXPECT_EQ(content(early.feed("{ plain")), "{ plain");
}

TEST(ToolCallStream, DeepNestingIsText) {
  const std::string text = "<tool_call>{\"a\": " + std::string(100000, '[');
  expect_parse(ToolCallFormat::Hermes, text, {text, {}});
  entropix::ToolCallStreamParser parser(ToolCallFormat::Hermes, 1);
  std::string got;
  for (const auto& e : parser.feed(text)) got += e.content;
  for (const auto& e : parser.finish()) got += e.content;
  EXPECT_EQ(got, text);
}

}  // namespace
