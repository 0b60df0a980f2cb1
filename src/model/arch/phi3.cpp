// phi3: Phi-3, Phi-3.5 and Phi-4-mini. The q, k and v projections in one matrix
// (attn_qkv) and the gate and up projections in one (ffn_up, gate first), read as
// views of their rows; half-split rope over rope.dimension_count dimensions (partial in
// Phi-4-mini); long-rope: per-frequency divisors rope_factors_long/short, the long ones
// when the context exceeds rope.scaling.original_context_length, with cos and sin scaled
// by rope.scaling.attn_factor. A sliding_window key is read but not applied, as llama.cpp
// does (its conversions do not describe the window correctly).
#include <cmath>
#include <string>

#include "core/error.h"
#include "gguf/gguf.h"
#include "model/arch/arch.h"

namespace entropix {

void configure_phi3(const GgufFile& file, ModelConfig& config) {
  read_llama_family_hparams(file, config);
  config.rope_style = RopeStyle::HalfSplit;
  const std::string p = config.arch + ".";
  config.rope_long_short = file.find_tensor("rope_factors_long.weight") != nullptr ||
                           file.find_tensor("rope_factors_short.weight") != nullptr;
  config.rope_orig_ctx = static_cast<int32_t>(
      file.get_u64(p + "rope.scaling.original_context_length", static_cast<uint64_t>(config.n_ctx_train)));
  config.rope_attn_factor = static_cast<float>(file.get_f64(p + "rope.scaling.attn_factor", 1.0));
  if (!(config.rope_attn_factor > 0.0f) || !std::isfinite(config.rope_attn_factor)) {
    throw Error(file.path() + ": " + p + "rope.scaling.attn_factor must be positive");
  }
}

}  // namespace entropix
