// The vocabulary's text tokens as a byte trie, laid out flat in depth-first order so
// that a walk can skip a whole subtree (every token that starts with a rejected
// prefix) with one jump. Grammar-constrained decoding walks it once per grammar state.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace entropix {

class Tokenizer;

class TokenTrie {
 public:
  struct Node {
    uint32_t subtree_end = 0;   // index of the first node after this node's subtree
    uint32_t tokens_begin = 0;  // tokens whose text ends here: token_ids()[begin, end)
    uint32_t tokens_end = 0;
    uint16_t depth = 0;         // 1 for a token's first byte
    uint8_t byte = 0;
  };

  // Text tokens only: control, unknown and end-of-generation tokens, and tokens with
  // no text, are left out (a grammar matches text; the end of text is decided apart).
  explicit TokenTrie(const Tokenizer& tokenizer);

  std::span<const Node> nodes() const { return nodes_; }
  std::span<const int32_t> tokens_at(const Node& n) const {
    return {token_ids_.data() + n.tokens_begin, n.tokens_end - n.tokens_begin};
  }
  int32_t n_vocab() const { return n_vocab_; }
  size_t max_depth() const { return max_depth_; }
  std::span<const int32_t> end_of_generation() const { return eog_; }  // ids that end the text

 private:
  std::vector<Node> nodes_;
  std::vector<int32_t> token_ids_;
  std::vector<int32_t> eog_;
  int32_t n_vocab_ = 0;
  size_t max_depth_ = 0;
};

}  // namespace entropix
