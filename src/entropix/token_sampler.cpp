#include "entropix/token_sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace entropix {

LogitMetrics analyze_step(std::span<const float> logits, const AttentionMetrics* attention, int32_t n_alternatives,
                          std::vector<Candidate>& scratch, SampleOutcome& o) {
  const LogitMetrics lm = compute_logit_metrics(logits);
  o.metrics = make_token_metrics(lm, attention);
  const int32_t n_alt = std::clamp(n_alternatives, 0, kMaxAlternatives);
  select_top_k(logits, static_cast<size_t>(n_alt), scratch);
  double mass = 0;
  o.n_alternatives = 0;
  for (const Candidate& c : scratch) {
    const double p = std::exp(static_cast<double>(c.logit - lm.max_logit) - lm.log_z);
    o.alternatives[static_cast<size_t>(o.n_alternatives++)] = {c.id, p};
    mass += p;
  }
  o.rest_mass = std::max(0.0, 1.0 - mass);
  return lm;
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

std::unique_ptr<TokenSampler> make_token_sampler(SamplerKind kind, const SamplingParams& params,
                                                 std::shared_ptr<const Profile> profile, StepEnds step_ends) {
  switch (kind) {
    case SamplerKind::Greedy: return std::make_unique<GreedySampler>(std::move(profile));
    case SamplerKind::Standard: return std::make_unique<StandardSampler>(params, std::move(profile));
    case SamplerKind::Entropix: return std::make_unique<EntropixSampler>(std::move(profile), std::move(step_ends));
  }
  throw Error("unknown sampler kind");
}

GreedySampler::GreedySampler(const Profile& profile) : GreedySampler(std::make_shared<const Profile>(profile)) {}
GreedySampler::GreedySampler(std::shared_ptr<const Profile> profile) : profile_(std::move(profile)) {}

SampleOutcome GreedySampler::step(std::span<const float> logits, const AttentionMetrics* attention, Rng&) {
  SampleOutcome o;
  const LogitMetrics lm = analyze_step(logits, attention, profile_->n_alternatives, alt_, o);
  o.state = classify(o.metrics, *profile_);
  o.action = Action::Argmax;
  o.params = SamplingParams{0.0f, 0, 1.0f, 0.0f};
  o.token = lm.top1;
  o.logprob = lm.logprob(logits, o.token);
  return o;
}

std::unique_ptr<TokenSampler> GreedySampler::clone() const { return std::make_unique<GreedySampler>(*this); }

StandardSampler::StandardSampler(const SamplingParams& params, const Profile& profile)
    : StandardSampler(params, std::make_shared<const Profile>(profile)) {}
StandardSampler::StandardSampler(const SamplingParams& params, std::shared_ptr<const Profile> profile)
    : params_(params), profile_(std::move(profile)) {}

SampleOutcome StandardSampler::step(std::span<const float> logits, const AttentionMetrics* attention, Rng& rng) {
  SampleOutcome o;
  const LogitMetrics lm = analyze_step(logits, attention, profile_->n_alternatives, alt_, o);
  o.state = classify(o.metrics, *profile_);
  o.action = params_.temperature > 0 ? Action::Standard : Action::Argmax;
  o.params = params_;
  o.token = params_.temperature > 0 ? sampler_.sample(logits, params_, rng) : lm.top1;
  o.logprob = lm.logprob(logits, o.token);
  return o;
}

std::unique_ptr<TokenSampler> StandardSampler::clone() const { return std::make_unique<StandardSampler>(*this); }

EntropixSampler::EntropixSampler(const Profile& profile, StepEnds step_ends)
    : EntropixSampler(std::make_shared<const Profile>(profile), std::move(step_ends)) {}
EntropixSampler::EntropixSampler(std::shared_ptr<const Profile> profile, StepEnds step_ends)
    : policy_(std::move(profile)), step_ends_(std::move(step_ends)) {}

SampleOutcome EntropixSampler::step(std::span<const float> logits, const AttentionMetrics* attention, Rng& rng) {
  SampleOutcome o;
  const Profile& prof = policy_.profile();
  const LogitMetrics lm = analyze_step(logits, prof.use_attention ? attention : nullptr, prof.n_alternatives, alt_, o);
  const Decision d = policy_.decide(o.metrics);
  o.state = d.state;
  o.action = d.action;
  o.params = d.params;
  o.n_candidates = d.n_candidates;
  if (d.action == Action::InsertThinking) {
    o.insert_thinking = true;
    o.thinking_text = prof.helv.thinking_text;
    return o;
  }
  if (d.action == Action::Argmax) {
    o.token = lm.top1;
  } else {
    sampler_.prepare(logits, d.params);
    // Best of n draws by raw log-probability, i.e. by raw logit; first draw wins ties.
    for (int32_t i = 0; i < std::max(1, d.n_candidates); ++i) {
      const int32_t t = sampler_.draw(rng);
      if (o.token < 0 || logits[static_cast<size_t>(t)] > logits[static_cast<size_t>(o.token)]) o.token = t;
    }
  }
  o.branch = d.action == Action::Branch;
  o.logprob = lm.logprob(logits, o.token);
  if (policy_.thinking_pending() && step_ends_ && static_cast<size_t>(o.token) < step_ends_->size() &&
      (*step_ends_)[static_cast<size_t>(o.token)])
    policy_.note_step_end();
  return o;
}

std::unique_ptr<TokenSampler> EntropixSampler::clone() const { return std::make_unique<EntropixSampler>(*this); }

}  // namespace entropix
