// A context-free grammar over Unicode code points, in the form the matcher walks:
// every rule is a list of alternatives, every alternative a run of elements in one
// flat array ending with End. Repetitions and groups of the source syntax (GBNF) are
// already rewritten into rules of their own, so only four kinds of element remain.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace entropix::grammar {

struct CharRange {
  uint32_t first = 0;
  uint32_t last = 0;  // inclusive
};

enum class ElementKind : uint8_t {
  End,       // the alternative is complete
  Chars,     // one code point inside one of the ranges
  NotChars,  // one code point outside all of the ranges (no ranges: any code point)
  RuleRef,   // one match of a rule
};

struct Element {
  ElementKind kind = ElementKind::End;
  uint32_t value = 0;     // RuleRef: the rule's id; Chars/NotChars: index of the first range
  uint32_t n_ranges = 0;  // Chars/NotChars: ranges, sorted and disjoint
};

struct Grammar {
  std::vector<Element> elements;                    // every alternative, each ending with End
  std::vector<CharRange> ranges;                    // of the Chars/NotChars elements
  std::vector<std::vector<uint32_t>> alternatives;  // [rule]: position of each alternative's first element
  std::vector<std::string> rule_names;              // [rule], for messages
  uint32_t root = 0;

  // Whether the character element `e` takes code point `cp`.
  bool matches(const Element& e, uint32_t cp) const;
  // Whether `e` takes some code point in [lo, hi] (a UTF-8 character read in part).
  bool may_match(const Element& e, uint32_t lo, uint32_t hi) const;
};

}  // namespace entropix::grammar
