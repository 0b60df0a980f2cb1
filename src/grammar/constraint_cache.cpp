#include "grammar/constraint_cache.h"

#include "grammar/gbnf_parser.h"
#include "tokenizer/tokenizer.h"

namespace entropix::grammar {

std::shared_ptr<const TokenConstraint> compile_grammar(std::string_view source, const Tokenizer& tokenizer,
                                                       std::string_view origin) {
  auto g = std::make_shared<const Grammar>(parse_gbnf(source, origin));
  auto c = std::make_shared<const TokenConstraint>(std::move(g), tokenizer.token_trie());
  // A grammar that is ambiguous past the matcher's limits at its very start is refused
  // now, with its origin, rather than failing its first decoding step.
  try {
    (void)c->start();
  } catch (const GrammarError& e) {
    throw GrammarError(std::string(origin) + ": " + e.what());
  }
  return c;
}

std::shared_ptr<const TokenConstraint> ConstraintCache::get(const std::string& source, const Tokenizer& tokenizer,
                                                            std::string_view origin) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = kept_.begin(); it != kept_.end(); ++it) {
      if (it->first != source || it->second->n_vocab() != tokenizer.n_vocab()) continue;
      kept_.splice(kept_.begin(), kept_, it);
      return kept_.front().second;
    }
  }
  auto c = compile_grammar(source, tokenizer, origin);
  std::lock_guard<std::mutex> lock(mutex_);
  kept_.emplace_front(source, c);
  while (kept_.size() > capacity_) kept_.pop_back();
  return c;
}

}  // namespace entropix::grammar
