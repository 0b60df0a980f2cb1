// How one answer is decoded (which token sampler, its parameters, the limits),
// and the one set of rules that turns what a front end was given (flags of run,
// chat, eval and serve; the fields of a request) into those options and into
// what the engine must compute for them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "entropix/profile.h"
#include "entropix/token_sampler.h"
#include "grammar/token_constraint.h"
#include "model/engine.h"
#include "sampling/logit_bias.h"
#include "sampling/sampling_params.h"

namespace entropix {

struct DecodeOptions {
  SamplerKind sampler = SamplerKind::Entropix;
  SamplingParams params;        // the standard sampler's parameters
  Profile profile;              // the entropix policy (its base: T0, k0, p0, m0) and the states all samplers report
  uint64_t seed = 0;
  int32_t max_tokens = 128;     // generated tokens, inserted thinking tokens included
  std::vector<std::string> stop;  // stop strings (not included in the text)
  bool ignore_eos = false;
  bool attention_metrics = false;  // measure them even when the sampler does not need them
  LogitBias logit_bias;         // added to every step's logits before the sampler reads them
  // Only text the grammar allows is generated (structured output); null: any text.
  // Built for the tokenizer the answer is decoded with.
  std::shared_ptr<const grammar::TokenConstraint> grammar;
};

// The four plain sampling knobs as a user gave them; unset ones keep their value.
struct SamplingKnobs {
  std::optional<double> temperature, top_p, min_p;
  std::optional<int32_t> top_k;
  bool any() const { return temperature || top_p || min_p || top_k; }
};

// What a front end was asked for, before the rules.
struct DecodeChoice {
  std::optional<SamplerKind> sampler;  // named explicitly (--sampler, "entropix": {"sampler"})
  SamplingKnobs knobs;
  int32_t alternatives = 0;  // most probable tokens wanted per step (top_logprobs), 0..kMaxAlternatives
};

// The rules, the same for every front end:
// - the sampler: the one named wins; else a temperature <= 0 means greedy (an exact
//   argmax), any other knob the standard sampler, and nothing the sampler of `defaults`;
// - each knob given sets both the standard sampler's parameter and the entropix
//   base (T0, k0, p0, m0), so a strategy that later switches sampler keeps it;
// - `alternatives` raises the profile's n_alternatives (never lowers it).
// Throws Error naming the field when the sampler is entropix and the knobs make its
// profile invalid.
DecodeOptions resolve_decode_options(const DecodeChoice& choice, DecodeOptions defaults);

// Whether decoding with `o` reads attention metrics.
bool reads_attention(const DecodeOptions& o);
// Sets what the engine computes for decoding with any of `uses` (run: its options;
// eval: one per strategy; a server: its defaults and the entropix sampler, which
// any request may ask for): attention scores, from the profile's layer, when one
// of them reads attention metrics.
void set_engine_needs(EngineOptions& engine, std::span<const DecodeOptions> uses);
// What a server's requests may decode with: its defaults, and the entropix sampler,
// which any request may name whatever the default.
std::vector<DecodeOptions> request_decode_uses(const DecodeOptions& defaults);

}  // namespace entropix
