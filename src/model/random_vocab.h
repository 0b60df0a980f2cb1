// Synthetic vocabularies of a real model's size and special-token layout, for
// random-weight models that other GGUF readers (llama.cpp) load.
// Byte-level BPE ("gpt2" tokenizer model; Llama3, Qwen2): the 256 GPT-2 byte tokens,
// merged tokens each built by a merge "left right" of two earlier tokens, then the
// family's special tokens.
// SentencePiece ("llama" tokenizer model; Gemma): Gemma's specials and control tokens at
// their ids (<pad> 0, <eos> 1, <bos> 2, <unk> 3, <start_of_turn> 106, <end_of_turn> 107),
// the 256 byte-fallback tokens <0x00>..<0xFF>, then pieces over an alphabet with U+2581
// for the space, each a one-character extension of an earlier piece, with scores falling
// in vocabulary order; no space prefix is added to the text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace entropix {

enum class VocabFamily {
  Llama3,  // <|begin_of_text|> ... as Llama 3.x; pre-tokenizer "llama-bpe"
  Qwen2,   // <|endoftext|>, <|im_start|> ... as Qwen2.5; pre-tokenizer "qwen2"
  Gemma,   // SentencePiece with Gemma's specials (Gemma 2 and 3)
};

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct SyntheticVocab {
  std::string model = "gpt2";        // tokenizer.ggml.model: "gpt2" (BPE) or "llama" (SentencePiece)
  std::vector<std::string> tokens;   // [n_vocab], GPT-2 byte-to-unicode text or special names
  std::vector<float> scores;         // [n_vocab], SentencePiece only
  std::vector<int32_t> token_types;  // [n_vocab], TokenType values
  std::vector<std::string> merges;   // "left right", in rank order
  std::string pre;                   // tokenizer.ggml.pre
  int32_t bos_id = 0;
  int32_t eos_id = 0;
  int32_t pad_id = -1;               // -1: none
  int32_t unk_id = -1;               // -1: none
  bool add_bos = false;
  bool add_space_prefix = false;     // SentencePiece only
};

// n_vocab must leave room for the 256 byte tokens and the family's named specials.
// The full-size layouts (128256 for Llama3, 151936 for Qwen2) match the real models'
// special-token ids; smaller sizes keep only the named specials, at the end.
SyntheticVocab make_synthetic_vocab(VocabFamily family, int32_t n_vocab);

}  // namespace entropix
