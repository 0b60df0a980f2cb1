#include "tokenizer/pre_tokenizer.h"

#include <functional>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace entropix {

// llama.cpp applies a list of regexes in turn: each one splits every piece left
// by the previous ones into matches and the gaps between them. Three of the
// regexes (GPT-2's, Llama 3's and Qwen2's) have hand-written matchers there that
// use the real Unicode categories; the others run through std::regex, either on a
// "collapsed" text where every non-ASCII code point stands for its category
// (letters, numbers, punctuation, whitespace; anything else counts as a letter)
// or, without \p{..}, on code points where non-ASCII whitespace reads as \v.
// Each pass below reproduces one regex with those semantics.

namespace {

using Cpts = std::vector<uint32_t>;
using Offsets = std::vector<size_t>;  // lengths of consecutive pieces, in code points

// ---- character classes --------------------------------------------------------

bool has(uint32_t c, uint8_t flag) { return (unicode::cpt_flags(c) & flag) != 0; }

bool ascii_alpha(uint32_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool ascii_digit(uint32_t c) { return c >= '0' && c <= '9'; }

// std::regex \s: ASCII whitespace, plus non-ASCII whitespace (rewritten to \v).
bool re_space(uint32_t c) { return c < 0x80 ? ((c >= 0x09 && c <= 0x0D) || c == 0x20) : has(c, unicode::kWhitespace); }

// \p{L}, \p{N}, \p{P} as seen through the collapsed text.
bool col_letter(uint32_t c) {
  if (c < 0x80) return ascii_alpha(c);
  const uint8_t f = unicode::cpt_flags(c);
  return !(f & (unicode::kWhitespace | unicode::kNumber | unicode::kPunctuation));
}
bool col_number(uint32_t c) {
  if (c < 0x80) return ascii_digit(c);
  const uint8_t f = unicode::cpt_flags(c);
  return !(f & unicode::kWhitespace) && (f & unicode::kNumber);
}
bool col_punct(uint32_t c) {
  if (c < 0x80) return has(c, unicode::kPunctuation);
  const uint8_t f = unicode::cpt_flags(c);
  return !(f & unicode::kWhitespace) && (f & unicode::kPunctuation);
}

// A code point as std::wregex sees it (non-ASCII whitespace rewritten to \v).
uint32_t wide(uint32_t c) { return (c >= 0x80 && has(c, unicode::kWhitespace)) ? 0x0B : c; }

struct Range {
  uint32_t lo, hi;
};

// Parses a regex bracket body of literal code points and "a-b" ranges.
std::vector<Range> parse_class(std::string_view body) {
  const Cpts c = unicode::decode_utf8(body);
  std::vector<Range> out;
  for (size_t i = 0; i < c.size(); ++i) {
    if (i + 2 < c.size() && c[i + 1] == '-') {
      out.push_back({c[i], c[i + 2]});
      i += 2;
    } else {
      out.push_back({c[i], c[i]});
    }
  }
  return out;
}

bool in_ranges(const std::vector<Range>& ranges, uint32_t c) {
  for (const Range& r : ranges)
    if (c >= r.lo && c <= r.hi) return true;
  return false;
}

// deepseek-llm's letter and punctuation classes and the CJK class shared with deepseek-coder.
const std::vector<Range>& deepseek_letters() {
  static const std::vector<Range> r = parse_class(
      "A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃");
  return r;
}
const std::vector<Range>& deepseek_punct() {
  static const std::vector<Range> r = parse_class("!-/:-~！-／：-～‘-‟　-。");
  return r;
}
bool cjk(uint32_t c) {
  c = wide(c);
  return (c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x0800 && c <= 0x4E00) || (c >= 0xAC00 && c <= 0xD7FF);
}
bool cr_or_lf(uint32_t c) { return c == '\r' || c == '\n'; }

// [^(\s|.,!?…。，、।۔،)] of the bloom family (parentheses and bar are literal there).
bool bloom_word(uint32_t c) {
  c = wide(c);
  if (re_space(c)) return false;
  switch (c) {
    case '(': case '|': case '.': case ',': case '!': case '?': case ')':
    case 0x2026: case 0x3002: case 0xFF0C: case 0x3001: case 0x0964: case 0x06D4: case 0x060C:
      return false;
    default:
      return true;
  }
}

// ---- the pass driver for std::regex-style passes --------------------------------

// match(cpts, pos, end) -> length of the regex match starting at pos (0 = none).
using Matcher = std::function<size_t(const Cpts&, size_t, size_t)>;

Offsets regex_pass(const Cpts& cpts, const Offsets& offsets, const Matcher& match) {
  Offsets out;
  out.reserve(offsets.size());
  size_t start = 0;
  for (const size_t len : offsets) {
    const size_t end = start + len;
    size_t gap = start;
    for (size_t pos = start; pos < end;) {
      const size_t m = match(cpts, pos, end);
      if (m == 0) {
        ++pos;
        continue;
      }
      if (pos > gap) out.push_back(pos - gap);
      out.push_back(m);
      pos += m;
      gap = pos;
    }
    if (end > gap) out.push_back(end - gap);
    start = end;
  }
  return out;
}

template <class Pred>
size_t run_of(const Cpts& c, size_t pos, size_t end, Pred pred) {
  size_t n = 0;
  while (pos + n < end && pred(c[pos + n])) ++n;
  return n;
}

// [class]+
template <class Pred>
Matcher run_matcher(Pred pred) {
  return [pred](const Cpts& c, size_t pos, size_t end) { return run_of(c, pos, end, pred); };
}

// \s?[class]+   (lead: which code points the optional prefix accepts)
template <class Lead, class Pred>
Matcher prefixed_run_matcher(Lead lead, Pred pred) {
  return [lead, pred](const Cpts& c, size_t pos, size_t end) -> size_t {
    if (lead(c[pos]) && pos + 1 < end && pred(c[pos + 1])) return 1 + run_of(c, pos + 1, end, pred);
    return run_of(c, pos, end, pred);
  };
}

// [class]
template <class Pred>
Matcher single_matcher(Pred pred) {
  return [pred](const Cpts& c, size_t pos, size_t) -> size_t { return pred(c[pos]) ? 1 : 0; };
}

// [0-9][0-9][0-9]
size_t three_digits(const Cpts& c, size_t pos, size_t end) {
  return (pos + 3 <= end && ascii_digit(c[pos]) && ascii_digit(c[pos + 1]) && ascii_digit(c[pos + 2])) ? 3 : 0;
}

// \s+$ : the whitespace run that ends the piece.
size_t trailing_space(const Cpts& c, size_t pos, size_t end) {
  const size_t n = run_of(c, pos, end, [](uint32_t x) { return re_space(wide(x)); });
  return pos + n == end ? n : 0;
}

// ---- llama.cpp's hand-written matchers -----------------------------------------

struct Flags {
  bool letter = false, number = false, space = false, valid = false;
};

// Shared driver: get(pos) gives the flags inside the piece and empty flags outside.
template <class Body>
Offsets custom_pass(const Cpts& cpts, const Offsets& offsets, Body body) {
  Offsets out;
  out.reserve(offsets.size());
  size_t start = 0;
  for (const size_t len : offsets) {
    const size_t ini = start, end = start + len;
    start = end;
    size_t prev_end = ini;
    const auto add = [&](size_t to) -> size_t {
      const size_t n = to - prev_end;
      if (n > 0) out.push_back(n);
      prev_end = to;
      return n;
    };
    body(ini, end, add);
  }
  return out;
}

constexpr uint32_t kOutOfRange = 0xFFFFFFFF;

// The flags of the code point at p of the piece [ini, end); empty flags outside it.
Flags flags_in(const Cpts& cpts, size_t ini, size_t end, size_t p) {
  Flags f;
  if (p < ini || p >= end) return f;
  const uint8_t u = unicode::cpt_flags(cpts[p]);
  f.letter = u & unicode::kLetter;
  f.number = u & unicode::kNumber;
  f.space = u & unicode::kWhitespace;
  f.valid = true;
  return f;
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
Offsets gpt2_pass(const Cpts& cpts, const Offsets& offsets) {
  return custom_pass(cpts, offsets, [&](size_t ini, size_t end, auto& add) {
    const auto cpt_at = [&](size_t p) { return (p >= ini && p < end) ? cpts[p] : kOutOfRange; };
    const auto flags_at = [&](size_t p) { return flags_in(cpts, ini, end, p); };
    for (size_t pos = ini; pos < end;) {
      const uint32_t cpt = cpt_at(pos);
      if (cpt == '\'' && pos + 1 < end) {
        const uint32_t n1 = cpt_at(pos + 1);
        if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
          pos += add(pos + 2);
          continue;
        }
        if (pos + 2 < end) {
          const uint32_t n2 = cpt_at(pos + 2);
          if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
            pos += add(pos + 3);
            continue;
          }
        }
      }
      Flags f2 = cpt == ' ' ? flags_at(pos + 1) : flags_at(pos);
      if (f2.letter) {
        pos += (cpt == ' ');
        while (f2.letter) f2 = flags_at(++pos);
        add(pos);
        continue;
      }
      if (f2.number) {
        pos += (cpt == ' ');
        while (f2.number) f2 = flags_at(++pos);
        add(pos);
        continue;
      }
      if (!(f2.space || f2.letter || f2.number) && f2.valid) {
        pos += (cpt == ' ');
        while (!(f2.space || f2.letter || f2.number) && f2.valid) f2 = flags_at(++pos);
        add(pos);
        continue;
      }
      size_t n_space = 0;
      while (flags_at(pos + n_space).space) ++n_space;
      if (n_space > 1 && cpt_at(pos + n_space) != kOutOfRange) {
        pos += n_space - 1;
        add(pos);
        continue;
      }
      if (n_space > 0) {
        pos += n_space;
        add(pos);
        continue;
      }
      add(++pos);
    }
  });
}

// \s*[\r\n]+|\s+(?!\S)|\s+ at pos, the tail of the Llama 3 and GPT-4o expressions: where the
// match ends, or pos + 1 when none matches (the character stands alone).
template <class CptAt, class FlagsAt>
size_t whitespace_end(size_t pos, CptAt cpt_at, FlagsAt flags_at) {
  size_t n_space = 0;
  size_t last_crlf_end = 0;
  while (flags_at(pos + n_space).space) {
    const uint32_t c2 = cpt_at(pos + n_space);
    if (c2 == '\r' || c2 == '\n') last_crlf_end = pos + n_space + 1;
    ++n_space;
  }
  if (last_crlf_end > 0) return last_crlf_end;                                    // \s*[\r\n]+
  if (n_space > 1 && cpt_at(pos + n_space) != kOutOfRange) return pos + n_space - 1;  // \s+(?!\S)
  if (n_space > 0) return pos + n_space;                                            // \s+
  return pos + 1;
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
//  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// with \p{N}{1,3} (Llama 3) or \p{N} (Qwen2, max_digits 1), on the real Unicode categories.
Offsets llama3_pass(const Cpts& cpts, const Offsets& offsets, size_t max_digits) {
  return custom_pass(cpts, offsets, [&](size_t ini, size_t end, auto& add) {
    const auto cpt_at = [&](size_t p) { return (p >= ini && p < end) ? cpts[p] : kOutOfRange; };
    const auto flags_at = [&](size_t p) { return flags_in(cpts, ini, end, p); };
    const auto lower = [](uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; };
    for (size_t pos = ini; pos < end;) {
      const uint32_t cpt = cpt_at(pos);
      const Flags f = flags_at(pos);
      if (cpt == '\'' && pos + 1 < end) {
        const uint32_t n1 = lower(cpt_at(pos + 1));
        if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
          pos += add(pos + 2);
          continue;
        }
        if (pos + 2 < end) {
          const uint32_t n2 = lower(cpt_at(pos + 2));
          if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
            pos += add(pos + 3);
            continue;
          }
        }
      }
      if (!(cpt == '\r' || cpt == '\n' || f.number)) {
        if (f.letter || flags_at(pos + 1).letter) {
          ++pos;
          while (flags_at(pos).letter) ++pos;
          add(pos);
          continue;
        }
      }
      if (f.number) {
        size_t ini_digits = pos;
        while (flags_at(pos).number) {
          if (++pos - ini_digits >= max_digits) {
            add(pos);
            ini_digits = pos;
          }
        }
        add(pos);
        continue;
      }
      Flags f2 = cpt == ' ' ? flags_at(pos + 1) : f;
      if (!(f2.space || f2.letter || f2.number) && f.valid) {
        pos += (cpt == ' ');
        while (!(f2.space || f2.letter || f2.number) && f2.valid) f2 = flags_at(++pos);
        uint32_t c2 = cpt_at(pos);
        while (c2 == '\r' || c2 == '\n') c2 = cpt_at(++pos);
        add(pos);
        continue;
      }
      pos = whitespace_end(pos, cpt_at, flags_at);
      add(pos);
    }
  });
}

// llama.cpp's GPT-4o (o200k) expression, as it runs it on text whose non-ASCII code points
// stand for their category (so any non-ASCII letter counts as both "not a-z" and "not A-Z"):
//   [^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?
//  |[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|...)?
//  |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
// matched alternative by alternative with the regex's backtracking worked out.
Offsets gpt4o_pass(const Cpts& cpts, const Offsets& offsets) {
  return custom_pass(cpts, offsets, [&](size_t ini, size_t end, auto& add) {
    const auto cpt_at = [&](size_t p) { return (p >= ini && p < end) ? cpts[p] : kOutOfRange; };
    const auto flags_at = [&](size_t p) { return flags_in(cpts, ini, end, p); };
    const auto upper = [&](size_t p) {  // a letter that is not a-z
      const uint32_t c = cpt_at(p);
      return flags_at(p).letter && !(c >= 'a' && c <= 'z');
    };
    const auto lower = [&](size_t p) {  // a letter that is not A-Z
      const uint32_t c = cpt_at(p);
      return flags_at(p).letter && !(c >= 'A' && c <= 'Z');
    };
    const auto prefix = [&](size_t p) {  // [^\r\n\p{L}\p{N}]
      const Flags f = flags_at(p);
      const uint32_t c = cpt_at(p);
      return f.valid && c != '\r' && c != '\n' && !f.letter && !f.number;
    };
    const auto contraction = [&](size_t p) -> size_t {  // 's 't 're 've 'm 'll 'd, any case
      if (cpt_at(p) != '\'') return 0;
      const auto low = [](uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; };
      const uint32_t n1 = low(cpt_at(p + 1)), n2 = low(cpt_at(p + 2));
      if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') return 2;
      if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) return 3;
      return 0;
    };
    for (size_t pos = ini; pos < end;) {
      const uint32_t cpt = cpt_at(pos);
      const Flags f = flags_at(pos);
      // The two word alternatives. A prefix character is never a letter, so leaving it
      // out cannot help a match that needs a letter where it stands.
      const size_t s = prefix(pos) ? pos + 1 : pos;
      size_t u_end = s;
      while (upper(u_end)) ++u_end;
      size_t k = u_end + 1;  // first: the last start in [s, u_end] of the lower run
      for (size_t q = u_end + 1; q-- > s;) {
        if (lower(q)) {
          k = q;
          break;
        }
      }
      size_t word_end = 0;
      if (k <= u_end) {  // upper* lower+
        word_end = k;
        while (lower(word_end)) ++word_end;
      } else if (u_end > s) {  // upper+ lower* (the lower run is empty here)
        word_end = u_end;
      }
      if (word_end > 0) {
        pos = word_end + contraction(word_end);
        add(pos);
        continue;
      }
      if (f.number) {  // \p{N}{1,3}
        size_t n = 0;
        while (n < 3 && flags_at(pos + n).number) ++n;
        pos += n;
        add(pos);
        continue;
      }
      const auto other = [&](size_t p) {  // [^\s\p{L}\p{N}]
        const Flags g = flags_at(p);
        return g.valid && !g.space && !g.letter && !g.number;
      };
      if (other(pos) || (cpt == ' ' && other(pos + 1))) {
        pos += (cpt == ' ');
        while (other(pos)) ++pos;
        for (uint32_t c2 = cpt_at(pos); c2 == '\r' || c2 == '\n' || c2 == '/'; c2 = cpt_at(++pos)) {
        }
        add(pos);
        continue;
      }
      pos = whitespace_end(pos, cpt_at, flags_at);
      add(pos);
    }
  });
}

Offsets apply(const Cpts& c, const Offsets& o, const Matcher& m) { return regex_pass(c, o, m); }

bool default_punct(uint32_t c) {
  return col_punct(c) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' || c == '~' || c == '|';
}

Offsets split_offsets(PreTokenizerKind kind, const Cpts& c) {
  Offsets o{c.size()};
  const auto deepseek_space = [](uint32_t x) { return re_space(wide(x)); };
  switch (kind) {
    case PreTokenizerKind::Llama3:
      return llama3_pass(c, o, 3);
    case PreTokenizerKind::Qwen2:
      return llama3_pass(c, o, 1);
    case PreTokenizerKind::Gpt2:
      return gpt2_pass(c, o);
    case PreTokenizerKind::Gpt4o:
      return gpt4o_pass(c, o);
    case PreTokenizerKind::Starcoder:
      o = apply(c, o, single_matcher(col_number));
      return gpt2_pass(c, o);
    case PreTokenizerKind::Falcon:
      o = apply(c, o, run_matcher([](uint32_t x) { return default_punct(x) || x == '`'; }));
      o = gpt2_pass(c, o);
      return apply(c, o, three_digits);
    case PreTokenizerKind::Default:
      o = apply(c, o, run_matcher(default_punct));
      o = gpt2_pass(c, o);
      o = apply(c, o, run_matcher(col_number));
      return apply(c, o, three_digits);
    case PreTokenizerKind::DeepseekCoder:
      o = apply(c, o, single_matcher([](uint32_t x) { return cr_or_lf(wide(x)); }));
      o = apply(c, o, prefixed_run_matcher(re_space, col_letter));
      o = apply(c, o, prefixed_run_matcher(re_space, col_punct));
      o = apply(c, o, run_matcher(cjk));
      return apply(c, o, single_matcher(col_number));
    case PreTokenizerKind::DeepseekLlm:
      o = apply(c, o, single_matcher([](uint32_t x) { return cr_or_lf(wide(x)); }));
      o = apply(c, o, prefixed_run_matcher(deepseek_space, [](uint32_t x) { return in_ranges(deepseek_letters(), wide(x)); }));
      o = apply(c, o, prefixed_run_matcher(deepseek_space, [](uint32_t x) { return in_ranges(deepseek_punct(), wide(x)); }));
      o = apply(c, o, trailing_space);
      o = apply(c, o, run_matcher(cjk));
      return apply(c, o, run_matcher(col_number));
    case PreTokenizerKind::Bloom:
      return apply(c, o, prefixed_run_matcher([](uint32_t x) { return x == ' '; }, bloom_word));
    case PreTokenizerKind::Viking:
      o = apply(c, o, prefixed_run_matcher([](uint32_t x) { return x == ' '; }, bloom_word));
      return apply(c, o, single_matcher(col_number));
  }
  return o;
}

}  // namespace

PreTokenizerInfo pre_tokenizer_from_name(std::string_view name) {
  using K = PreTokenizerKind;
  const auto is = [&](std::initializer_list<std::string_view> names) {
    for (const auto n : names)
      if (name == n) return true;
    return false;
  };
  PreTokenizerInfo info;
  if (name.empty() || name == "default") {
    info.kind = K::Default;
  } else if (is({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"})) {
    info.kind = K::Llama3;
    info.ignore_merges = true;
    info.add_bos = true;
  } else if (is({"dbrx", "smaug-bpe"})) {
    info.kind = K::Llama3;
  } else if (is({"chatglm-bpe", "glm4"})) {
    info.kind = K::Llama3;
    info.clear_bos = true;
  } else if (is({"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2"})) {
    info.kind = K::Qwen2;
  } else if (is({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es", "jina-v2-de",
                 "jina-v2-code", "roberta-bpe", "a.x-4.0", "mellum", "mpt", "olmo", "jais", "trillion"})) {
    info.kind = K::Gpt2;
  } else if (is({"gpt-4o", "llama4", "kanana2", "talkie"})) {
    info.kind = K::Gpt4o;
  } else if (name == "deepseek-llm") {
    info.kind = K::DeepseekLlm;
  } else if (name == "deepseek-coder") {
    info.kind = K::DeepseekCoder;
  } else if (name == "falcon") {
    info.kind = K::Falcon;
  } else if (is({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"})) {
    info.kind = K::Starcoder;
  } else if (is({"bloom", "poro-chat", "gpt3-finnish"})) {
    info.kind = K::Bloom;
  } else if (name == "viking") {
    info.kind = K::Viking;
  } else {
    throw Error("tokenizer.ggml.pre: unsupported pre-tokenizer '" + std::string(name) +
                "' (expected one of llama.cpp's names, e.g. llama-bpe, qwen2, gpt-2, default)");
  }
  return info;
}

std::vector<std::string> pre_tokenize(PreTokenizerKind kind, std::string_view text) {
  const Cpts cpts = unicode::decode_utf8(text);
  const Offsets offsets = split_offsets(kind, cpts);
  std::vector<std::string> words;
  words.reserve(offsets.size());
  size_t start = 0;
  for (const size_t len : offsets) {
    std::string w;
    for (size_t i = start; i < start + len; ++i) unicode::append_utf8(w, cpts[i]);
    words.push_back(std::move(w));
    start += len;
  }
  return words;
}

}  // namespace entropix
