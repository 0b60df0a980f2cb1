// The rules that turn a front end's sampler choice and knobs into decode options
// and engine options (decoding/decode_options.h), shared by run, chat, eval, serve
// and every request: a table of cases, and the strategies built on top of them.
#include <gtest/gtest.h>

#include "core/error.h"
#include "decoding/decode_options.h"
#include "decoding/strategy.h"

namespace entropix {
namespace {

DecodeChoice knobs(std::optional<double> temperature, std::optional<double> top_p = {},
                   std::optional<int32_t> top_k = {}, std::optional<double> min_p = {}) {
  DecodeChoice c;
  c.knobs.temperature = temperature;
  c.knobs.top_p = top_p;
  c.knobs.top_k = top_k;
  c.knobs.min_p = min_p;
  return c;
}

TEST(DecodeRules, SamplerFollowsTheNamedOneThenTheKnobsThenTheDefault) {
  const DecodeOptions defaults;  // entropix
  EXPECT_EQ(resolve_decode_options({}, defaults).sampler, SamplerKind::Entropix);
  EXPECT_EQ(resolve_decode_options(knobs(0.0), defaults).sampler, SamplerKind::Greedy);
  EXPECT_EQ(resolve_decode_options(knobs(0.7), defaults).sampler, SamplerKind::Standard);
  EXPECT_EQ(resolve_decode_options(knobs({}, 0.9), defaults).sampler, SamplerKind::Standard);
  DecodeChoice named = knobs(0.0);
  named.sampler = SamplerKind::Entropix;
  EXPECT_EQ(resolve_decode_options(named, defaults).sampler, SamplerKind::Entropix);
  DecodeOptions standard_default;
  standard_default.sampler = SamplerKind::Standard;
  EXPECT_EQ(resolve_decode_options({}, standard_default).sampler, SamplerKind::Standard);
}

TEST(DecodeRules, KnobsSetBothTheStandardParametersAndTheEntropixBase) {
  const DecodeOptions o = resolve_decode_options(knobs(0.5, 0.8, 12, 0.05), DecodeOptions{});
  for (const SamplingParams* p : {&o.params, &o.profile.base}) {
    EXPECT_DOUBLE_EQ(p->temperature, 0.5);
    EXPECT_DOUBLE_EQ(p->top_p, 0.8);
    EXPECT_EQ(p->top_k, 12);
    EXPECT_DOUBLE_EQ(p->min_p, 0.05);
  }
  // Knobs not given keep their values: the profile's base stays the method's.
  const DecodeOptions t = resolve_decode_options(knobs(0.5), DecodeOptions{});
  EXPECT_DOUBLE_EQ(t.profile.base.top_p, Profile{}.base.top_p);
  EXPECT_EQ(t.profile.base.top_k, Profile{}.base.top_k);
  EXPECT_DOUBLE_EQ(t.params.top_p, SamplingParams{}.top_p);
}

// `eval --temp 0.5 --strategies entropix`: the flag made the standard sampler the
// default, the strategy switched to entropix and read the untouched profile base.
TEST(DecodeRules, AStrategyThatSwitchesSamplerKeepsTheKnobs) {
  const DecodeOptions base = resolve_decode_options(knobs(0.5, {}, 40), DecodeOptions{});
  for (const char* spec : {"entropix", "entropix-branch"}) {
    const StrategyOptions s = parse_strategy(spec, base);
    EXPECT_EQ(s.decode.sampler, SamplerKind::Entropix) << spec;
    EXPECT_DOUBLE_EQ(s.decode.profile.base.temperature, 0.5) << spec;
    EXPECT_EQ(s.decode.profile.base.top_k, 40) << spec;
  }
  const StrategyOptions sc = parse_strategy("self-consistency:4", resolve_decode_options(knobs(0.0), DecodeOptions{}));
  EXPECT_EQ(sc.decode.sampler, SamplerKind::Standard);
}

TEST(DecodeRules, AlternativesRaiseTheProfilesCountUpToTwenty) {
  DecodeChoice c;
  c.alternatives = 12;
  EXPECT_EQ(resolve_decode_options(c, DecodeOptions{}).profile.n_alternatives, 12);
  c.alternatives = 2;  // never fewer than the profile reports
  EXPECT_EQ(resolve_decode_options(c, DecodeOptions{}).profile.n_alternatives, Profile{}.n_alternatives);
  c.alternatives = kMaxAlternatives + 1;
  EXPECT_THROW(resolve_decode_options(c, DecodeOptions{}), Error);
  EXPECT_EQ(kMaxAlternatives, 20);
}

TEST(DecodeRules, InvalidEntropixBaseIsAnErrorNamingTheField) {
  DecodeChoice c = knobs({}, 0.0);  // top_p 0 is fine for the standard sampler (argmax) ...
  EXPECT_EQ(resolve_decode_options(c, DecodeOptions{}).sampler, SamplerKind::Standard);
  c.sampler = SamplerKind::Entropix;  // ... not as the entropix base p0
  try {
    resolve_decode_options(c, DecodeOptions{});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("base.top_p"), std::string::npos) << e.what();
  }
}

TEST(DecodeRules, EngineComputesAttentionWhenAnySamplerThatMayRunReadsIt) {
  DecodeOptions standard;
  standard.sampler = SamplerKind::Standard;
  standard.profile.attention_layer = 3;
  EngineOptions eo;
  set_engine_needs(eo, {&standard, 1});
  EXPECT_FALSE(eo.attention_scores);
  DecodeOptions entropix = standard;
  entropix.sampler = SamplerKind::Entropix;
  const DecodeOptions server_uses[] = {standard, entropix};  // a server: any request may ask for entropix
  set_engine_needs(eo, server_uses);
  EXPECT_TRUE(eo.attention_scores);
  EXPECT_EQ(eo.attention_layer, 3);
  entropix.profile.use_attention = false;
  const DecodeOptions without[] = {standard, entropix};
  set_engine_needs(eo, without);
  EXPECT_FALSE(eo.attention_scores);
  standard.attention_metrics = true;  // --attn-metrics
  set_engine_needs(eo, {&standard, 1});
  EXPECT_TRUE(eo.attention_scores);
}

}  // namespace
}  // namespace entropix
