// llama.cpp's GBNF grammar syntax, read into a Grammar:
//
//   root   ::= object                 # the start rule is "root"
//   object ::= "{" pair ("," pair)* "}"
//   pair   ::= [a-z]+ ":" ( "true" | "false" | [0-9]{1,3} )
//
// literals "..." and character classes [...] / [^...] (escapes \n \r \t \\ \" \] \-
// \xHH \uHHHH \UHHHHHHHH), '.' for any character, groups, alternatives with '|', and
// the repetitions * + ? {m} {m,} {m,n}; comments run from '#' to the end of the line;
// a rule ends at the end of its line unless a group or a '|' carries it on.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.h"
#include "grammar/grammar.h"

namespace entropix::grammar {

// A grammar that cannot be used: bad syntax (with line and column), an undefined or
// left-recursive rule, a limit passed. The message starts with the grammar's origin.
class GrammarError : public Error {
 public:
  using Error::Error;
};

struct GbnfLimits {
  size_t max_bytes = 1 << 20;        // source size
  size_t max_rules = 50'000;         // rules, those made for groups and repetitions included
  size_t max_elements = 1'000'000;   // elements after repetitions are written out
  uint32_t max_repetition = 10'000;  // m and n of {m,n}
  int max_nesting = 128;             // groups inside groups
};

// Parses and checks `source` (see grammar_checks.h); throws GrammarError. `origin`
// names the grammar in messages ("the --grammar file", "'grammar'").
Grammar parse_gbnf(std::string_view source, std::string_view origin = "grammar", const GbnfLimits& limits = {});

}  // namespace entropix::grammar
