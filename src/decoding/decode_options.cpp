#include "decoding/decode_options.h"

#include <algorithm>

#include "core/error.h"

namespace entropix {

DecodeOptions resolve_decode_options(const DecodeChoice& choice, DecodeOptions o) {
  const SamplingKnobs& k = choice.knobs;
  if (choice.sampler) o.sampler = *choice.sampler;
  else if (k.temperature && *k.temperature <= 0) o.sampler = SamplerKind::Greedy;
  else if (k.any()) o.sampler = SamplerKind::Standard;
  for (SamplingParams* p : {&o.params, &o.profile.base}) {
    if (k.temperature) p->temperature = *k.temperature;
    if (k.top_k) p->top_k = *k.top_k;
    if (k.top_p) p->top_p = *k.top_p;
    if (k.min_p) p->min_p = *k.min_p;
  }
  if (choice.alternatives < 0 || choice.alternatives > kMaxAlternatives)
    throw Error("alternatives per token must be in [0, " + std::to_string(kMaxAlternatives) + "], found " +
                std::to_string(choice.alternatives));
  o.profile.n_alternatives = std::max(o.profile.n_alternatives, choice.alternatives);
  if (o.sampler == SamplerKind::Entropix && k.any()) validate_profile(o.profile, "profile with the given sampling knobs");
  return o;
}

bool reads_attention(const DecodeOptions& o) {
  return o.attention_metrics || (o.sampler == SamplerKind::Entropix && o.profile.use_attention);
}

void set_engine_needs(EngineOptions& engine, std::span<const DecodeOptions> uses) {
  engine.attention_scores = false;
  for (const DecodeOptions& o : uses) {
    if (!reads_attention(o)) continue;
    engine.attention_scores = true;
    engine.attention_layer = o.profile.attention_layer;
  }
}

std::vector<DecodeOptions> request_decode_uses(const DecodeOptions& defaults) {
  DecodeOptions entropix = defaults;
  entropix.sampler = SamplerKind::Entropix;
  return {defaults, std::move(entropix)};
}

}  // namespace entropix
