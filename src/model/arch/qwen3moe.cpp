// qwen3moe: Qwen3-30B-A3B and the other Qwen3 mixtures of experts. Qwen3's attention
// (head norms on q and k, half-split rope); the feed-forward is expert_count experts of
// width expert_feed_forward_length, of which a router (ffn_gate_inp) picks
// expert_used_count per token: softmax over all experts, the largest, their weights
// divided by their sum (as llama.cpp builds it for this architecture).
#include <string>

#include "core/error.h"
#include "gguf/gguf.h"
#include "model/arch/arch.h"

namespace entropix {

void configure_qwen3moe(const GgufFile& file, ModelConfig& config) {
  read_llama_family_hparams(file, config);
  config.rope_style = RopeStyle::HalfSplit;
  config.qk_norm = true;
  const std::string p = config.arch + ".";
  const uint64_t n_expert = file.get_u64(p + "expert_count");
  const uint64_t n_used = file.get_u64(p + "expert_used_count");
  if (n_expert == 0 || n_expert > 1024 || n_used == 0 || n_used > n_expert) {
    throw Error(file.path() + ": " + p + "expert_count " + std::to_string(n_expert) + " and expert_used_count " +
                std::to_string(n_used) + " must satisfy 1 <= used <= count <= 1024");
  }
  config.n_expert = static_cast<int32_t>(n_expert);
  config.n_expert_used = static_cast<int32_t>(n_used);
  const uint64_t n_ff_exp = file.get_u64(p + "expert_feed_forward_length", uint64_t(config.n_ff) / n_used);
  if (n_ff_exp == 0 || n_ff_exp > (1u << 24)) {
    throw Error(file.path() + ": " + p + "expert_feed_forward_length " + std::to_string(n_ff_exp) + " is out of range");
  }
  config.n_ff_exp = static_cast<int32_t>(n_ff_exp);
  config.expert_weights_norm = true;
}

}  // namespace entropix
