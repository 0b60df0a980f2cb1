// Extracting the final answer from a generated text, by a documented, configurable rule:
// the first capture group of the answer regex (default: "The answer is <integer>");
// when it does not match, the last integer in the text; else no answer.
#pragma once

#include <optional>
#include <regex>
#include <string>
#include <string_view>

namespace entropix {

struct AnswerSpan {
  std::string value;  // normalize_answer() of the captured text
  size_t begin = 0;   // byte range of the answer in the text
  size_t end = 0;
};

class AnswerExtractor {
 public:
  static constexpr const char* kDefaultPattern = R"(The answer is\s*([-+]?[0-9][0-9,]*))";
  explicit AnswerExtractor(const std::string& pattern = kDefaultPattern, bool fallback_last_number = true);
  std::optional<AnswerSpan> extract(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  std::regex regex_;
  bool fallback_;
};

// "1,234" -> "1234", "+07" -> "7", "-0" -> "0".
std::string normalize_number(std::string_view s);
// Numbers as normalize_number; anything else trimmed of surrounding whitespace.
std::string normalize_answer(std::string_view s);

}  // namespace entropix
