// A grammar applied to one vocabulary: the tokens each matcher state allows, as a bit
// mask over the vocabulary. The set of stacks allows a token when one of its stacks
// does, so masks are computed and kept per stack: a JSON answer returns to the same
// few stacks again and again, and after the first visit each costs one lookup. A
// stack's mask is one walk of the vocabulary's trie that skips every subtree whose
// prefix the grammar rejects. One constraint serves every answer decoded with the
// grammar (forks and requests alike) and may be used from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "grammar/grammar.h"
#include "grammar/grammar_matcher.h"
#include "tokenizer/token_trie.h"

namespace entropix::grammar {

// One bit per token id.
using TokenBits = std::vector<uint64_t>;
inline bool token_bit(const TokenBits& bits, int32_t id) {
  return (bits[static_cast<size_t>(id) >> 6] >> (static_cast<unsigned>(id) & 63)) & 1;
}

struct ConstraintStats {
  uint64_t masks = 0;        // allowed_tokens() calls
  uint64_t stack_walks = 0;  // stacks whose mask had to be computed (the rest were kept)
  uint64_t stack_hits = 0;   // stacks whose mask was kept from before
  double seconds = 0;        // spent in allowed_tokens(), walks included
};

class TokenConstraint {
 public:
  TokenConstraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const TokenTrie> trie);

  // A matcher at the grammar's start.
  GrammarMatcher start() const { return GrammarMatcher(grammar_); }
  // The tokens `m` allows into `bits` ([n_vocab] bits): text tokens the grammar takes
  // next, and the end-of-generation tokens when the text is a complete match.
  void allowed_tokens(const GrammarMatcher& m, TokenBits& bits) const;

  const Grammar& grammar() const { return *grammar_; }
  int32_t n_vocab() const { return trie_->n_vocab(); }
  ConstraintStats stats() const;

 private:
  std::shared_ptr<const TokenBits> stack_mask(std::span<const uint32_t> stack, const PartialChar& p) const;
  void walk(std::span<const uint32_t> stack, const PartialChar& p, TokenBits& bits) const;

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const TokenTrie> trie_;
  size_t n_words_ = 0;

  mutable std::mutex mutex_;  // guards everything below
  mutable std::unordered_map<std::string, std::shared_ptr<const TokenBits>> kept_;  // by stack and partial character
  mutable size_t kept_bytes_ = 0;
  mutable ConstraintStats stats_;
  // walk(): the states met so far, their transitions by byte, and the state at each trie depth.
  struct WalkState {
    StackSet stacks;
    PartialChar partial;
  };
  static constexpr int32_t kUnknown = -2, kRejected = -1;
  int32_t walk_state(StackSet&& stacks, const PartialChar& p) const;
  mutable std::vector<WalkState> walk_states_;
  mutable std::vector<int32_t> walk_next_;  // [state * 256 + byte]: next state, kUnknown or kRejected
  mutable std::unordered_map<std::string, int32_t> walk_index_;
  mutable std::vector<int32_t> levels_;
};

// Masked logits: `logits` with every token `bits` does not allow set to -infinity,
// written into `scratch`.
std::span<const float> mask_logits(std::span<const float> logits, const TokenBits& bits, std::vector<float>& scratch);

// Whether `bits` allows any token.
bool any_token(const TokenBits& bits);

}  // namespace entropix::grammar
