// Supported architectures: each file in this folder reads its hyperparameters and
// sets the flags for the parts of the forward pass where it differs from llama.
#pragma once

#include <cstdint>
#include <string_view>

#include "model/model_config.h"

namespace entropix {

class GgufFile;

struct ArchSpec {
  std::string_view name;  // general.architecture
  void (*configure)(const GgufFile& file, ModelConfig& config);
};

// The spec of a GGUF architecture name, or nullptr when it is not supported.
const ArchSpec* find_arch(std::string_view name);
// Names of the supported architectures, comma separated (for error messages).
std::string_view supported_arch_names();

// Reads the llama.cpp hyperparameter keys "<arch>.*" shared by the llama family.
void read_llama_family_hparams(const GgufFile& file, ModelConfig& config);
// Reads "<arch>.attention.sliding_window" (default_window when absent; 0: no window) and
// the windowed layers from "<arch>.attention.sliding_window_pattern" (default_period).
void read_sliding_window(const GgufFile& file, ModelConfig& config, uint32_t default_window, uint32_t default_period);
// The parts Gemma 2 and 3 share (gemma2.cpp).
void configure_gemma_common(ModelConfig& config, int32_t layers_of_27b);

}  // namespace entropix
