// The entropix policy: states of the reference vectors, the parameter formulas
// of method section 2, thinking insertion, branching flag, best of N, v2 rules.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>

#include "entropix/metrics.h"
#include "entropix/policy.h"
#include "entropix/profile.h"
#include "entropix/token_sampler.h"
#include "sampling/sampler.h"
#include "support.h"

using namespace entropix;

namespace {

TokenMetrics hv(double h, double v) {
  TokenMetrics m;
  m.entropy = h;
  m.varentropy = v;
  return m;
}

TokenMetrics with_attention(TokenMetrics m, double ae, double av, double ag, double is) {
  m.has_attention = true;
  m.attn_entropy = ae;
  m.attn_varentropy = av;
  m.agreement = ag;
  m.interaction = is;
  return m;
}

Profile vector_profile() {
  Profile p;
  p.thresholds = {0.1, 3.0, 0.1, 3.0};
  return p;
}

}  // namespace

TEST(Policy, ReproducesStatesOfReferenceVectors) {
  ENTROPIX_REQUIRE_TESTDATA();
  const auto v = nlohmann::json::parse(
      entropix::testing::read_file(entropix::testing::testdata_dir() / "entropix-vectors.json"));
  Profile p;
  const auto& t = v["policy_thresholds"];
  p.thresholds = {t["entropy_low"], t["entropy_high"], t["varentropy_low"], t["varentropy_high"]};
  ASSERT_EQ(v["policy_cases"].size(), 8u);
  for (PolicyVariant variant : {PolicyVariant::V1, PolicyVariant::V2}) {
    p.policy = variant;  // v2 without attention metrics reduces to v1
    EntropixPolicy policy(p);
    for (const auto& c : v["policy_cases"]) {
      const TokenMetrics m = hv(c["entropy"], c["varentropy"]);
      EXPECT_STREQ(state_name(classify(m, p)), c["quadrant"].get<std::string>().c_str()) << c.dump();
      EXPECT_STREQ(state_name(policy.decide(m).state), c["quadrant"].get<std::string>().c_str()) << c.dump();
    }
  }
}

TEST(Policy, OrderOfChecksAndBoundaries) {
  const Thresholds t{0.1, 3.0, 0.1, 3.0};
  EXPECT_EQ(classify_v1(0.05, 0.05, t), State::LELV);
  EXPECT_EQ(classify_v1(0.1, 0.05, t), State::Adaptive);  // strict comparisons
  EXPECT_EQ(classify_v1(0.05, 5.0, t), State::LEHV);      // low entropy, high varentropy
  EXPECT_EQ(classify_v1(3.0, 5.0, t), State::Adaptive);   // H == H_high: neither LEHV nor HEHV
  EXPECT_EQ(classify_v1(3.5, 5.0, t), State::HEHV);
  EXPECT_EQ(classify_v1(3.5, 0.05, t), State::HELV);
}

TEST(Policy, ParameterFormulasFollowMethodSection2) {
  const Profile p;  // T0 = 0.666, p0 = 0.90, k0 = 27, m0 = 0.03
  const TokenMetrics m = with_attention(hv(1.2, 0.7), 2.0, 0.4, 0.05, 1.5);
  const SamplingParams helv = helv_params(m, p);
  EXPECT_NEAR(helv.temperature, std::min(1.5, 0.666 * (1.3 + 0.2 * 2.0)), 1e-6);
  EXPECT_EQ(helv.top_k, 27);
  const SamplingParams lehv = lehv_params(m, p);
  EXPECT_NEAR(lehv.temperature, std::min(1.5, 0.666 * (1.2 + 0.3 * 1.5)), 1e-6);
  EXPECT_EQ(lehv.top_k, std::max(5, static_cast<int>(27 * (1 + 0.5 * (1 - 0.05)))));
  EXPECT_EQ(lehv.top_k, 39);
  const SamplingParams hehv = hehv_params(m, p);
  EXPECT_NEAR(hehv.temperature, 2.0, 1e-6);  // max(2.0, 0.666 * 2.2)
  EXPECT_NEAR(hehv.top_p, std::max(0.5, 0.9 - 0.2 * 2.0), 1e-6);
  const SamplingParams hehv2 = hehv_params(with_attention(hv(4, 5), 1.0, 4.0, 0.0, 0.0), p);
  EXPECT_NEAR(hehv2.temperature, 0.666 * (2.0 + 0.5 * 4.0), 1e-6);
  EXPECT_NEAR(hehv2.top_p, 0.7, 1e-6);
  const SamplingParams ad = adaptive_params(m, p);
  EXPECT_NEAR(ad.temperature, 0.666 * (1 + 0.3 * 1.9 + 0.2 * 2.4 - 0.2 * 0.05), 1e-6);
  EXPECT_NEAR(ad.top_p, 0.9 * (1 + 0.1 * 0.4), 1e-6);
  EXPECT_EQ(ad.top_k, 39);  // round(27 * (1 + 0.45 - 0.01)) = round(38.88)
  EXPECT_NEAR(ad.min_p, 0.01, 1e-7);  // 0.03 * (1 - 0.5 * 1.9) = 0.0015, clamped up
  const SamplingParams ad2 = adaptive_params(hv(0.2, 0.1), p);
  EXPECT_NEAR(ad2.min_p, 0.03 * (1 - 0.5 * 0.3), 1e-7);
  EXPECT_EQ(ad2.top_k, 27);
  EXPECT_NEAR(ad2.top_p, 0.9, 1e-6);
}

TEST(Policy, MissingAttentionMeansZeroInFormulas) {
  const Profile p;
  const TokenMetrics none = hv(1.0, 2.0);
  const TokenMetrics zeros = with_attention(hv(1.0, 2.0), 0, 0, 0, 0);
  for (auto f : {helv_params, lehv_params, hehv_params, adaptive_params}) {
    const SamplingParams a = f(none, p), b = f(zeros, p);
    EXPECT_EQ(a.temperature, b.temperature);
    EXPECT_EQ(a.top_k, b.top_k);
    EXPECT_EQ(a.top_p, b.top_p);
    EXPECT_EQ(a.min_p, b.min_p);
  }
  EXPECT_EQ(lehv_params(none, p).top_k, static_cast<int>(27 * 1.5));
}

TEST(Policy, ThinkingInsertedAtMostOnceInARowAndWithinBudget) {
  Profile p = vector_profile();
  p.helv.thinking_budget = 2;
  EntropixPolicy policy(p);
  const TokenMetrics helv = hv(5.0, 0.01), other = hv(1.0, 1.0);
  EXPECT_EQ(policy.decide(helv).action, Action::InsertThinking);
  EXPECT_EQ(policy.thinking_budget_left(), 1);
  const Decision raised = policy.decide(helv);
  EXPECT_EQ(raised.action, Action::SampleRaisedTemp);
  EXPECT_NEAR(raised.params.temperature, 0.666 * 1.3, 1e-6);
  EXPECT_EQ(policy.decide(helv).action, Action::InsertThinking);
  EXPECT_EQ(policy.decide(other).action, Action::AdaptiveBestOfN);
  EXPECT_EQ(policy.decide(helv).action, Action::SampleRaisedTemp);  // budget spent
  policy.reset();
  EXPECT_EQ(policy.decide(helv).action, Action::InsertThinking);
  p.helv.thinking_budget = 0;
  EntropixPolicy none(p);
  EXPECT_EQ(none.decide(helv).action, Action::SampleRaisedTemp);
}

// helv.boundary: a HELV step draws with the fallback temperature and the thinking
// text comes right after the next token that ends a step, whatever that step's state.
TEST(Policy, ThinkingDeferredToTheEndOfTheStep) {
  Profile p = vector_profile();
  p.helv.thinking_budget = 2;
  p.helv.boundary = ".";
  EntropixPolicy policy(p);
  const TokenMetrics helv = hv(5.0, 0.01), lelv = hv(0.01, 0.01);
  const Decision first = policy.decide(helv);
  EXPECT_EQ(first.action, Action::SampleRaisedTemp);
  EXPECT_TRUE(policy.thinking_pending());
  EXPECT_EQ(policy.thinking_budget_left(), 2);  // spent when inserted, not when asked
  EXPECT_EQ(policy.decide(lelv).action, Action::Argmax);  // the step goes on
  policy.note_step_end();
  const Decision inserted = policy.decide(lelv);
  EXPECT_EQ(inserted.action, Action::InsertThinking);
  EXPECT_EQ(inserted.state, State::LELV);  // recorded as measured
  EXPECT_EQ(policy.thinking_budget_left(), 1);
  EXPECT_FALSE(policy.thinking_pending());
  // A step end with nothing pending inserts nothing.
  policy.note_step_end();
  EXPECT_EQ(policy.decide(lelv).action, Action::Argmax);
  // Not twice in a row: HELV right after the insertion asks for nothing.
  EntropixPolicy q(p);
  q.decide(helv);
  q.note_step_end();
  EXPECT_EQ(q.decide(helv).action, Action::InsertThinking);
  EXPECT_EQ(q.decide(helv).action, Action::SampleRaisedTemp);
  EXPECT_FALSE(q.thinking_pending());
  // reset() forgets a pending insertion.
  q.decide(lelv);
  q.decide(helv);
  EXPECT_TRUE(q.thinking_pending());
  q.reset();
  EXPECT_FALSE(q.thinking_pending());
}

TEST(Policy, EachStateTakesItsAction) {
  Profile p = vector_profile();
  EntropixPolicy policy(p);
  const Decision lelv = policy.decide(hv(0.01, 0.01));
  EXPECT_EQ(lelv.action, Action::Argmax);
  EXPECT_EQ(lelv.params.temperature, 0.0f);
  EXPECT_EQ(policy.decide(hv(1.0, 5.0)).action, Action::SampleNarrowTopK);
  EXPECT_EQ(policy.decide(hv(4.0, 5.0)).action, Action::SampleHighTemp);
  const Decision ad = policy.decide(hv(1.0, 1.0));
  EXPECT_EQ(ad.action, Action::AdaptiveBestOfN);
  EXPECT_EQ(ad.n_candidates, 5);
  p.branching = true;
  EXPECT_EQ(EntropixPolicy(p).decide(hv(1.0, 5.0)).action, Action::Branch);
}

TEST(Policy, V2ConditionsOnAllSixMetrics) {
  Profile p = vector_profile();
  p.policy = PolicyVariant::V2;
  const V2Thresholds& v = p.v2;
  const double lo_ae = v.attn_entropy_low / 2, hi_ae = v.attn_entropy_high * 2;
  const double lo_av = v.attn_varentropy_low / 2, hi_av = v.attn_varentropy_high * 2;
  const double lo_ag = v.agreement_low / 2, hi_ag = v.agreement_high * 2;
  const double lo_is = v.interaction_low / 2, hi_is = v.interaction_high * 2;
  EXPECT_EQ(classify(with_attention(hv(0.05, 0.05), lo_ae, lo_av, lo_ag, lo_is), p), State::LELV);
  EXPECT_EQ(classify(with_attention(hv(0.05, 0.05), hi_ae, lo_av, lo_ag, lo_is), p), State::Adaptive);
  EXPECT_EQ(classify(with_attention(hv(4.0, 0.05), lo_ae, lo_av, lo_ag, lo_is), p), State::HELV);
  EXPECT_EQ(classify(with_attention(hv(4.0, 0.05), lo_ae, hi_av, lo_ag, lo_is), p), State::Adaptive);
  EXPECT_EQ(classify(with_attention(hv(1.0, 5.0), lo_ae, hi_av, lo_ag, hi_is), p), State::LEHV);
  EXPECT_EQ(classify(with_attention(hv(1.0, 5.0), lo_ae, lo_av, lo_ag, hi_is), p), State::Adaptive);
  EXPECT_EQ(classify(with_attention(hv(4.0, 5.0), hi_ae, hi_av, hi_ag, hi_is), p), State::HEHV);
  // v2 HEHV starts at the medium entropy threshold when LEHV's attention test fails.
  EXPECT_EQ(classify(with_attention(hv(2.0, 5.0), hi_ae, hi_av, hi_ag, hi_is), p), State::HEHV);
  EXPECT_EQ(classify(with_attention(hv(4.0, 5.0), hi_ae, hi_av, lo_ag, hi_is), p), State::Adaptive);
}

TEST(EntropixSampler, LelvIsArgmaxAndHelvInsertsProfileText) {
  Profile p = vector_profile();
  p.helv.thinking_text = " Hmm, let me think.";
  EntropixSampler es(p);
  Rng rng(7);
  std::vector<float> sharp(512, 0.0f);
  sharp[77] = 30.0f;
  const SampleOutcome a = es.step(sharp, nullptr, rng);
  EXPECT_EQ(a.state, State::LELV);
  EXPECT_EQ(a.token, 77);
  EXPECT_NEAR(a.logprob, 0.0, 1e-9);
  const std::vector<float> flat(1000, 1.0f);  // H = log2(1000) ~ 9.97 bits, V = 0
  const SampleOutcome b = es.step(flat, nullptr, rng);
  EXPECT_EQ(b.state, State::HELV);
  EXPECT_TRUE(b.insert_thinking);
  EXPECT_EQ(b.token, -1);
  EXPECT_EQ(b.thinking_text, " Hmm, let me think.");
  const SampleOutcome c = es.step(flat, nullptr, rng);
  EXPECT_FALSE(c.insert_thinking);
  EXPECT_EQ(c.action, Action::SampleRaisedTemp);
  EXPECT_GE(c.token, 0);
  EXPECT_LT(c.token, 1000);
  EXPECT_NEAR(c.logprob, -std::log(1000.0), 1e-6);
  // A clone carries the per-answer state: budget 3 - 1 left, last step not thinking.
  auto clone = es.clone();
  EXPECT_TRUE(clone->step(flat, nullptr, rng).insert_thinking);
  EXPECT_FALSE(clone->step(flat, nullptr, rng).insert_thinking);
}

// The sampler tells the policy when the drawn token ends a step (its text ends with
// a boundary character); the insertion then follows that token.
TEST(EntropixSampler, DeferredThinkingFollowsTheTokenThatEndsTheStep) {
  Profile p = vector_profile();
  p.helv.boundary = ".";
  auto ends = std::make_shared<std::vector<bool>>(1000, false);
  (*ends)[5] = true;  // token 5 is "." in this made-up vocabulary
  EntropixSampler es(p, ends);
  Rng rng(3);
  const std::vector<float> flat(1000, 1.0f);  // HELV
  std::vector<float> sharp(1000, 0.0f);
  sharp[42] = 30.0f;  // LELV on a token that does not end a step
  std::vector<float> dot(1000, 0.0f);
  dot[5] = 30.0f;  // LELV on "."
  EXPECT_EQ(es.step(flat, nullptr, rng).action, Action::SampleRaisedTemp);
  EXPECT_EQ(es.step(sharp, nullptr, rng).token, 42);
  EXPECT_EQ(es.step(dot, nullptr, rng).token, 5);
  const SampleOutcome ins = es.step(sharp, nullptr, rng);
  EXPECT_TRUE(ins.insert_thinking);
  EXPECT_EQ(ins.state, State::LELV);
  EXPECT_EQ(ins.thinking_text, " Wait,");
  EXPECT_EQ(es.step(sharp, nullptr, rng).token, 42);
}

TEST(EntropixSampler, LehvSamplesFromNarrowedTopKAndFlagsBranching) {
  Profile p = vector_profile();
  p.branching = true;
  EntropixSampler es(p);
  // Two strong candidates (~0.5, ~0.4) over a long tail holding ~0.1: low H, high V.
  std::vector<float> l(4000);
  for (size_t i = 0; i < l.size(); ++i) l[i] = -static_cast<float>(i % 97) * 0.02f;
  l[10] = 9.9f;
  l[20] = 9.68f;
  Rng rng(3);
  const SampleOutcome o = es.step(l, nullptr, rng);
  ASSERT_EQ(o.state, State::LEHV) << o.metrics.entropy << " " << o.metrics.varentropy;
  EXPECT_TRUE(o.branch);
  EXPECT_EQ(o.action, Action::Branch);
  EXPECT_EQ(o.params.top_k, static_cast<int>(27 * 1.5));
  std::vector<float> sorted = l;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  for (int i = 0; i < 200; ++i) {
    const SampleOutcome s = es.step(l, nullptr, rng);
    ASSERT_GE(l[static_cast<size_t>(s.token)], sorted[static_cast<size_t>(s.params.top_k) - 1]);
  }
  EXPECT_EQ(o.alternatives[0].id, 10);
  EXPECT_EQ(o.alternatives[1].id, 20);
}

TEST(EntropixSampler, AdaptiveKeepsBestOfNDrawsByRawLogprob) {
  Profile p = vector_profile();
  p.adaptive.n_candidates = 4;
  EntropixSampler es(p);
  std::vector<float> l(300);
  for (size_t i = 0; i < l.size(); ++i) l[i] = std::sin(static_cast<float>(i)) * 1.5f;
  Rng rng(11);
  Sampler reference;
  for (int i = 0; i < 100; ++i) {
    Rng copy = rng;
    const SampleOutcome o = es.step(l, nullptr, rng);
    ASSERT_EQ(o.state, State::Adaptive);
    ASSERT_EQ(o.n_candidates, 4);
    reference.prepare(l, o.params);
    int32_t best = -1;
    for (int d = 0; d < 4; ++d) {
      const int32_t t = reference.draw(copy);
      if (best < 0 || l[static_cast<size_t>(t)] > l[static_cast<size_t>(best)]) best = t;
    }
    ASSERT_EQ(o.token, best);
    ASSERT_EQ(copy.state(), rng.state());  // exactly N draws consumed
  }
}

TEST(EntropixSampler, AttentionIgnoredWhenProfileDoesNotAskForIt) {
  Profile p = vector_profile();
  p.use_attention = false;
  EntropixSampler es(p);
  EXPECT_FALSE(es.wants_attention());
  AttentionMetrics a{2.0, 1.0, 0.1, 3.0};
  std::vector<float> l{1.0f, 0.9f, 0.5f, 0.1f};
  Rng rng(1);
  const SampleOutcome o = es.step(l, &a, rng);
  EXPECT_FALSE(o.metrics.has_attention);
  EXPECT_EQ(o.metrics.attn_entropy, 0.0);
  EntropixSampler with(vector_profile());
  EXPECT_TRUE(with.wants_attention());
  EXPECT_TRUE(with.step(l, &a, rng).metrics.has_attention);
}
