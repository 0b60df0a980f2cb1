// What the engine calls once per generated token: metrics, decision and draw in
// one step, returning everything later stages need (trace, branching, server)
// so that nothing is recomputed. Implementations: greedy, standard (fixed
// parameters) and entropix (the policy of method section 2). All three report
// the entropix metrics and state of every step, so they live beside them, above
// the base sampler of sampling/.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "entropix/metrics.h"
#include "entropix/policy.h"
#include "entropix/profile.h"
#include "sampling/rng.h"
#include "sampling/sampler.h"

namespace entropix {

struct Alternative {
  int32_t id = -1;
  double prob = 0;  // raw probability (softmax at T = 1, full vocabulary)
};

// The step's distribution once a grammar has removed the tokens it does not allow.
struct ConstrainedStep {
  bool active = false;    // decoded under a grammar
  double entropy = 0;     // bits, over the allowed tokens
  double varentropy = 0;  // bits^2
  double logprob = 0;     // natural log of the token's probability among the allowed
  int32_t n_allowed = 0;  // tokens the grammar allowed at this step
};

struct SampleOutcome {
  int32_t token = -1;            // chosen token; -1 when insert_thinking
  bool insert_thinking = false;  // the engine tokenizes thinking_text and feeds it instead
  std::string_view thinking_text;  // points into the sampler's profile; valid while it lives
  bool branch = false;           // LEHV with branching on: the engine may fork on `alternatives`
                                 // instead of taking `token` (which is a valid narrowed-top-k draw)
  double logprob = 0;            // natural log of the raw probability of `token` (0 when none)
  std::array<Alternative, kMaxAlternatives> alternatives{};  // most probable tokens, descending
  int32_t n_alternatives = 0;
  double rest_mass = 0;          // 1 - sum of the alternatives' probabilities
  TokenMetrics metrics;
  State state = State::Adaptive;
  Action action = Action::Standard;
  SamplingParams params;         // parameters actually used for the draw
  int32_t n_candidates = 1;      // draws compared (best of N by raw log-probability)
  // Under a grammar, `metrics` and `logprob` stay the model's own distribution's and
  // this is the distribution the token was drawn from, the allowed tokens only: a
  // forced token shows as low logprob with a constrained logprob near 0.
  ConstrainedStep constrained;

  std::span<const Alternative> alternatives_span() const {
    return {alternatives.data(), static_cast<size_t>(n_alternatives)};
  }
};

enum class SamplerKind { Greedy, Standard, Entropix };
// "greedy", "standard" or "entropix"; throws Error for anything else.
SamplerKind parse_sampler_kind(std::string_view name);
const char* sampler_kind_name(SamplerKind kind);

// step_ends[id]: token id's text ends with a character of profile.helv.boundary
// (Tokenizer::tokens_ending_with builds it once per vocabulary); null when unset.
using StepEnds = std::shared_ptr<const std::vector<bool>>;

class TokenSampler {
 public:
  virtual ~TokenSampler() = default;
  // One step over the raw logits [n_vocab] (read only). `attention` may be null
  // (not measured): formulas then use 0 for the attention metrics.
  virtual SampleOutcome step(std::span<const float> logits, const AttentionMetrics* attention, Rng& rng) = 0;
  // Start of a new answer (refills per-answer budgets).
  virtual void reset() {}
  // Whether step() wants attention metrics (the engine computes them only then).
  virtual bool wants_attention() const { return false; }
  // An independent copy with the same per-answer state, for a forked sequence.
  virtual std::unique_ptr<TokenSampler> clone() const = 0;
};

// Argmax at every step (no randomness consumed). States are classified with
// the profile's thresholds, for the trace only.
class GreedySampler : public TokenSampler {
 public:
  explicit GreedySampler(const Profile& profile = {});
  explicit GreedySampler(std::shared_ptr<const Profile> profile);
  SampleOutcome step(std::span<const float> logits, const AttentionMetrics* attention, Rng& rng) override;
  std::unique_ptr<TokenSampler> clone() const override;

 private:
  std::shared_ptr<const Profile> profile_;  // read only, shared with clones
  std::vector<Candidate> alt_;  // scratch for the alternatives
};

// Fixed parameters at every step. States are classified for the trace only.
class StandardSampler : public TokenSampler {
 public:
  explicit StandardSampler(const SamplingParams& params, const Profile& profile = {});
  StandardSampler(const SamplingParams& params, std::shared_ptr<const Profile> profile);
  SampleOutcome step(std::span<const float> logits, const AttentionMetrics* attention, Rng& rng) override;
  std::unique_ptr<TokenSampler> clone() const override;

 private:
  SamplingParams params_;
  std::shared_ptr<const Profile> profile_;  // read only, shared with clones
  Sampler sampler_;
  std::vector<Candidate> alt_;
};

// The entropix policy (v1 or v2 per profile).
class EntropixSampler : public TokenSampler {
 public:
  explicit EntropixSampler(const Profile& profile, StepEnds step_ends = nullptr);
  EntropixSampler(std::shared_ptr<const Profile> profile, StepEnds step_ends);
  SampleOutcome step(std::span<const float> logits, const AttentionMetrics* attention, Rng& rng) override;
  void reset() override { policy_.reset(); }
  bool wants_attention() const override { return policy_.profile().use_attention; }
  std::unique_ptr<TokenSampler> clone() const override;
  const EntropixPolicy& policy() const { return policy_; }

 private:
  EntropixPolicy policy_;
  StepEnds step_ends_;
  Sampler sampler_;
  std::vector<Candidate> alt_;
};

// The sampler of `kind`: `params` are the standard sampler's; the profile gives the
// entropix policy (and the states the others report); `step_ends` is used by entropix.
std::unique_ptr<TokenSampler> make_token_sampler(SamplerKind kind, const SamplingParams& params,
                                                 std::shared_ptr<const Profile> profile, StepEnds step_ends = nullptr);

// Shared by the implementations: metrics and the raw top alternatives of a row.
// Fills outcome.metrics, alternatives and rest_mass; returns the logit metrics.
LogitMetrics analyze_step(std::span<const float> logits, const AttentionMetrics* attention, int32_t n_alternatives,
                          std::vector<Candidate>& scratch, SampleOutcome& outcome);

}  // namespace entropix
