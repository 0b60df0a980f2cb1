// How conversations are put to a model (chat/chat_format.h): the model's own
// template, or plain User:/Assistant: turns with their stop string and the
// leading space dropped from the answer.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "chat/chat_format.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "model/engine.h"
#include "support.h"
#include "tokenizer/tokenizer.h"

using namespace entropix;

namespace {

std::unique_ptr<Engine> load_demo() {
  EngineOptions o;
  o.n_ctx = 256;
  o.n_threads = 1;
  return Engine::load((entropix::testing::source_dir() / "models/demo/demo-q8_0.gguf").string(), o);
}

const std::vector<ChatMessage> kConversation = {
    {"system", "Be brief.", nullptr, "", ""},
    {"user", "2 + 2?", nullptr, "", ""},
    {"assistant", "4.", nullptr, "", ""},
    {"user", "3 + 3?", nullptr, "", ""},
};

}  // namespace

TEST(ChatFormat, PlainTurnsWithoutATemplate) {
  const auto engine = load_demo();
  const ChatFormat format(std::nullopt);
  EXPECT_FALSE(format.has_template());
  EXPECT_EQ(format.render(kConversation, engine->tokenizer()),
            "Be brief.\n\nUser: 2 + 2?\nAssistant: 4.\nUser: 3 + 3?\nAssistant:");
  EXPECT_TRUE(format.add_bos());
  EXPECT_EQ(format.stop(), "\nUser:");
  EXPECT_TRUE(format.leading_space().active);
}

TEST(ChatFormat, TheModelsOwnTemplate) {
  const auto engine = load_demo();
  ASSERT_TRUE(engine->chat_template());
  EXPECT_EQ(*engine->chat_template(), engine->file().get_string("tokenizer.chat_template"));
  const ChatFormat format(engine->chat_template());
  EXPECT_TRUE(format.has_template());
  const Tokenizer& tok = engine->tokenizer();
  EXPECT_EQ(format.render(kConversation, tok),
            tok.token_to_piece(tok.bos()) + "Q: 2 + 2?\nA: 4." + tok.token_to_piece(tok.eos()) + "Q: 3 + 3?\nA:");
  EXPECT_FALSE(format.add_bos());
  EXPECT_EQ(format.stop(), "");
  EXPECT_FALSE(format.leading_space().active);
}

TEST(ChatFormat, NoTemplateInTheFile) {
  ENTROPIX_REQUIRE_TESTDATA();
  EngineOptions o;
  o.n_ctx = 64;
  const auto engine = Engine::load((entropix::testing::testdata_dir() / "models" / "stories260K.gguf").string(), o);
  EXPECT_FALSE(engine->file().has("tokenizer.chat_template"));
  EXPECT_FALSE(engine->chat_template());
}

TEST(ChatFormat, ABadTemplateIsAnErrorAtOnce) {
  EXPECT_THROW(ChatFormat(std::string("{% for m in messages %}")), Error);
}

// The answer loses one space from each piece until a piece has text left, whether
// it comes whole or piece by piece; later pieces keep theirs.
TEST(LeadingSpace, DropsOnlyTheFirstSpace) {
  LeadingSpace lead{true};
  std::vector<std::string> pieces = {"", " ", " 7", " apples"};
  for (std::string& p : pieces) lead.apply(p);
  EXPECT_EQ(pieces, (std::vector<std::string>{"", "", "7", " apples"}));
  LeadingSpace whole{true};
  std::string answer = " 19 apples";
  whole.apply(answer);
  EXPECT_EQ(answer, "19 apples");
  LeadingSpace off{false};
  std::string kept = " 19";
  off.apply(kept);
  EXPECT_EQ(kept, " 19");
}
