// What the engine calls once per generated token: metrics, decision and draw in
// one step, returning everything later stages need (trace, branching, server)
// so that nothing is recomputed. Implementations: greedy, standard (fixed
// parameters) and entropix (the policy of method section 2).
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

inline constexpr int kMaxAlternatives = 16;

struct Alternative {
  int32_t id = -1;
  double prob = 0;  // raw probability (softmax at T = 1, full vocabulary)
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

  std::span<const Alternative> alternatives_span() const {
    return {alternatives.data(), static_cast<size_t>(n_alternatives)};
  }
};

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
  SampleOutcome step(std::span<const float> logits, const AttentionMetrics* attention, Rng& rng) override;
  std::unique_ptr<TokenSampler> clone() const override;

 private:
  Profile profile_;
  std::vector<Candidate> alt_;  // scratch for the alternatives
};

// Fixed parameters at every step. States are classified for the trace only.
class StandardSampler : public TokenSampler {
 public:
  explicit StandardSampler(const SamplingParams& params, const Profile& profile = {});
  SampleOutcome step(std::span<const float> logits, const AttentionMetrics* attention, Rng& rng) override;
  std::unique_ptr<TokenSampler> clone() const override;

 private:
  SamplingParams params_;
  Profile profile_;
  Sampler sampler_;
  std::vector<Candidate> alt_;
};

// The entropix policy (v1 or v2 per profile).
class EntropixSampler : public TokenSampler {
 public:
  explicit EntropixSampler(const Profile& profile);
  SampleOutcome step(std::span<const float> logits, const AttentionMetrics* attention, Rng& rng) override;
  void reset() override { policy_.reset(); }
  bool wants_attention() const override { return policy_.profile().use_attention; }
  std::unique_ptr<TokenSampler> clone() const override;
  const EntropixPolicy& policy() const { return policy_; }
  // ends[id]: token id's text ends with a character of profile.helv.boundary (the
  // sequence decoder computes it from the vocabulary when the boundary is set).
  void set_step_ends(std::shared_ptr<const std::vector<bool>> ends) { step_ends_ = std::move(ends); }

 private:
  EntropixPolicy policy_;
  std::shared_ptr<const std::vector<bool>> step_ends_;
  Sampler sampler_;
  std::vector<Candidate> alt_;
};

// Shared by the implementations: metrics and the raw top alternatives of a row.
// Fills outcome.metrics, alternatives and rest_mass; returns the logit metrics.
LogitMetrics analyze_step(std::span<const float> logits, const AttentionMetrics* attention, int32_t n_alternatives,
                          std::vector<Candidate>& scratch, SampleOutcome& outcome);

}  // namespace entropix
