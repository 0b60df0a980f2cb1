#include "grammar/gbnf_parser.h"

#include <algorithm>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "grammar/grammar_checks.h"

namespace entropix::grammar {

namespace {

// An element before the grammar is laid out flat: character ranges of its own.
struct DraftElement {
  ElementKind kind = ElementKind::End;
  uint32_t rule = 0;
  std::vector<CharRange> ranges;
};
using Sequence = std::vector<DraftElement>;

struct DraftRule {
  std::vector<Sequence> alternatives;
  bool defined = false;
  size_t first_use = 0;  // source offset of the first reference, for "undefined rule"
};

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void sort_and_merge(std::vector<CharRange>& r) {
  std::sort(r.begin(), r.end(), [](const CharRange& a, const CharRange& b) { return a.first < b.first; });
  std::vector<CharRange> out;
  for (const CharRange& c : r) {
    if (!out.empty() && static_cast<uint64_t>(out.back().last) + 1 >= c.first)
      out.back().last = std::max(out.back().last, c.last);
    else
      out.push_back(c);
  }
  r = std::move(out);
}

class GbnfParser {
 public:
  GbnfParser(std::string_view src, std::string_view origin, const GbnfLimits& limits)
      : src_(src), origin_(origin), limits_(limits) {}

  Grammar parse() {
    if (src_.size() > limits_.max_bytes)
      fail_at(0, "is " + std::to_string(src_.size()) + " bytes; at most " + std::to_string(limits_.max_bytes));
    skip_space(true);
    while (pos_ < src_.size()) parse_rule();
    return lay_out();
  }

 private:
  [[noreturn]] void fail_at(size_t at, const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < src_.size(); ++i) {
      if (src_[i] == '\n') {
        ++line;
        col = 1;
      } else if ((static_cast<unsigned char>(src_[i]) & 0xC0) != 0x80) {
        ++col;
      }
    }
    throw GrammarError(origin_ + ": line " + std::to_string(line) + ", column " + std::to_string(col) + ": " + what);
  }
  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }

  std::string describe_here() const {
    if (pos_ >= src_.size()) return "the end";
    const char c = src_[pos_];
    if (c == '\n') return "the end of the line";
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) return "a byte " + std::to_string(static_cast<unsigned char>(c));
    return std::string("'") + c + "'";
  }

  void skip_space(bool newline_ok) {
    while (pos_ < src_.size()) {
      const char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || (newline_ok && c == '\n')) {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  uint32_t rule_id(const std::string& name, size_t at) {
    if (auto it = ids_.find(name); it != ids_.end()) return it->second;
    const uint32_t id = new_rule(name);
    rules_[id].first_use = at;
    ids_.emplace(name, id);
    return id;
  }

  uint32_t new_rule(std::string name) {
    if (rules_.size() >= limits_.max_rules)
      fail("more than " + std::to_string(limits_.max_rules) + " rules (groups and repetitions included)");
    rules_.emplace_back();
    names_.push_back(std::move(name));
    return static_cast<uint32_t>(rules_.size() - 1);
  }

  // A rule of its own for a group or repetition, named after the rule it is made in.
  uint32_t helper_rule(std::vector<Sequence> alternatives) {
    const uint32_t id = new_rule(names_[current_] + "-" + std::to_string(rules_.size()));
    rules_[id].alternatives = std::move(alternatives);
    rules_[id].defined = true;
    return id;
  }

  std::string parse_name() {
    const size_t start = pos_;
    while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
    if (pos_ == start) fail("expected a rule name, found " + describe_here());
    return std::string(src_.substr(start, pos_ - start));
  }

  void parse_rule() {
    const size_t at = pos_;
    const std::string name = parse_name();
    const uint32_t id = rule_id(name, at);
    if (rules_[id].defined) fail_at(at, "rule '" + name + "' is defined twice");
    rules_[id].defined = true;  // before its body, so a reference to itself finds it defined
    current_ = id;
    skip_space(false);
    if (src_.compare(pos_, 3, "::=") != 0) fail("expected '::=' after the rule name '" + name + "', found " + describe_here());
    pos_ += 3;
    skip_space(true);
    rules_[id].alternatives = parse_alternatives(false);
    if (pos_ < src_.size()) {
      if (src_[pos_] != '\n') fail("expected the end of the line after rule '" + name + "', found " + describe_here());
      ++pos_;
    }
    skip_space(true);
  }

  std::vector<Sequence> parse_alternatives(bool nested) {
    std::vector<Sequence> alts;
    alts.push_back(parse_sequence(nested));
    while (pos_ < src_.size() && src_[pos_] == '|') {
      ++pos_;
      skip_space(true);
      alts.push_back(parse_sequence(nested));
    }
    return alts;
  }

  Sequence parse_sequence(bool nested) {
    Sequence seq;
    while (pos_ < src_.size()) {
      Sequence item;
      if (!parse_primary(item)) break;
      skip_space(nested);
      if (pos_ < src_.size() && (src_[pos_] == '*' || src_[pos_] == '+' || src_[pos_] == '?' || src_[pos_] == '{')) {
        apply_repetition(item);
        skip_space(nested);
      }
      count_elements(item.size());
      for (DraftElement& e : item) seq.push_back(std::move(e));
    }
    return seq;
  }

  void count_elements(size_t n) {
    n_elements_ += n;
    if (n_elements_ > limits_.max_elements)
      fail("the grammar grows past " + std::to_string(limits_.max_elements) + " elements once repetitions are written out");
  }

  // One literal, class, '.', rule name or group into `item`; false when none starts here.
  bool parse_primary(Sequence& item) {
    const char c = src_[pos_];
    if (c == '"') {
      ++pos_;
      while (true) {
        if (pos_ >= src_.size() || src_[pos_] == '\n') fail("a string literal is not closed");
        if (src_[pos_] == '"') break;
        const uint32_t cp = parse_char();
        item.push_back({ElementKind::Chars, 0, {{cp, cp}}});
      }
      ++pos_;
      return true;
    }
    if (c == '[') {
      const size_t at = pos_++;
      DraftElement e{ElementKind::Chars, 0, {}};
      if (pos_ < src_.size() && src_[pos_] == '^') {
        e.kind = ElementKind::NotChars;
        ++pos_;
      }
      while (true) {
        if (pos_ >= src_.size() || src_[pos_] == '\n') fail_at(at, "a character class is not closed");
        if (src_[pos_] == ']') break;
        const uint32_t first = parse_char();
        uint32_t last = first;
        if (pos_ + 1 < src_.size() && src_[pos_] == '-' && src_[pos_ + 1] != ']') {
          ++pos_;
          last = parse_char();
          if (last < first) fail("the range in a character class runs backwards");
        }
        e.ranges.push_back({first, last});
      }
      ++pos_;
      if (e.kind == ElementKind::Chars && e.ranges.empty()) fail_at(at, "an empty character class matches nothing");
      sort_and_merge(e.ranges);
      item.push_back(std::move(e));
      return true;
    }
    if (c == '.') {
      ++pos_;
      item.push_back({ElementKind::NotChars, 0, {}});
      return true;
    }
    if (c == '(') {
      const size_t at = pos_++;
      if (++nesting_ > limits_.max_nesting) fail("groups nest deeper than " + std::to_string(limits_.max_nesting));
      skip_space(true);
      std::vector<Sequence> alts = parse_alternatives(true);
      if (pos_ >= src_.size() || src_[pos_] != ')') fail_at(at, "a group is not closed (expected ')', found " + describe_here() + ")");
      ++pos_;
      --nesting_;
      item.push_back({ElementKind::RuleRef, helper_rule(std::move(alts)), {}});
      return true;
    }
    if (c == '<') fail("token references (<...>) are not supported");
    if (is_name_char(c)) {
      const size_t at = pos_;
      const std::string name = parse_name();
      skip_space(false);
      if (src_.compare(pos_, 3, "::=") == 0) fail_at(at, "expected the end of the line before rule '" + name + "'");
      item.push_back({ElementKind::RuleRef, rule_id(name, at), {}});
      return true;
    }
    return false;
  }

  uint32_t parse_hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      const int h = pos_ < src_.size() ? hex_value(src_[pos_]) : -1;
      if (h < 0) fail("expected " + std::to_string(digits) + " hexadecimal digits in an escape");
      v = v * 16 + static_cast<uint32_t>(h);
      ++pos_;
    }
    return v;
  }

  // One character of a literal or class: an escape or one UTF-8 encoded code point.
  uint32_t parse_char() {
    const unsigned char c = static_cast<unsigned char>(src_[pos_]);
    uint32_t cp = 0;
    if (c == '\\') {
      if (++pos_ >= src_.size()) fail("an escape is cut off by the end");
      const char e = src_[pos_++];
      switch (e) {
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        case '\\': case '"': case '[': case ']': case '-': case '^': case '/': case '.': return static_cast<uint32_t>(e);
        case 'x': cp = parse_hex(2); break;
        case 'u': cp = parse_hex(4); break;
        case 'U': cp = parse_hex(8); break;
        default: --pos_; fail(std::string("unknown escape '\\") + e + "'");
      }
    } else if (c < 0x80) {
      ++pos_;
      return c;
    } else {
      const int len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
      if (len == 0 || c > 0xF4) fail("invalid UTF-8");
      if (pos_ + static_cast<size_t>(len) > src_.size()) fail("invalid UTF-8 (cut off)");
      cp = c & (0xFF >> (len + 1));
      for (int i = 1; i < len; ++i) {
        const unsigned char k = static_cast<unsigned char>(src_[pos_ + static_cast<size_t>(i)]);
        if ((k & 0xC0) != 0x80) fail("invalid UTF-8");
        cp = (cp << 6) | (k & 0x3F);
      }
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      if (cp < kMin[len]) fail("invalid UTF-8 (overlong)");
      pos_ += static_cast<size_t>(len);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) fail("not a Unicode scalar value: " + std::to_string(cp));
    return cp;
  }

  uint32_t parse_count() {
    const size_t start = pos_;
    uint64_t v = 0;
    while (pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '9') {
      v = v * 10 + static_cast<uint64_t>(src_[pos_] - '0');
      if (v > limits_.max_repetition) fail("a repetition count above " + std::to_string(limits_.max_repetition));
      ++pos_;
    }
    if (pos_ == start) fail("expected a number in a repetition, found " + describe_here());
    return static_cast<uint32_t>(v);
  }

  // item{min,max} (max < 0: no bound), written out: min copies, then nested optional
  // copies (x (x (x)?)?)? or a right-recursive rule for no bound.
  void apply_repetition(Sequence& item) {
    const char op = src_[pos_++];
    uint32_t min = 0;
    int64_t max = -1;
    if (op == '+') {
      min = 1;
    } else if (op == '?') {
      max = 1;
    } else if (op == '{') {
      skip_space(true);
      min = parse_count();
      skip_space(true);
      max = min;
      if (pos_ < src_.size() && src_[pos_] == ',') {
        ++pos_;
        skip_space(true);
        max = pos_ < src_.size() && src_[pos_] == '}' ? int64_t{-1} : int64_t{parse_count()};
        skip_space(true);
      }
      if (pos_ >= src_.size() || src_[pos_] != '}') fail("expected '}' to close a repetition, found " + describe_here());
      ++pos_;
      if (max >= 0 && max < min) fail("a repetition {m,n} needs m <= n");
    }
    const Sequence one = item;
    count_elements(one.size() * (min + (max < 0 ? 1 : static_cast<size_t>(max) - min)));
    Sequence out;
    for (uint32_t i = 0; i < min; ++i) out.insert(out.end(), one.begin(), one.end());
    if (max < 0) {
      // R ::= one R | (nothing)
      const uint32_t r = helper_rule({});
      Sequence again = one;
      again.push_back({ElementKind::RuleRef, r, {}});
      rules_[r].alternatives = {std::move(again), Sequence{}};
      out.push_back({ElementKind::RuleRef, r, {}});
    } else if (max > min) {
      uint32_t inner = 0;
      for (int64_t k = 0; k < max - min; ++k) {
        Sequence opt = one;
        if (k > 0) opt.push_back({ElementKind::RuleRef, inner, {}});
        inner = helper_rule({std::move(opt), Sequence{}});
      }
      out.push_back({ElementKind::RuleRef, inner, {}});
    }
    item = std::move(out);
  }

  Grammar lay_out() {
    for (size_t id = 0; id < rules_.size(); ++id)
      if (!rules_[id].defined) fail_at(rules_[id].first_use, "rule '" + names_[id] + "' is used but not defined");
    const auto root = ids_.find("root");
    if (root == ids_.end() || !rules_[root->second].defined) throw GrammarError(origin_ + ": the grammar has no 'root' rule");
    Grammar g;
    g.root = root->second;
    g.rule_names = names_;
    g.alternatives.resize(rules_.size());
    for (size_t id = 0; id < rules_.size(); ++id) {
      for (const Sequence& seq : rules_[id].alternatives) {
        g.alternatives[id].push_back(static_cast<uint32_t>(g.elements.size()));
        for (const DraftElement& d : seq) {
          Element e{d.kind, d.rule, 0};
          if (d.kind == ElementKind::Chars || d.kind == ElementKind::NotChars) {
            e.value = static_cast<uint32_t>(g.ranges.size());
            e.n_ranges = static_cast<uint32_t>(d.ranges.size());
            g.ranges.insert(g.ranges.end(), d.ranges.begin(), d.ranges.end());
          }
          g.elements.push_back(e);
        }
        g.elements.push_back({});
      }
    }
    check_grammar(g, origin_);
    return g;
  }

  std::string_view src_;
  std::string origin_;
  GbnfLimits limits_;
  size_t pos_ = 0;
  int nesting_ = 0;
  size_t n_elements_ = 0;
  uint32_t current_ = 0;
  std::vector<DraftRule> rules_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, uint32_t> ids_;
};

}  // namespace

Grammar parse_gbnf(std::string_view source, std::string_view origin, const GbnfLimits& limits) {
  return GbnfParser(source, origin, limits).parse();
}

}  // namespace entropix::grammar
