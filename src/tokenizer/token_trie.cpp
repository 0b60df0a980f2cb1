#include "tokenizer/token_trie.h"

#include <algorithm>
#include <string>
#include <utility>

#include "tokenizer/tokenizer.h"

namespace entropix {

TokenTrie::TokenTrie(const Tokenizer& tokenizer) : n_vocab_(tokenizer.n_vocab()) {
  std::vector<std::pair<std::string, int32_t>> texts;
  texts.reserve(static_cast<size_t>(n_vocab_));
  for (int32_t id = 0; id < n_vocab_; ++id) {
    if (tokenizer.is_eog(id)) {
      eog_.push_back(id);
      continue;
    }
    if (tokenizer.is_control(id) || id == tokenizer.unk()) continue;
    std::string piece = tokenizer.token_to_piece(id);
    if (!piece.empty() && piece.size() <= 0xFFFF) texts.emplace_back(std::move(piece), id);
  }
  std::sort(texts.begin(), texts.end());
  // Sorted texts give the depth-first order: each text shares its first `common`
  // bytes with the one before, so only the nodes below that depth are new.
  std::vector<uint32_t> open;  // nodes on the current path, by depth - 1
  const std::string* prev = nullptr;
  for (const auto& [text, id] : texts) {
    size_t common = 0;
    if (prev)
      while (common < prev->size() && common < text.size() && (*prev)[common] == text[common]) ++common;
    while (open.size() > common) {
      nodes_[open.back()].subtree_end = static_cast<uint32_t>(nodes_.size());
      open.pop_back();
    }
    for (size_t d = common; d < text.size(); ++d) {
      Node n;
      n.depth = static_cast<uint16_t>(d + 1);
      n.byte = static_cast<uint8_t>(text[d]);
      n.tokens_begin = n.tokens_end = static_cast<uint32_t>(token_ids_.size());
      open.push_back(static_cast<uint32_t>(nodes_.size()));
      nodes_.push_back(n);
    }
    // Equal texts are neighbours, so a node's tokens stay contiguous.
    Node& last = nodes_[open.back()];
    if (last.tokens_begin == last.tokens_end) last.tokens_begin = static_cast<uint32_t>(token_ids_.size());
    token_ids_.push_back(id);
    last.tokens_end = static_cast<uint32_t>(token_ids_.size());
    max_depth_ = std::max(max_depth_, text.size());
    prev = &text;
  }
  for (uint32_t i : open) nodes_[i].subtree_end = static_cast<uint32_t>(nodes_.size());
}

}  // namespace entropix
