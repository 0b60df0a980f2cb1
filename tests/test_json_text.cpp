// json_text: JSON from strings that are not all valid UTF-8 (token pieces, GGUF
// metadata, file names) is written with U+FFFD in their place instead of throwing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/json_text.h"

namespace {

const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD

TEST(JsonText, ValidTextIsWrittenAsDumpWritesIt) {
  const nlohmann::json j = {{"name", "Llama \xC3\xA9t\xC3\xA9"}, {"n", 3}, {"list", {1, 2}}};
  EXPECT_EQ(entropix::json_text(j), j.dump());
  EXPECT_EQ(entropix::json_text(j, 2), j.dump(2));
}

TEST(JsonText, InvalidBytesBecomeReplacementCharactersAndTheTextParses) {
  // A lone continuation byte, an overlong lead byte, and a 3-byte character cut short.
  const nlohmann::json j = {{"piece", std::string("a\x80z")}, {"name", std::string("\xC1")},
                            {"cut", std::string("x\xE2\x82")}};
  EXPECT_THROW((void)j.dump(), nlohmann::json::type_error);
  const std::string text = entropix::json_text(j, 2);
  const auto back = nlohmann::json::parse(text);
  EXPECT_EQ(back["piece"], "a" + kReplacement + "z");
  EXPECT_EQ(back["name"], kReplacement);
  EXPECT_EQ(back["cut"].get<std::string>().rfind("x", 0), 0u);
  EXPECT_NE(back["cut"].get<std::string>().find(kReplacement), std::string::npos);
}

}  // namespace
