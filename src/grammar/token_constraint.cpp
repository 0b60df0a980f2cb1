#include "grammar/token_constraint.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace entropix::grammar {

namespace {

// Masks kept per constraint at most (a 128k vocabulary's mask is 16 KB).
constexpr size_t kMaxKeptBytes = 64u << 20;

std::string key_of(std::span<const uint32_t> stack, const PartialChar& p) {
  std::string k(sizeof(uint32_t) * (stack.size() + 1), '\0');
  const uint32_t head = (p.bits << 8) | (static_cast<uint32_t>(p.left) << 4) | p.len;
  std::memcpy(k.data(), &head, sizeof head);
  if (!stack.empty()) std::memcpy(k.data() + sizeof head, stack.data(), stack.size() * sizeof(uint32_t));
  return k;
}

void set_bit(TokenBits& bits, int32_t id) {
  bits[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (static_cast<unsigned>(id) & 63);
}

}  // namespace

TokenConstraint::TokenConstraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const TokenTrie> trie)
    : grammar_(std::move(grammar)), trie_(std::move(trie)) {
  n_words_ = (static_cast<size_t>(trie_->n_vocab()) + 63) / 64;
}

ConstraintStats TokenConstraint::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void TokenConstraint::allowed_tokens(const GrammarMatcher& m, TokenBits& bits) const {
  const auto t0 = std::chrono::steady_clock::now();
  bits.assign(n_words_, 0);
  const StackSet& stacks = m.stacks();
  for (size_t i = 0; i < stacks.size(); ++i) {
    const std::span<const uint32_t> s = stacks[i];
    if (s.empty()) continue;
    const std::shared_ptr<const TokenBits> one = stack_mask(s, m.partial());
    for (size_t w = 0; w < n_words_; ++w) bits[w] |= (*one)[w];
  }
  if (m.accepting())
    for (int32_t id : trie_->end_of_generation()) set_bit(bits, id);
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::lock_guard<std::mutex> lock(mutex_);
  ++stats_.masks;
  stats_.seconds += dt;
}

std::shared_ptr<const TokenBits> TokenConstraint::stack_mask(std::span<const uint32_t> stack,
                                                             const PartialChar& p) const {
  std::string key = key_of(stack, p);
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = kept_.find(key); it != kept_.end()) {
    ++stats_.stack_hits;
    return it->second;
  }
  auto bits = std::make_shared<TokenBits>(n_words_, 0);
  walk(stack, p, *bits);
  ++stats_.stack_walks;
  const size_t bytes = n_words_ * sizeof(uint64_t) + key.size();
  if (kept_bytes_ + bytes > kMaxKeptBytes) {
    kept_.clear();
    kept_bytes_ = 0;
  }
  kept_bytes_ += bytes;
  kept_.emplace(std::move(key), bits);
  return bits;
}

// Depth-first over the trie: a node's state is its parent's after one more byte;
// a rejected byte rules out the node's whole subtree. The states met on the way are
// numbered and their transitions kept for the walk (a byte-level automaton built as
// needed): inside a string, most bytes lead from a state back to itself, so nearly
// every node costs one table lookup.
void TokenConstraint::walk(std::span<const uint32_t> stack, const PartialChar& p, TokenBits& bits) const {
  walk_states_.clear();
  walk_next_.clear();
  walk_index_.clear();
  StackSet first;
  first.add(stack);
  const int32_t start = walk_state(std::move(first), p);
  const size_t depth = trie_->max_depth() + 1;
  if (levels_.size() < depth) levels_.resize(depth);
  std::vector<int32_t>& at = levels_;
  at[0] = start;
  StackStepper step(*grammar_);
  StackSet out;
  PartialChar p_out;
  const std::span<const TokenTrie::Node> nodes = trie_->nodes();
  for (size_t i = 0; i < nodes.size();) {
    const TokenTrie::Node& n = nodes[i];
    const int32_t from = at[n.depth - 1];
    int32_t to = walk_next_[static_cast<size_t>(from) * 256 + n.byte];
    if (to == kUnknown) {
      const WalkState& w = walk_states_[static_cast<size_t>(from)];
      to = step.advance_byte(w.stacks, w.partial, n.byte, out, p_out) ? walk_state(std::move(out), p_out) : kRejected;
      out = StackSet();
      walk_next_[static_cast<size_t>(from) * 256 + n.byte] = to;
    }
    if (to == kRejected) {
      i = n.subtree_end;
      continue;
    }
    at[n.depth] = to;
    for (int32_t id : trie_->tokens_at(n)) set_bit(bits, id);
    ++i;
  }
}

int32_t TokenConstraint::walk_state(StackSet&& stacks, const PartialChar& p) const {
  std::string key = key_of({}, p);
  for (size_t i = 0; i < stacks.size(); ++i) {
    const std::span<const uint32_t> s = stacks[i];
    const uint32_t len = static_cast<uint32_t>(s.size());
    key.append(reinterpret_cast<const char*>(&len), sizeof len);
    key.append(reinterpret_cast<const char*>(s.data()), s.size() * sizeof(uint32_t));
  }
  if (auto it = walk_index_.find(key); it != walk_index_.end()) return it->second;
  const int32_t id = static_cast<int32_t>(walk_states_.size());
  walk_states_.push_back({std::move(stacks), p});
  walk_next_.resize(walk_next_.size() + 256, kUnknown);
  walk_index_.emplace(std::move(key), id);
  return id;
}

std::span<const float> mask_logits(std::span<const float> logits, const TokenBits& bits, std::vector<float>& scratch) {
  scratch.resize(logits.size());
  constexpr float kOff = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < logits.size(); ++i)
    scratch[i] = (i >> 6) < bits.size() && ((bits[i >> 6] >> (i & 63)) & 1) ? logits[i] : kOff;
  return scratch;
}

bool any_token(const TokenBits& bits) {
  return std::any_of(bits.begin(), bits.end(), [](uint64_t w) { return w != 0; });
}

}  // namespace entropix::grammar
