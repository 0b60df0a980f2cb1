// The structured-output flags shared by run and bench: --grammar FILE (GBNF) or
// --json-schema FILE, turned into a constraint prepared for the model's vocabulary.
#pragma once

#include <memory>
#include <string>

#include "grammar/token_constraint.h"

namespace CLI {
class App;
}

namespace entropix {

class Tokenizer;

struct GrammarFlags {
  std::string grammar_file;      // GBNF (llama.cpp's syntax)
  std::string json_schema_file;  // JSON Schema, converted to GBNF
  bool given() const { return !grammar_file.empty() || !json_schema_file.empty(); }
};

// --grammar and --json-schema; at most one of them.
void add_grammar_flags(CLI::App& cmd, GrammarFlags& flags);

// The constraint the flags name, for `tokenizer`'s vocabulary; null when neither was
// given. Throws Error naming the flag when its file is unreadable or not a grammar or schema.
std::shared_ptr<const grammar::TokenConstraint> constraint_from_flags(const GrammarFlags& flags,
                                                                      const Tokenizer& tokenizer);

}  // namespace entropix
