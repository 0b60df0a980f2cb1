// The user's answer regex needs std::regex. Under -fsanitize GCC 12 reports
// -Wmaybe-uninitialized inside libstdc++'s own <regex> (std::function in its NFA
// states) for every regex compiled here: a known false positive of that compiler, not
// of this code, so it is silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "decoding/answer.h"

#include "core/error.h"

namespace entropix {

std::string normalize_number(std::string_view s) {
  std::string digits;
  bool negative = false;
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) negative = s[i++] == '-';
  for (; i < s.size(); ++i) {
    if (s[i] >= '0' && s[i] <= '9') digits += s[i];
    else if (s[i] != ',') break;
  }
  size_t nz = digits.find_first_not_of('0');
  digits = nz == std::string::npos ? "0" : digits.substr(nz);
  if (digits == "0") negative = false;
  return (negative ? "-" : "") + digits;
}

std::string normalize_answer(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  s = s.substr(b, e - b + 1);
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  bool numeric = i < s.size() && s[i] >= '0' && s[i] <= '9';
  for (size_t j = i; numeric && j < s.size(); ++j) numeric = (s[j] >= '0' && s[j] <= '9') || s[j] == ',';
  return numeric ? normalize_number(s) : std::string(s);
}

AnswerExtractor::AnswerExtractor(const std::string& pattern, bool fallback_last_number)
    : pattern_(pattern), fallback_(fallback_last_number) {
  try {
    regex_ = std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw Error("invalid answer regex \"" + pattern + "\": " + e.what());
  }
  if (regex_.mark_count() < 1) throw Error("the answer regex \"" + pattern + "\" needs one capture group");
}

std::optional<AnswerSpan> AnswerExtractor::extract(std::string_view text) const {
  std::match_results<std::string_view::const_iterator> m;
  if (std::regex_search(text.begin(), text.end(), m, regex_) && m[1].matched) {
    size_t begin = static_cast<size_t>(m[1].first - text.begin());
    return AnswerSpan{normalize_answer(std::string_view(&*m[1].first, static_cast<size_t>(m[1].length()))), begin,
                      begin + static_cast<size_t>(m[1].length())};
  }
  if (!fallback_) return std::nullopt;
  // The last run of digits (with an optional minus sign right before it).
  size_t end = text.size();
  while (end > 0 && !(text[end - 1] >= '0' && text[end - 1] <= '9')) --end;
  if (end == 0) return std::nullopt;
  size_t begin = end;
  while (begin > 0 && ((text[begin - 1] >= '0' && text[begin - 1] <= '9') || text[begin - 1] == ',')) --begin;
  while (begin < end && text[begin] == ',') ++begin;
  if (begin > 0 && text[begin - 1] == '-') --begin;
  return AnswerSpan{normalize_number(text.substr(begin, end - begin)), begin, end};
}

}  // namespace entropix
