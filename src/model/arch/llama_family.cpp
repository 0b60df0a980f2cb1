#include <cmath>
#include <string>

#include "core/error.h"
#include "gguf/gguf.h"
#include "model/arch/arch.h"

namespace entropix {

namespace {

int32_t positive_i32(const GgufFile& file, const std::string& key, uint64_t value) {
  if (value == 0 || value > (1u << 30)) {
    throw Error(file.path() + ": metadata " + key + " = " + std::to_string(value) +
                " is out of range (expected 1 .. 2^30)");
  }
  return static_cast<int32_t>(value);
}

}  // namespace

void read_llama_family_hparams(const GgufFile& file, ModelConfig& c) {
  const std::string p = c.arch + ".";
  auto req = [&](const std::string& key) { return positive_i32(file, p + key, file.get_u64(p + key)); };
  c.n_embd = req("embedding_length");
  c.n_layer = req("block_count");
  c.n_ff = req("feed_forward_length");
  c.n_head = req("attention.head_count");
  c.n_head_kv = positive_i32(file, p + "attention.head_count_kv",
                             file.get_u64(p + "attention.head_count_kv", static_cast<uint64_t>(c.n_head)));
  c.n_ctx_train = positive_i32(file, p + "context_length", file.get_u64(p + "context_length", 2048));
  if (c.n_head % c.n_head_kv != 0) {
    throw Error(file.path() + ": attention.head_count " + std::to_string(c.n_head) +
                " is not a multiple of attention.head_count_kv " + std::to_string(c.n_head_kv));
  }
  uint64_t default_head_dim = static_cast<uint64_t>(c.n_embd / c.n_head);
  c.head_dim = positive_i32(file, p + "attention.key_length", file.get_u64(p + "attention.key_length", default_head_dim));
  uint64_t value_len = file.get_u64(p + "attention.value_length", static_cast<uint64_t>(c.head_dim));
  if (value_len != static_cast<uint64_t>(c.head_dim)) {
    throw Error(file.path() + ": attention.value_length " + std::to_string(value_len) +
                " differs from key_length " + std::to_string(c.head_dim) + " (not supported)");
  }
  c.rms_eps = static_cast<float>(file.get_f64(p + "attention.layer_norm_rms_epsilon", 1e-5));
  c.rope_base = static_cast<float>(file.get_f64(p + "rope.freq_base", 10000.0));
  c.n_rot = positive_i32(file, p + "rope.dimension_count",
                         file.get_u64(p + "rope.dimension_count", static_cast<uint64_t>(c.head_dim)));
  if (c.n_rot > c.head_dim || c.n_rot % 2 != 0) {
    throw Error(file.path() + ": rope.dimension_count " + std::to_string(c.n_rot) +
                " must be even and at most the head size " + std::to_string(c.head_dim));
  }
  if (!(c.rms_eps > 0.0f) || !(c.rope_base > 0.0f) || !std::isfinite(c.rope_base)) {
    throw Error(file.path() + ": rms epsilon and rope.freq_base must be positive");
  }
  std::string scaling = file.get_string(p + "rope.scaling.type", "none");
  if (scaling == "linear") {
    double factor = file.get_f64(p + "rope.scaling.factor", 1.0);
    if (!(factor > 0.0)) throw Error(file.path() + ": rope.scaling.factor must be positive");
    c.rope_freq_scale = static_cast<float>(1.0 / factor);
  } else if (scaling != "none" && scaling != "llama3") {
    throw Error(file.path() + ": rope.scaling.type \"" + scaling + "\" is not supported (none, linear, llama3)");
  }
}

}  // namespace entropix
