// Hyperparameters of a transformer, read from GGUF metadata by the architecture's loader.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace entropix {

enum class RopeStyle {
  Interleaved,  // pairs (2i, 2i+1): llama.cpp's "normal" rope (llama family)
  HalfSplit,    // pairs (i, i + n_rot/2): "neox" rope (qwen2, qwen3, gemma2/3, phi3)
};

enum class FfnActivation {
  Silu,      // silu(gate) * up (llama family, phi3)
  GeluTanh,  // gelu(gate) * up, tanh approximation (gemma2/3)
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
  // phi3 long-rope: per-frequency divisors rope_factors_long/short.weight, the long ones
  // when the context exceeds rope_orig_ctx; rope_attn_factor scales cos and sin.
  bool rope_long_short = false;
  int32_t rope_orig_ctx = 0;
  float rope_attn_factor = 1.0f;

  FfnActivation ffn_act = FfnActivation::Silu;
  float embd_scale = 1.0f;   // gemma: token embeddings times sqrt(n_embd)
  bool post_norms = false;   // gemma2/3: RMSNorm of the attention and feed-forward outputs
  float attn_scale = 0.0f;   // query scale (0: 1/sqrt(head_dim)); gemma's query_pre_attn_scalar
  float attn_softcap = 0.0f;   // gemma2: scores -> cap * tanh(scores / cap) (0: none)
  float final_softcap = 0.0f;  // gemma2: the same on the logits
  // Sliding-window attention: layers with swa_layer[l] see only the last sliding_window
  // positions (the token itself included), with their own rope base and scale.
  int32_t sliding_window = 0;  // 0: none
  std::vector<bool> swa_layer;  // [n_layer] when sliding_window > 0
  float rope_base_swa = 10000.0f;
  float rope_freq_scale_swa = 1.0f;

  // Mixture of experts (qwen3moe): the feed-forward is n_expert experts of width n_ff_exp,
  // of which a router picks n_expert_used per token (softmax over the experts, the top
  // ones, their weights divided by their sum when expert_weights_norm).
  int32_t n_expert = 0;      // 0: a dense feed-forward
  int32_t n_expert_used = 0;
  int32_t n_ff_exp = 0;
  bool expert_weights_norm = false;

  int64_t n_params = 0;      // total elements of all tensors
};

}  // namespace entropix
