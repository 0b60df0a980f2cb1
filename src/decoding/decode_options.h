// How one answer is decoded: which token sampler, its parameters, and the limits.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "entropix/profile.h"
#include "entropix/token_sampler.h"
#include "sampling/sampling_params.h"

namespace entropix {

enum class SamplerKind { Greedy, Standard, Entropix };

struct DecodeOptions {
  SamplerKind sampler = SamplerKind::Entropix;
  SamplingParams params;        // the standard sampler's parameters
  Profile profile;              // thresholds and constants of the entropix policy
  uint64_t seed = 0;
  int32_t max_tokens = 128;     // generated tokens, inserted thinking tokens included
  std::vector<std::string> stop;  // stop strings (not included in the text)
  bool ignore_eos = false;
  bool attention_metrics = false;  // measure them even when the sampler does not need them
};

std::unique_ptr<TokenSampler> make_token_sampler(const DecodeOptions& options);
// "greedy", "standard" or "entropix"; throws Error for anything else.
SamplerKind parse_sampler_kind(std::string_view name);
const char* sampler_kind_name(SamplerKind kind);

}  // namespace entropix
