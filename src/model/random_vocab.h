// Synthetic byte-level BPE vocabularies ("gpt2" tokenizer model) of a real model's
// size and special-token layout, for random-weight models that other GGUF readers
// (llama.cpp) load: the 256 GPT-2 byte tokens, merged tokens each built by a merge
// "left right" of two earlier tokens, then the family's special tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace entropix {

enum class VocabFamily {
  Llama3,  // <|begin_of_text|> ... as Llama 3.x; pre-tokenizer "llama-bpe"
  Qwen2,   // <|endoftext|>, <|im_start|> ... as Qwen2.5; pre-tokenizer "qwen2"
};

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct SyntheticVocab {
  std::vector<std::string> tokens;   // [n_vocab], GPT-2 byte-to-unicode text or special names
  std::vector<int32_t> token_types;  // [n_vocab], TokenType values
  std::vector<std::string> merges;   // "left right", in rank order
  std::string pre;                   // tokenizer.ggml.pre
  int32_t bos_id = 0;
  int32_t eos_id = 0;
  int32_t pad_id = -1;               // -1: none
  bool add_bos = false;
};

// n_vocab must leave room for the 256 byte tokens and the family's named specials.
// The full-size layouts (128256 for Llama3, 151936 for Qwen2) match the real models'
// special-token ids; smaller sizes keep only the named specials, at the end.
SyntheticVocab make_synthetic_vocab(VocabFamily family, int32_t n_vocab);

}  // namespace entropix
