// GBNF text written rule by rule (llama.cpp's grammar syntax, the subset the engine
// reads): rule names made valid and unique, identical rules shared, literals and
// character classes escaped, counted repetitions kept small for the engine to expand.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace entropix {

class GbnfWriter {
 public:
  // Adds `name ::= body` and returns the name the rule got: the name of an earlier
  // rule with the same body when there is one, else `name` made valid ([a-zA-Z0-9-]+)
  // and unique (a numeric suffix).
  std::string add_rule(std::string_view name, const std::string& body);
  // A unique name for a rule whose body comes later (a rule that refers to itself).
  std::string reserve(std::string_view name);
  void define(const std::string& reserved_name, const std::string& body);

  size_t text_bytes() const { return text_bytes_; }
  // Every rule, `root` first, then in the order they were named.
  std::string text() const;

 private:
  std::string unique_name(std::string_view name);

  std::vector<std::pair<std::string, std::string>> rules_;  // (name, body); body empty while reserved
  std::unordered_map<std::string, size_t> index_of_name_;
  std::unordered_map<std::string, std::string> name_of_body_;
  size_t text_bytes_ = 0;
};

// GBNF text as the writer writes it (a rule per line), every rule name (defined and
// referred to) prefixed with `prefix`: so that the grammars of several schemas can
// live in one (a function's arguments per tool). `root` becomes `<prefix>root`.
std::string gbnf_with_prefix(const std::string& text, const std::string& prefix);

// `text` as a GBNF string literal, quotes included; UTF-8 passes through unchanged.
std::string gbnf_literal(std::string_view text);

// One code point as it is written inside a GBNF character class.
std::string gbnf_class_char(uint32_t cpt);

// `expr` wrapped in parentheses unless it already is one item (a rule name, a literal,
// a class or a group), so a postfix operator applies to all of it.
std::string gbnf_group(const std::string& expr);

// `item` repeated min..max times (max absent: unbounded). Counts above
// kGbnfDirectRepeatLimit are written as blocks of blocks, so the copies the engine
// makes when it expands {m,n} stay near 2*sqrt(max) instead of max.
inline constexpr uint64_t kGbnfDirectRepeatLimit = 64;
std::string gbnf_repeat(const std::string& item, uint64_t min, std::optional<uint64_t> max);

}  // namespace entropix
