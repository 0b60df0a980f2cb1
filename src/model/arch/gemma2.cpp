// gemma2: Gemma 2. Embeddings times sqrt(n_embd); RMSNorm after attention and after the
// feed-forward as well as before (the (1 + w) weights are stored with the 1 added by
// llama.cpp's converter, so they are plain RMSNorm weights); a GELU-tanh gated
// feed-forward; attention scores and logits soft-capped (cap * tanh(x / cap)); every
// second layer (the even ones) attends through a sliding window; half-split rope.
#include <cmath>

#include "gguf/gguf.h"
#include "model/arch/arch.h"

namespace entropix {

void configure_gemma2(const GgufFile& file, ModelConfig& config) {
  read_llama_family_hparams(file, config);
  configure_gemma_common(config, /*layers_of_27b=*/46);
  const std::string p = config.arch + ".";
  config.attn_softcap = static_cast<float>(file.get_f64(p + "attn_logit_softcapping", 50.0));
  config.final_softcap = static_cast<float>(file.get_f64(p + "final_logit_softcapping", 30.0));
  read_sliding_window(file, config, /*default_window=*/4096, /*default_period=*/2);
  // Gemma 2's windowed layers rotate like the global ones unless the file says otherwise.
  config.rope_base_swa = static_cast<float>(file.get_f64(p + "rope.freq_base_swa", config.rope_base));
  config.rope_freq_scale_swa = config.rope_freq_scale;
}

// What Gemma 2 and 3 share. The query scale is 1/sqrt(query_pre_attn_scalar), which the
// GGUF does not carry: as in llama.cpp, n_embd / n_head for the 27B models (known by their
// layer count) and the head size for the others.
void configure_gemma_common(ModelConfig& config, int32_t layers_of_27b) {
  config.rope_style = RopeStyle::HalfSplit;
  config.ffn_act = FfnActivation::GeluTanh;
  config.post_norms = true;
  config.embd_scale = std::sqrt(static_cast<float>(config.n_embd));
  const int32_t pre_attn_scalar = config.n_layer == layers_of_27b ? config.n_embd / config.n_head : config.head_dim;
  config.attn_scale = 1.0f / std::sqrt(static_cast<float>(pre_attn_scalar));
}

}  // namespace entropix
