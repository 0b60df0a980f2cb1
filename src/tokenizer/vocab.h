// The vocabulary the tokenizers work on: token strings, scores, llama.cpp token
// attributes, the text -> id index and (byte-level BPE) the merge ranks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace entropix {

// GGUF tokenizer.ggml.token_type values.
enum class TokenType : int32_t { Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

// llama.cpp token attributes (bit set).
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1 << 0,
  kAttrUnused = 1 << 1,
  kAttrNormal = 1 << 2,
  kAttrControl = 1 << 3,
  kAttrUserDefined = 1 << 4,
  kAttrByte = 1 << 5,
  kAttrNormalized = 1 << 6,
  kAttrLstrip = 1 << 7,
  kAttrRstrip = 1 << 8,
  kAttrSingleWord = 1 << 9,
};

struct Vocab {
  std::vector<std::string> text;   // [n_vocab] token strings (empty ones renamed "[EMPTY_<id>]")
  std::vector<float> score;        // [n_vocab] SentencePiece scores (0 when absent)
  std::vector<uint32_t> attr;      // [n_vocab] TokenAttr bits
  std::unordered_map<std::string, int32_t> id_of;  // text -> id; the last duplicate wins
  std::unordered_map<std::string, int32_t> merge_rank;  // merge_key(left, right) -> rank
  int32_t unk = -1;

  int32_t n_vocab() const { return static_cast<int32_t>(text.size()); }
  int32_t find(std::string_view s) const {
    const auto it = id_of.find(std::string(s));
    return it == id_of.end() ? -1 : it->second;
  }
  static std::string merge_key(std::string_view left, std::string_view right) {
    std::string k;
    k.reserve(left.size() + right.size() + 8);
    k += std::to_string(left.size());
    k += ':';
    k += left;
    k += right;
    return k;
  }
  int32_t find_merge(std::string_view left, std::string_view right) const {
    const auto it = merge_rank.find(merge_key(left, right));
    return it == merge_rank.end() ? -1 : it->second;
  }
};

}  // namespace entropix
