// qwen3: no projection biases; RMSNorm over each head of q and k before rope
// (attn_q_norm / attn_k_norm); half-split rope; head size from attention.key_length.
#include "gguf/gguf.h"
#include "model/arch/arch.h"

namespace entropix {

void configure_qwen3(const GgufFile& file, ModelConfig& config) {
  read_llama_family_hparams(file, config);
  config.rope_style = RopeStyle::HalfSplit;
  config.qk_norm = true;
}

}  // namespace entropix
