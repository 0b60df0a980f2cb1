#include "chat/jinja_strings.h"

#include <unicode/uchar.h>
#include <unicode/ustring.h>

#include <algorithm>

#include "chat/jinja_budget.h"
#include "core/error.h"

namespace entropix::jinja {

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    char32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr char32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

namespace {

// Decodes the code point at s[i], advancing i; the text is valid UTF-8.
char32_t next_cp(std::string_view s, size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : 3;
  char32_t cp = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k <= n && i + k < s.size(); ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n + 1;
  return cp;
}

std::u16string to_utf16(std::string_view s) {
  std::u16string out;
  for (size_t i = 0; i < s.size();) {
    char32_t cp = next_cp(s, i);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

std::string from_utf16(const std::u16string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char32_t cp = s[i];
    if (cp >= 0xD800 && cp < 0xDC00 && i + 1 < s.size()) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (s[++i] - 0xDC00);
    }
    append_utf8(out, cp);
  }
  return out;
}

// Full case mapping (ICU, root locale), as Python's str.upper()/lower() do.
std::string case_map(std::string_view text, bool upper) {
  const std::u16string src = to_utf16(text);
  std::u16string dst(src.size() * 3 + 4, u'\0');
  UErrorCode err = U_ZERO_ERROR;
  auto* d = reinterpret_cast<UChar*>(dst.data());
  const auto* sp = reinterpret_cast<const UChar*>(src.data());
  const int32_t cap = static_cast<int32_t>(dst.size());
  const int32_t len = static_cast<int32_t>(src.size());
  int32_t n = upper ? u_strToUpper(d, cap, sp, len, "", &err) : u_strToLower(d, cap, sp, len, "", &err);
  if (U_FAILURE(err)) throw Error("case mapping failed: " + std::string(u_errorName(err)));
  dst.resize(static_cast<size_t>(n));
  return from_utf16(dst);
}

bool contains_cp(const std::vector<char32_t>& set, char32_t cp) {
  return std::find(set.begin(), set.end(), cp) != set.end();
}

}  // namespace

std::vector<char32_t> decode_utf8(std::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) out.push_back(next_cp(text, i));
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string encode_utf8(const std::vector<char32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t cp : cps) append_utf8(out, cp);
  return out;
}

size_t utf8_length(std::string_view text) {
  size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

bool py_isspace(char32_t cp) {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x1C: case 0x1D: case 0x1E:
    case 0x1F: case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

std::string py_strip(std::string_view text, StripSide side, const std::optional<std::string>& chars) {
  const std::vector<char32_t> cps = decode_utf8(text);
  const std::vector<char32_t> set = chars ? decode_utf8(*chars) : std::vector<char32_t>{};
  auto strip_it = [&](char32_t cp) { return chars ? contains_cp(set, cp) : py_isspace(cp); };
  size_t b = 0, e = cps.size();
  if (side != StripSide::Right)
    while (b < e && strip_it(cps[b])) ++b;
  if (side != StripSide::Left)
    while (e > b && strip_it(cps[e - 1])) --e;
  return encode_utf8(std::vector<char32_t>(cps.begin() + static_cast<std::ptrdiff_t>(b),
                                           cps.begin() + static_cast<std::ptrdiff_t>(e)));
}

SubstringFinder::SubstringFinder(std::string_view pattern) : pattern_(pattern) {
  // Short patterns gain nothing from the table: the plain search is linear for them.
  if (pattern_.size() <= 8) return;
  border_.assign(pattern_.size(), 0);
  uint32_t k = 0;
  for (size_t i = 1; i < pattern_.size(); ++i) {
    while (k > 0 && pattern_[i] != pattern_[k]) k = border_[k - 1];
    if (pattern_[i] == pattern_[k]) ++k;
    border_[i] = k;
  }
}

size_t SubstringFinder::find(std::string_view text, size_t from) const {
  if (border_.empty()) return text.find(pattern_, from);
  size_t k = 0;
  for (size_t i = from; i < text.size(); ++i) {
    while (k > 0 && text[i] != pattern_[k]) k = border_[k - 1];
    if (text[i] == pattern_[k]) ++k;
    if (k == pattern_.size()) return i + 1 - k;
  }
  return std::string_view::npos;
}

std::vector<std::string> py_split(std::string_view text, const std::optional<std::string>& sep,
                                  int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) throw Error("str.split(): expected a non-empty separator, found ''");
    const SubstringFinder finder(*sep);
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      const size_t at = finder.find(text, start);
      if (at == std::string_view::npos) break;
      check_room((out.size() + 1) * sizeof(std::string));  // "," * 60000000 splits into 60 million parts
      out.emplace_back(text.substr(start, at - start));
      start = at + sep->size();
    }
    out.emplace_back(text.substr(start));
    return out;
  }
  const std::vector<char32_t> cps = decode_utf8(text);
  size_t i = 0;
  while (i < cps.size()) {
    while (i < cps.size() && py_isspace(cps[i])) ++i;
    if (i == cps.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      size_t e = cps.size();
      while (e > i && py_isspace(cps[e - 1])) --e;
      out.push_back(encode_utf8({cps.begin() + static_cast<std::ptrdiff_t>(i),
                                 cps.begin() + static_cast<std::ptrdiff_t>(e)}));
      break;
    }
    size_t j = i;
    while (j < cps.size() && !py_isspace(cps[j])) ++j;
    check_room((out.size() + 1) * sizeof(std::string));
    out.push_back(encode_utf8({cps.begin() + static_cast<std::ptrdiff_t>(i),
                               cps.begin() + static_cast<std::ptrdiff_t>(j)}));
    i = j;
  }
  return out;
}

std::string py_replace(std::string_view text, std::string_view old, std::string_view repl,
                       int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts repl before every code point and at the end.
    const std::vector<char32_t> cps = decode_utf8(text);
    int64_t done = 0;
    for (char32_t cp : cps) {
      if (count < 0 || done < count) out.append(repl), ++done;
      append_utf8(out, cp);
    }
    if (count < 0 || done < count) out.append(repl);
    return out;
  }
  const SubstringFinder finder(old);
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t at = finder.find(text, start);
    if (at == std::string_view::npos) break;
    out.append(text.substr(start, at - start));
    out.append(repl);
    start = at + old.size();
    ++done;
  }
  out.append(text.substr(start));
  return out;
}

std::string py_upper(std::string_view text) { return case_map(text, true); }
std::string py_lower(std::string_view text) { return case_map(text, false); }

std::string py_capitalize(std::string_view text) {
  if (text.empty()) return {};
  size_t i = 0;
  const char32_t first = next_cp(text, i);
  std::string out;
  append_utf8(out, static_cast<char32_t>(u_totitle(static_cast<UChar32>(first))));
  return out + case_map(text.substr(i), false);
}

std::string py_title(std::string_view text) {
  // Jinja: words are split at runs of [-\s({\[<]; each word's first letter upper, rest lower.
  auto is_sep = [](char32_t cp) {
    return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || py_isspace(cp);
  };
  const std::vector<char32_t> cps = decode_utf8(text);
  std::string out;
  size_t i = 0;
  while (i < cps.size()) {
    size_t j = i;
    const bool sep = is_sep(cps[i]);
    while (j < cps.size() && is_sep(cps[j]) == sep) ++j;
    const std::string part = encode_utf8({cps.begin() + static_cast<std::ptrdiff_t>(i),
                                          cps.begin() + static_cast<std::ptrdiff_t>(j)});
    if (sep) {
      out += part;
    } else {
      std::string head;
      append_utf8(head, cps[i]);
      out += py_upper(head) + py_lower(part.substr(head.size()));
    }
    i = j;
  }
  return out;
}

std::vector<int64_t> slice_indices(int64_t n, std::optional<int64_t> start,
                                   std::optional<int64_t> stop, std::optional<int64_t> step) {
  const int64_t st = step.value_or(1);
  if (st == 0) throw Error("slice step: expected a non-zero step, found 0");
  auto clamp = [&](std::optional<int64_t> v, int64_t dflt, int64_t lo, int64_t hi) {
    if (!v) return dflt;
    int64_t x = *v < 0 ? *v + n : *v;
    return std::clamp(x, lo, hi);
  };
  std::vector<int64_t> out;
  if (st > 0) {
    const int64_t b = clamp(start, 0, 0, n), e = clamp(stop, n, 0, n);
    for (int64_t i = b; i < e; i += st) out.push_back(i);
  } else {
    const int64_t b = clamp(start, n - 1, -1, n - 1), e = clamp(stop, -1, -1, n - 1);
    for (int64_t i = b; i > e; i += st) out.push_back(i);
  }
  return out;
}

}  // namespace entropix::jinja
