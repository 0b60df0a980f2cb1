// Tokenizers read from GGUF (tokenizer.ggml.*), matching llama.cpp token for
// token: SentencePiece-style ("llama") and byte-level BPE ("gpt2") vocabularies,
// special-token parsing, detokenization and UTF-8-safe streaming.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/vocab.h"

namespace entropix {

class GgufFile;
class TokenTrie;

// Everything a tokenizer is built from: the tokenizer.ggml.* metadata, in memory.
// Unset optionals take llama.cpp's defaults for the model type.
struct VocabData {
  std::string model = "gpt2";            // tokenizer.ggml.model: "llama" (SPM) or "gpt2" (BPE)
  std::string pre;                       // tokenizer.ggml.pre (BPE only; empty = "default")
  std::string name;                      // general.name (llama.cpp keys a few token attributes on it)
  std::vector<std::string> tokens;       // [n_vocab]
  std::vector<float> scores;             // [n_vocab] or empty
  std::vector<int32_t> token_types;      // [n_vocab] TokenType values, or empty (all normal)
  std::vector<std::string> merges;       // BPE: "left right", in rank order
  std::optional<int32_t> bos, eos, unk, eot, eom, sep, pad;
  std::optional<int32_t> fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
};

class Tokenizer {
 public:
  // Reads tokenizer.ggml.* (and general.name); throws Error naming the key on bad metadata.
  static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& file);
  static std::unique_ptr<Tokenizer> from_vocab(VocabData data);

  // add_special: add BOS/EOS as the metadata (or llama.cpp's default for the type) says.
  // parse_special: recognise control/user-defined token texts in the input; user-defined
  // tokens are recognised even without it, as llama.cpp does.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;
  // The bytes a token stands for (llama.cpp's token_to_piece with special=true);
  // empty for ids out of range.
  std::string token_to_piece(int32_t id) const;
  // Concatenated pieces, control/unknown tokens rendered as nothing; for SentencePiece
  // vocabularies with a space prefix, the first piece loses its leading space.
  std::string decode(std::span<const int32_t> ids) const;
  const std::string& token_text(int32_t id) const;  // raw vocabulary string; throws when out of range
  int32_t find_token(std::string_view text) const { return vocab_.find(text); }  // id of a raw string, -1 if none

  int32_t n_vocab() const { return vocab_.n_vocab(); }
  int32_t bos() const { return bos_; }  // -1 if none
  int32_t eos() const { return eos_; }  // -1 if none
  int32_t unk() const { return vocab_.unk; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool is_eog(int32_t id) const { return eog_.count(id) != 0; }  // end of generation
  bool is_control(int32_t id) const;
  // ends[id]: token id's text (token_to_piece) ends with one of `chars`. Built on the
  // first call for a set of characters and kept for the tokenizer's life, so every
  // request and fork of a loaded model shares one table; safe from any thread.
  std::shared_ptr<const std::vector<bool>> tokens_ending_with(std::string_view chars) const;
  // The text tokens as a byte trie (grammar-constrained decoding): built on the first
  // call and shared for the tokenizer's life; safe from any thread.
  std::shared_ptr<const TokenTrie> token_trie() const;

  std::string_view model_type() const { return model_; }  // "llama" or "gpt2"
  std::string_view pre_type() const { return pre_; }

 private:
  Tokenizer() = default;
  // The steps of from_vocab that set members: llama.cpp's defaults for the model
  // type (throws for an unknown one), then the special ids given or found by text,
  // the end-of-generation set and the special tokens in matching order.
  void set_type_defaults(const VocabData& d);
  void set_special_tokens(const VocabData& d);

  struct Fragment {
    int32_t token;  // -1 for raw text
    size_t begin, size;
  };
  std::vector<Fragment> partition(std::string_view text, bool parse_special) const;
  // A piece as decode() renders it (control and unknown tokens give nothing).
  std::string_view display_piece(int32_t id) const;
  friend class TokenStreamDecoder;

  Vocab vocab_;
  std::string model_;
  std::string pre_;
  bool spm_ = false;
  PreTokenizerInfo pre_info_;
  bool add_bos_ = false;
  bool add_eos_ = false;
  bool add_space_prefix_ = false;
  int32_t bos_ = -1;
  int32_t eos_ = -1;
  std::unordered_set<int32_t> eog_;
  std::vector<int32_t> special_;     // control/user-defined/unknown ids, longest text first
  std::vector<std::string> pieces_;  // [n_vocab] token_to_piece cache
  mutable std::mutex ends_mutex_;    // guards ends_
  mutable std::map<std::string, std::shared_ptr<const std::vector<bool>>, std::less<>> ends_;  // by `chars`
  mutable std::mutex trie_mutex_;                  // guards trie_
  mutable std::shared_ptr<const TokenTrie> trie_;  // built by token_trie()
};

// Streaming detokenization: push() returns only whole UTF-8 characters, holding back
// an incomplete multi-byte sequence until its last byte arrives; flush() returns the rest.
class TokenStreamDecoder {
 public:
  explicit TokenStreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  std::string push(int32_t id);
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
};

}  // namespace entropix
