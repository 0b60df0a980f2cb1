// Supported architectures: each file in this folder reads its hyperparameters and
// sets the flags for the parts of the forward pass where it differs from llama.
#pragma once

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

}  // namespace entropix
