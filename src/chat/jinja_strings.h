// Python's str operations on UTF-8 text, indexed by code point as Python indexes them:
// length, slicing, strip/split with Python's notion of whitespace, case mapping.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace entropix::jinja {

// Whether text is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool valid_utf8(std::string_view text);
std::vector<char32_t> decode_utf8(std::string_view text);  // expects valid UTF-8
std::string encode_utf8(const std::vector<char32_t>& cps);
void append_utf8(std::string& out, char32_t cp);
size_t utf8_length(std::string_view text);  // code points

// Finds a pattern in texts in time linear in both (Knuth-Morris-Pratt). A template
// can search a 17 MB string for a 2 MB one; std::string_view::find compares at each
// position and takes hours for that.
class SubstringFinder {
 public:
  explicit SubstringFinder(std::string_view pattern);
  // The first byte offset >= from where the pattern starts, or npos.
  size_t find(std::string_view text, size_t from = 0) const;
  size_t size() const { return pattern_.size(); }

 private:
  std::string pattern_;
  std::vector<uint32_t> border_;  // [i]: longest proper border of pattern_[0..i]
};

// Python's str.isspace() for one code point.
bool py_isspace(char32_t cp);

enum class StripSide { Left, Right, Both };
// str.strip()/lstrip()/rstrip(): whitespace when chars is empty, else any of chars' code points.
std::string py_strip(std::string_view text, StripSide side, const std::optional<std::string>& chars);
// str.split(): on runs of whitespace when sep is empty, else on sep; maxsplit < 0: no limit.
std::vector<std::string> py_split(std::string_view text, const std::optional<std::string>& sep,
                                  int64_t maxsplit);
// str.replace(old, new, count); count < 0: all.
std::string py_replace(std::string_view text, std::string_view old, std::string_view repl,
                       int64_t count);
std::string py_upper(std::string_view text);
std::string py_lower(std::string_view text);
std::string py_capitalize(std::string_view text);  // first titlecased, rest lowercased
std::string py_title(std::string_view text);       // Jinja's title filter

// Python slice semantics over n items: fills the indices selected by [start:stop:step].
std::vector<int64_t> slice_indices(int64_t n, std::optional<int64_t> start,
                                   std::optional<int64_t> stop, std::optional<int64_t> step);

}  // namespace entropix::jinja
