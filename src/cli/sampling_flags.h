// The sampling flags shared by run, chat, eval and serve, and how they combine
// with the sampler choice and the model's profile.
#pragma once

#include <optional>
#include <string>

#include "decoding/decode_options.h"

namespace CLI {
class App;
}

namespace entropix {

struct SamplingFlags {
  std::string sampler;  // empty: entropix, unless plain sampling flags were given
  std::optional<float> temperature, top_p, min_p;
  std::optional<int> top_k;
  uint64_t seed = 0;
  std::string profile;  // explicit profile file
  bool attn_metrics = false;
};

void add_sampling_flags(CLI::App& cmd, SamplingFlags& flags);

// Rules: --sampler wins. Without it, --temp 0 means greedy (an exact argmax), other
// plain sampling flags mean the standard sampler with them, and nothing means
// entropix. With entropix, --temp/--top-p/--top-k/--min-p set its base T0/p0/k0/m0.
// The profile is --profile, else the one found for the model, else the defaults.
DecodeOptions decode_options_from_flags(const SamplingFlags& flags, const std::string& model_path);

}  // namespace entropix
