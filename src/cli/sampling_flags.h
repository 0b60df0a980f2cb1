// The sampling flags shared by run, chat, eval and serve: parsed into a
// DecodeChoice and resolved by the rules every front end shares
// (decoding/decode_options.h), over the model's profile.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "decoding/decode_options.h"

namespace CLI {
class App;
}

namespace entropix {

struct SamplingFlags {
  std::string sampler;  // empty: entropix, unless plain sampling flags were given
  std::optional<double> temperature, top_p, min_p;
  std::optional<int32_t> top_k;
  uint64_t seed = 0;
  std::string profile;  // explicit profile file
  bool attn_metrics = false;
  std::vector<std::string> logit_bias;  // "ID=BIAS" each
};

void add_sampling_flags(CLI::App& cmd, SamplingFlags& flags);

// The profile is --profile, else the one found for the model, else the defaults;
// the sampler and knobs follow resolve_decode_options (entropix when nothing is given).
DecodeOptions decode_options_from_flags(const SamplingFlags& flags, const std::string& model_path);

}  // namespace entropix
