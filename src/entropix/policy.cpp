#include "entropix/policy.h"

#include <algorithm>
#include <cmath>

namespace entropix {

namespace {

float f(double x) { return static_cast<float>(x); }

SamplingParams base_params(const Profile& p) {
  return {f(p.base.temperature), p.base.top_k, f(p.base.top_p), f(p.base.min_p)};
}

State classify_v2(const TokenMetrics& m, const Profile& p) {
  const Thresholds& t = p.thresholds;
  const V2Thresholds& v = p.v2;
  const bool a = m.has_attention;  // without attention metrics, skip their conditions
  const double h = m.entropy, ve = m.varentropy;
  const double ae = m.attn_entropy, av = m.attn_varentropy, ag = m.agreement, is = m.interaction;
  if (h < t.entropy_low && ve < t.varentropy_low &&
      (!a || (ae < v.attn_entropy_low && av < v.attn_varentropy_low && ag < v.agreement_low && is < v.interaction_low)))
    return State::LELV;
  if (h > t.entropy_high && ve < t.varentropy_low &&
      (!a || (ae < v.attn_entropy_low && av < v.attn_varentropy_low && ag < v.agreement_low && is < v.interaction_low)))
    return State::HELV;
  if (h < t.entropy_high && ve > t.varentropy_high &&
      (!a || (ae < v.attn_entropy_low && av > v.attn_varentropy_high && ag < v.agreement_low && is > v.interaction_low)))
    return State::LEHV;
  if (h > (a ? v.entropy_medium : t.entropy_high) && ve > t.varentropy_high &&
      (!a || (ae > v.attn_entropy_high && av > v.attn_varentropy_high && ag > v.agreement_high && is > v.interaction_high)))
    return State::HEHV;
  return State::Adaptive;
}

}  // namespace

State classify_v1(double h, double v, const Thresholds& t) {
  if (h < t.entropy_low && v < t.varentropy_low) return State::LELV;
  if (h > t.entropy_high && v < t.varentropy_low) return State::HELV;
  if (h < t.entropy_high && v > t.varentropy_high) return State::LEHV;
  if (h > t.entropy_high && v > t.varentropy_high) return State::HEHV;
  return State::Adaptive;
}

State classify(const TokenMetrics& m, const Profile& p) {
  return p.policy == PolicyVariant::V2 ? classify_v2(m, p) : classify_v1(m.entropy, m.varentropy, p.thresholds);
}

SamplingParams helv_params(const TokenMetrics& m, const Profile& p) {
  SamplingParams s = base_params(p);
  s.temperature = f(std::min(p.helv.temp_max,
                             p.base.temperature * (p.helv.temp_base + p.helv.temp_attn_entropy * m.attn_entropy)));
  return s;
}

SamplingParams lehv_params(const TokenMetrics& m, const Profile& p) {
  SamplingParams s = base_params(p);
  s.temperature = f(std::min(p.lehv.temp_max,
                             p.base.temperature * (p.lehv.temp_base + p.lehv.temp_interaction * m.interaction)));
  s.top_k = std::max(p.lehv.top_k_min,
                     static_cast<int32_t>(p.base.top_k * (1.0 + p.lehv.top_k_agreement * (1.0 - m.agreement))));
  return s;
}

SamplingParams hehv_params(const TokenMetrics& m, const Profile& p) {
  SamplingParams s = base_params(p);
  s.temperature = f(std::max(p.hehv.temp_min,
                             p.base.temperature * (p.hehv.temp_base + p.hehv.temp_attn_varentropy * m.attn_varentropy)));
  s.top_p = f(std::max(p.hehv.top_p_min, p.base.top_p - p.hehv.top_p_attn_entropy * m.attn_entropy));
  return s;
}

SamplingParams adaptive_params(const TokenMetrics& m, const Profile& p) {
  const AdaptiveRule& a = p.adaptive;
  const double hv = m.entropy + m.varentropy;
  SamplingParams s;
  s.temperature = f(p.base.temperature * (1.0 + a.temp_logit * hv + a.temp_attn * (m.attn_entropy + m.attn_varentropy) -
                                          a.temp_agreement * m.agreement));
  s.top_p = f(std::clamp(p.base.top_p * (1.0 + a.top_p_attn_varentropy * m.attn_varentropy), a.top_p_min, a.top_p_max));
  const double k = std::round(p.base.top_k * (1.0 + a.top_k_interaction * m.interaction - a.top_k_agreement * m.agreement));
  s.top_k = static_cast<int32_t>(std::clamp(k, static_cast<double>(a.top_k_min), static_cast<double>(a.top_k_max)));
  s.min_p = f(std::clamp(p.base.min_p * (1.0 - a.min_p_logit * hv), a.min_p_min, a.min_p_max));
  return s;
}

EntropixPolicy::EntropixPolicy(Profile profile) : EntropixPolicy(std::make_shared<const Profile>(std::move(profile))) {}

EntropixPolicy::EntropixPolicy(std::shared_ptr<const Profile> profile)
    : profile_(std::move(profile)), budget_left_(profile_->helv.thinking_budget) {
  validate_profile(*profile_);
}

void EntropixPolicy::reset() {
  budget_left_ = profile_->helv.thinking_budget;
  last_was_thinking_ = false;
  thinking_pending_ = thinking_armed_ = false;
}

Decision EntropixPolicy::decide(const TokenMetrics& m) {
  Decision d;
  d.state = classify(m, *profile_);
  d.params = base_params(*profile_);
  const bool may_think = !last_was_thinking_ && budget_left_ > 0 && !profile_->helv.thinking_text.empty();
  if (thinking_armed_) {
    // A HELV step asked for thinking and its step has ended: insert it now, whatever
    // this step's own state (recorded as measured).
    thinking_pending_ = thinking_armed_ = false;
    if (may_think) {
      d.action = Action::InsertThinking;
      --budget_left_;
      last_was_thinking_ = true;
      return d;
    }
  }
  switch (d.state) {
    case State::LELV:
      d.action = Action::Argmax;
      d.params.temperature = 0;
      break;
    case State::HELV:
      if (may_think && profile_->helv.boundary.empty()) {
        d.action = Action::InsertThinking;
        --budget_left_;
      } else {
        if (may_think) thinking_pending_ = true;
        d.action = Action::SampleRaisedTemp;
        d.params = helv_params(m, *profile_);
      }
      break;
    case State::LEHV:
      d.action = profile_->branching ? Action::Branch : Action::SampleNarrowTopK;
      d.params = lehv_params(m, *profile_);
      break;
    case State::HEHV:
      d.action = Action::SampleHighTemp;
      d.params = hehv_params(m, *profile_);
      break;
    case State::Adaptive:
      d.action = Action::AdaptiveBestOfN;
      d.params = adaptive_params(m, *profile_);
      d.n_candidates = profile_->adaptive.n_candidates;
      break;
  }
  last_was_thinking_ = d.action == Action::InsertThinking;
  return d;
}

const char* state_name(State s) {
  switch (s) {
    case State::LELV: return "LELV";
    case State::HELV: return "HELV";
    case State::LEHV: return "LEHV";
    case State::HEHV: return "HEHV";
    case State::Adaptive: return "ADAPTIVE";
  }
  return "?";
}

const char* action_name(Action a) {
  switch (a) {
    case Action::Argmax: return "argmax";
    case Action::InsertThinking: return "insert_thinking";
    case Action::SampleRaisedTemp: return "sample_raised_temp";
    case Action::SampleNarrowTopK: return "sample_narrow_top_k";
    case Action::Branch: return "branch";
    case Action::SampleHighTemp: return "sample_high_temp";
    case Action::AdaptiveBestOfN: return "adaptive_best_of_n";
    case Action::Standard: return "standard";
  }
  return "?";
}

std::optional<State> parse_state(std::string_view name) {
  for (State s : {State::LELV, State::HELV, State::LEHV, State::HEHV, State::Adaptive})
    if (name == state_name(s)) return s;
  return std::nullopt;
}

std::optional<Action> parse_action(std::string_view name) {
  for (Action a : {Action::Argmax, Action::InsertThinking, Action::SampleRaisedTemp, Action::SampleNarrowTopK,
                   Action::Branch, Action::SampleHighTemp, Action::AdaptiveBestOfN, Action::Standard})
    if (name == action_name(a)) return a;
  return std::nullopt;
}

}  // namespace entropix
