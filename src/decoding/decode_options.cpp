#include "decoding/decode_options.h"

#include "core/error.h"

namespace entropix {

std::unique_ptr<TokenSampler> make_token_sampler(const DecodeOptions& o) {
  switch (o.sampler) {
    case SamplerKind::Greedy: return std::make_unique<GreedySampler>(o.profile);
    case SamplerKind::Standard: return std::make_unique<StandardSampler>(o.params, o.profile);
    case SamplerKind::Entropix: return std::make_unique<EntropixSampler>(o.profile);
  }
  throw Error("unknown sampler kind");
}

SamplerKind parse_sampler_kind(std::string_view name) {
  if (name == "greedy") return SamplerKind::Greedy;
  if (name == "standard") return SamplerKind::Standard;
  if (name == "entropix") return SamplerKind::Entropix;
  throw Error("unknown sampler \"" + std::string(name) + "\" (expected greedy, standard or entropix)");
}

const char* sampler_kind_name(SamplerKind kind) {
  switch (kind) {
    case SamplerKind::Greedy: return "greedy";
    case SamplerKind::Standard: return "standard";
    case SamplerKind::Entropix: return "entropix";
  }
  return "?";
}

}  // namespace entropix
