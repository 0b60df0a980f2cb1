#include <array>

#include "model/arch/arch.h"

namespace entropix {

void configure_llama(const GgufFile& file, ModelConfig& config);
void configure_qwen2(const GgufFile& file, ModelConfig& config);
void configure_qwen3(const GgufFile& file, ModelConfig& config);
void configure_gemma2(const GgufFile& file, ModelConfig& config);
void configure_gemma3(const GgufFile& file, ModelConfig& config);
void configure_phi3(const GgufFile& file, ModelConfig& config);
void configure_qwen3moe(const GgufFile& file, ModelConfig& config);

namespace {
constexpr std::array<ArchSpec, 7> kArchs = {{
    {"llama", configure_llama},   {"qwen2", configure_qwen2},   {"qwen3", configure_qwen3},
    {"qwen3moe", configure_qwen3moe}, {"gemma2", configure_gemma2}, {"gemma3", configure_gemma3},
    {"phi3", configure_phi3},
}};
}  // namespace

const ArchSpec* find_arch(std::string_view name) {
  for (const auto& spec : kArchs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::string_view supported_arch_names() { return "llama, qwen2, qwen3, qwen3moe, gemma2, gemma3, phi3"; }

}  // namespace entropix
