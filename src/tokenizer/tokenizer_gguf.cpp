// Tokenizer::from_gguf: the tokenizer.ggml.* metadata into VocabData.
#include <climits>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

namespace {

std::optional<int32_t> opt_id(const GgufFile& f, std::string_view key) {
  if (!f.has(key)) return std::nullopt;
  const int64_t v = f.get_i64(key, -1);
  if (v < 0 || v > INT32_MAX) return std::nullopt;
  return static_cast<int32_t>(v);
}

std::optional<bool> opt_bool(const GgufFile& f, std::string_view key) {
  if (!f.has(key)) return std::nullopt;
  return f.get_bool(key, false);
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& f) {
  VocabData d;
  d.model = f.get_string("tokenizer.ggml.model");
  d.pre = f.get_string("tokenizer.ggml.pre", "");
  d.name = f.get_string("general.name", "");
  d.tokens = f.get_string_array("tokenizer.ggml.tokens");
  if (f.has("tokenizer.ggml.scores")) {
    for (const double s : f.get_f64_array("tokenizer.ggml.scores")) d.scores.push_back(static_cast<float>(s));
  }
  if (f.has("tokenizer.ggml.token_type")) {
    for (const int64_t t : f.get_i64_array("tokenizer.ggml.token_type")) d.token_types.push_back(static_cast<int32_t>(t));
  }
  if (d.model == "gpt2") {
    if (!f.has("tokenizer.ggml.merges"))
      throw Error(f.path() + ": tokenizer.ggml.merges: expected the BPE merge list for a gpt2 tokenizer, found none");
    d.merges = f.get_string_array("tokenizer.ggml.merges");
  }
  d.bos = opt_id(f, "tokenizer.ggml.bos_token_id");
  d.eos = opt_id(f, "tokenizer.ggml.eos_token_id");
  d.unk = opt_id(f, "tokenizer.ggml.unknown_token_id");
  d.eot = opt_id(f, "tokenizer.ggml.eot_token_id");
  d.eom = opt_id(f, "tokenizer.ggml.eom_token_id");
  d.sep = opt_id(f, "tokenizer.ggml.seperator_token_id");
  d.pad = opt_id(f, "tokenizer.ggml.padding_token_id");
  d.fim_pre = opt_id(f, "tokenizer.ggml.fim_pre_token_id");
  if (!d.fim_pre) d.fim_pre = opt_id(f, "tokenizer.ggml.prefix_token_id");
  d.fim_suf = opt_id(f, "tokenizer.ggml.fim_suf_token_id");
  if (!d.fim_suf) d.fim_suf = opt_id(f, "tokenizer.ggml.suffix_token_id");
  d.fim_mid = opt_id(f, "tokenizer.ggml.fim_mid_token_id");
  if (!d.fim_mid) d.fim_mid = opt_id(f, "tokenizer.ggml.middle_token_id");
  d.fim_pad = opt_id(f, "tokenizer.ggml.fim_pad_token_id");
  d.fim_rep = opt_id(f, "tokenizer.ggml.fim_rep_token_id");
  d.fim_sep = opt_id(f, "tokenizer.ggml.fim_sep_token_id");
  d.add_bos = opt_bool(f, "tokenizer.ggml.add_bos_token");
  d.add_eos = opt_bool(f, "tokenizer.ggml.add_eos_token");
  d.add_space_prefix = opt_bool(f, "tokenizer.ggml.add_space_prefix");
  try {
    return from_vocab(std::move(d));
  } catch (const Error& e) {
    throw Error(f.path() + ": " + e.what());
  }
}

}  // namespace entropix
