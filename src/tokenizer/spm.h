// SentencePiece-style tokenization (llama.cpp's "llama" vocabularies): merge the
// adjacent pair whose joined text is the highest-scoring token, repeatedly; what
// never becomes a token falls back to <0xXX> byte tokens.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace entropix {

// text has spaces already escaped to U+2581. Appends ids to out.
void spm_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);

// The <0xXX> token for a byte (or the one-character token, or unk); -1 if none.
int32_t spm_byte_token(const Vocab& vocab, uint8_t byte);

}  // namespace entropix
