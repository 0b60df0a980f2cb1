// Structured output on the demo model's server: each choice carries entropix_fields,
// a leaf per field of the answer's JSON (pointers as those of the parsed content), and
// each token its constrained figures; free text carries neither.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "server_fixture.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::testing;

namespace {

class ServerJsonFields : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<DemoServer>(); }
  static void TearDownTestSuite() { server_.reset(); }
  static std::unique_ptr<DemoServer> server_;
};

std::unique_ptr<DemoServer> ServerJsonFields::server_;

const json kPerson = {
    {"type", "object"},
    {"properties",
     {{"name", {{"type", "string"}, {"maxLength", 12}}},
      {"age", {{"type", "integer"}, {"minimum", 0}, {"maximum", 120}}},
      {"tags", {{"type", "array"}, {"items", {{"enum", {"a", "b", 3, nullptr}}}}, {"maxItems", 3}}},
      {"ok", {{"type", "boolean"}}}}},
    {"required", {"name", "age", "tags", "ok"}},
    {"additionalProperties", false}};

// A finished JSON answer's fields are its leaves, with probabilities, and every
// token says what the grammar allowed.
void expect_fields_of(const json& choice, const std::string& content) {
  ASSERT_EQ(choice["finish_reason"], "stop") << choice;
  const json parsed = json::parse(content);
  const std::vector<std::string> leaves = json_leaf_pointers(parsed);
  const std::set<std::string> want(leaves.begin(), leaves.end());
  ASSERT_TRUE(choice.contains("entropix_fields")) << choice;
  std::set<std::string> got;
  for (const auto& [p, f] : choice["entropix_fields"].items()) {
    got.insert(p);
    EXPECT_GT(f["min_prob"].get<double>(), 0.0) << p;
    EXPECT_LE(f["min_prob"].get<double>(), 1.0) << p;
    EXPECT_GE(f["tokens"].get<int>(), 1) << p;
    EXPECT_FALSE(f["states"].empty()) << p;
    EXPECT_GT(f["constrained"]["min_prob"].get<double>(), 0.0) << p;
    EXPECT_LE(f["constrained"]["min_prob"].get<double>(), 1.0) << p;
    EXPECT_FALSE(f.contains("complete")) << p;
  }
  EXPECT_EQ(got, want) << content;
  for (const json& t : choice["entropix"]) {
    ASSERT_TRUE(t.contains("constrained")) << t;
    EXPECT_GE(t["constrained"]["n_allowed"].get<int>(), 1) << t;
    EXPECT_LE(t["constrained"]["logprob"].get<double>(), 0.0) << t;
    EXPECT_LE(t["logprob"].get<double>(), 0.0) << t;
    // A forced token is certain among the allowed.
    if (t["constrained"]["n_allowed"] == 1) {
      EXPECT_NEAR(t["constrained"]["logprob"].get<double>(), 0.0, 1e-9) << t;
    }
  }
}

TEST_F(ServerJsonFields, JsonSchemaAnswerHasAFieldPerLeaf) {
  const json body = {
      {"messages", {{{"role", "user"}, {"content", kArithmeticPrompt}}}},
      {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "person"}, {"schema", kPerson}, {"strict", true}}}}},
      {"max_tokens", 300}};
  const json r = server_->post("/v1/chat/completions", body);
  const json& choice = r["choices"][0];
  expect_fields_of(choice, choice["message"]["content"].get<std::string>());
  for (const char* p : {"/name", "/age", "/ok"}) EXPECT_TRUE(choice["entropix_fields"].contains(p)) << p;
}

TEST_F(ServerJsonFields, CompletionsWithASchemaAndSeveralChoices) {
  const json schema = {{"type", "object"},
                       {"properties",
                        {{"answer", {{"type", "integer"}, {"minimum", 0}, {"maximum", 99}}},
                         {"unit/s~", {{"type", "array"}, {"items", {{"const", "apples"}}}, {"minItems", 1}, {"maxItems", 1}}}}},
                       {"required", {"answer", "unit/s~"}},
                       {"additionalProperties", false}};
  const json body = {{"prompt", kArithmeticPrompt},
                     {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "a"}, {"schema", schema}}}}},
                     {"n", 2},
                     {"temperature", 1},
                     {"seed", 3},
                     {"max_tokens", 40}};
  const json r = server_->post("/v1/completions", body);
  ASSERT_EQ(r["choices"].size(), 2u);
  for (const json& choice : r["choices"]) {
    expect_fields_of(choice, choice["text"].get<std::string>());
    EXPECT_TRUE(choice["entropix_fields"].contains("/unit~1s~0/0")) << choice;
    for (const auto& [p, f] : choice["entropix_fields"].items())
      EXPECT_LE(f["constrained"]["forced"].get<int>(), f["tokens"].get<int>()) << p;
  }
}

TEST_F(ServerJsonFields, AStreamedAnswerHasTheSameFieldsInItsLastChunk) {
  const json body = {
      {"messages", {{{"role", "user"}, {"content", kArithmeticPrompt}}}},
      {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "person"}, {"schema", kPerson}}}}},
      {"temperature", 1}, {"seed", 7}, {"max_tokens", 300}};
  const json whole = server_->post("/v1/chat/completions", body)["choices"][0];
  const SseResponse s = server_->post_stream("/v1/chat/completions", body);
  ASSERT_FALSE(s.chunks.empty());
  json fields;
  for (const json& chunk : s.chunks) {
    for (const json& c : chunk["choices"]) {
      if (!c.contains("entropix_fields")) continue;
      EXPECT_FALSE(c["finish_reason"].is_null()) << "only the last chunk of a choice has them";
      fields = c["entropix_fields"];
    }
  }
  EXPECT_EQ(s.text[0], whole["message"]["content"]);
  EXPECT_EQ(fields, whole["entropix_fields"]);
}

TEST_F(ServerJsonFields, AGrammarThatIsNotJsonHasNoFields) {
  const json r = server_->post("/v1/completions", {{"prompt", kArithmeticPrompt}, {"grammar", "root ::= \" yes\" | \" no\""}});
  EXPECT_FALSE(r["choices"][0].contains("entropix_fields")) << r;
  EXPECT_TRUE(r["choices"][0]["entropix"][0].contains("constrained"));
}

TEST_F(ServerJsonFields, FreeTextHasNoFields) {
  const json r = server_->post("/v1/completions", {{"prompt", kArithmeticPrompt}, {"max_tokens", 4}});
  const json& choice = r["choices"][0];
  EXPECT_FALSE(choice.contains("entropix_fields"));
  for (const json& t : choice["entropix"]) {
    EXPECT_FALSE(t.contains("constrained")) << t;
    EXPECT_TRUE(t["logprob"].is_number()) << t;
  }
}

}  // namespace
