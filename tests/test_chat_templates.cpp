// The ten real chat templates rendered by our interpreter, compared byte for byte with
// Debian's python3-jinja2 set up as transformers' apply_chat_template sets it up
// (tests/py/render_jinja.py), over the conversations in tests/data/chat/conversations.json.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/chat_template.h"
#include "core/error.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;
using entropix::testing::expect_renders_like_jinja2;
using entropix::testing::Jinja2Reference;
using entropix::testing::read_file;
using entropix::testing::render_with_jinja2;
using entropix::testing::source_dir;
using entropix::testing::testdata_dir;

const char* const kTemplates[] = {
    "meta-llama-Llama-3.1-8B-Instruct",
    "meta-llama-Llama-3.2-3B-Instruct",
    "Qwen-Qwen2.5-7B-Instruct",
    "Qwen-Qwen3-0.6B",
    "HuggingFaceTB-SmolLM3-3B",
    "Mistral-Small-3.2-24B-Instruct-2506",
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B",
    "google-gemma-2-2b-it",
    "ibm-granite-granite-3.3-2B-Instruct",
    "microsoft-Phi-3.5-mini-instruct",
};

fs::path template_path(const std::string& name) { return testdata_dir() / "chat-templates" / (name + ".jinja"); }
fs::path cases_path() { return source_dir() / "tests" / "data" / "chat" / "conversations.json"; }

class ChatTemplateVsJinja2 : public ::testing::TestWithParam<const char*> {};

TEST_P(ChatTemplateVsJinja2, RendersByteForByte) {
  const fs::path tpl = template_path(GetParam());
  if (!fs::exists(tpl))
    GTEST_SKIP() << "external chat template not found at " << tpl << " (set ENTROPIX_TESTDATA)";
  const Jinja2Reference ref = render_with_jinja2(tpl, cases_path());
  if (!ref.available) GTEST_SKIP() << ref.why_not;

  const entropix::ChatTemplate chat(read_file(tpl));
  const auto cases = nlohmann::ordered_json::parse(read_file(cases_path()));
  ASSERT_EQ(cases.size(), ref.results.size());
  ASSERT_GE(cases.size(), 10u);
  const auto [rendered, errors] = expect_renders_like_jinja2(chat, cases, ref);
  std::printf("%s: %d conversations rendered identically, %d rejected by both\n", GetParam(), rendered, errors);
  EXPECT_GE(rendered, 6) << "too few conversations render for this template to be a meaningful check";
}

INSTANTIATE_TEST_SUITE_P(RealTemplates, ChatTemplateVsJinja2, ::testing::ValuesIn(kTemplates),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

// apply() builds the context transformers builds (tools and documents none), so it matches
// jinja2 over the same messages.
TEST(ChatTemplateApply, MatchesReferenceContext) {
  const fs::path tpl = template_path("Qwen-Qwen2.5-7B-Instruct");
  if (!fs::exists(tpl)) GTEST_SKIP() << "external chat template not found at " << tpl << " (set ENTROPIX_TESTDATA)";
  const Jinja2Reference ref = render_with_jinja2(tpl, cases_path());
  if (!ref.available) GTEST_SKIP() << ref.why_not;
  const entropix::ChatTemplate chat(read_file(tpl));
  entropix::ChatMessage system, user;
  system.role = "system";
  system.content = "You are a careful assistant.";
  user.role = "user";
  user.content = "What is 2+2?";
  const std::string ours = chat.apply({system, user}, true, "<s>", "</s>");
  ASSERT_EQ(ref.results[0]["name"], "system_user");
  EXPECT_EQ(ours, ref.results[0]["output"].get<std::string>());
}

}  // namespace
