// qwen2: Qwen2 / Qwen2.5. Like llama, plus biases on the q, k and v projections
// and the half-split ("neox") rope.
#include "gguf/gguf.h"
#include "model/arch/arch.h"

namespace entropix {

void configure_qwen2(const GgufFile& file, ModelConfig& config) {
  read_llama_family_hparams(file, config);
  config.rope_style = RopeStyle::HalfSplit;
  config.qkv_bias = true;
}

}  // namespace entropix
