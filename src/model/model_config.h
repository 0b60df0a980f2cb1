// Hyperparameters of a transformer, read from GGUF metadata by the architecture's loader.
#pragma once

#include <cstdint>
#include <string>

namespace entropix {

enum class RopeStyle {
  Interleaved,  // pairs (2i, 2i+1): llama.cpp's "normal" rope (llama family)
  HalfSplit,    // pairs (i, i + n_rot/2): "neox" rope (qwen2, qwen3)
};

struct ModelConfig {
  std::string arch;          // general.architecture
  std::string name;          // general.name, if any
  int32_t n_vocab = 0;
  int32_t n_ctx_train = 0;   // context length the model was trained with
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;      // per-head width of q and k (and v)
  int32_t n_ff = 0;
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;
  int32_t n_rot = 0;         // rotated dimensions per head
  float rope_freq_scale = 1.0f;  // linear rope scaling (1 = none)
  RopeStyle rope_style = RopeStyle::Interleaved;
  bool qkv_bias = false;     // qwen2: biases on q, k, v projections
  bool qk_norm = false;      // qwen3: RMSNorm on each head of q and k
  bool tied_output = false;  // output projection shares token_embd
  bool rope_freq_factors = false;  // llama 3.x: per-frequency divisors in rope_freqs.weight

  int64_t n_params = 0;      // total elements of all tensors
};

}  // namespace entropix
