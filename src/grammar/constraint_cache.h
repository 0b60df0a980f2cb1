// Grammars compiled for a vocabulary, kept by their text: requests that send the same
// schema or grammar again (an app's extraction call, every turn of an agent loop)
// reuse its token masks instead of computing them anew.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "grammar/token_constraint.h"

namespace entropix {
class Tokenizer;
}

namespace entropix::grammar {

// Parses GBNF `source` and prepares it for `tokenizer`'s vocabulary; throws
// GrammarError (its message starts with `origin`).
std::shared_ptr<const TokenConstraint> compile_grammar(std::string_view source, const Tokenizer& tokenizer,
                                                       std::string_view origin);

class ConstraintCache {
 public:
  explicit ConstraintCache(size_t capacity = 32) : capacity_(capacity) {}
  // compile_grammar(source, ...), or the constraint kept from the last time the same text came.
  std::shared_ptr<const TokenConstraint> get(const std::string& source, const Tokenizer& tokenizer,
                                             std::string_view origin);

 private:
  size_t capacity_;
  std::mutex mutex_;
  std::list<std::pair<std::string, std::shared_ptr<const TokenConstraint>>> kept_;  // most recent first
};

}  // namespace entropix::grammar
