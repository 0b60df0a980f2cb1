// gemma3: Gemma 3 (text). Gemma 2's layer (see gemma2.cpp) with RMSNorm over each head of
// q and k, no soft-capping (unless the file sets a final cap), five of every six layers
// windowed, and the windowed layers rotated with their own base (10,000 by default) and
// no rope scaling, while the global ones use rope.freq_base and rope.scaling.
#include "gguf/gguf.h"
#include "model/arch/arch.h"

namespace entropix {

void configure_gemma3(const GgufFile& file, ModelConfig& config) {
  read_llama_family_hparams(file, config);
  configure_gemma_common(config, /*layers_of_27b=*/62);
  config.qk_norm = true;
  const std::string p = config.arch + ".";
  config.final_softcap = static_cast<float>(file.get_f64(p + "final_logit_softcapping", 0.0));
  read_sliding_window(file, config, /*default_window=*/0, /*default_period=*/6);
  config.rope_base_swa = static_cast<float>(file.get_f64(p + "rope.freq_base_swa", 10000.0));
  config.rope_freq_scale_swa = 1.0f;
}

}  // namespace entropix
