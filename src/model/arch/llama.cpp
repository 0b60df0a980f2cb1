// llama: Llama 2/3/3.1/3.2, Mistral, SmolLM, TinyStories. Interleaved rope;
// Llama 3.x stores its rope frequency divisors in rope_freqs.weight.
#include "gguf/gguf.h"
#include "model/arch/arch.h"

namespace entropix {

void configure_llama(const GgufFile& file, ModelConfig& config) {
  read_llama_family_hparams(file, config);
  config.rope_style = RopeStyle::Interleaved;
  config.rope_freq_factors = file.find_tensor("rope_freqs.weight") != nullptr;
}

}  // namespace entropix
