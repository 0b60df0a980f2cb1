// Byte-level BPE (llama.cpp's "gpt2" vocabularies): pre-tokenize, map bytes to
// GPT-2's printable code points, then merge adjacent pairs by merge rank.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/vocab.h"

namespace entropix {

// Appends the ids for raw text (no special-token handling) to out.
void bpe_tokenize(const Vocab& vocab, PreTokenizerKind kind, bool ignore_merges, std::string_view text,
                  std::vector<int32_t>& out);

}  // namespace entropix
