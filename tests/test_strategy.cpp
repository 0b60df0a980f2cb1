// Decoding strategies on the demo model, and answer extraction.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/error.h"
#include "decoding/answer.h"
#include "decoding/generate.h"
#include "decoding/strategy.h"
#include "model/engine.h"
#include "demo_strategy_support.h"
#include "support.h"
#include "tokenizer/tokenizer.h"

using namespace entropix;

namespace {

using entropix::testing::kPrompt;
using entropix::testing::load_demo;

// Entropy branching with thresholds that put every confident-but-split step in LEHV,
// so branching must happen.
StrategyOptions branching_in_every_lehv_step() {
  DecodeOptions base;
  base.max_tokens = 48;
  base.seed = 3;
  base.profile.thresholds.entropy_high = 100.0;
  base.profile.thresholds.varentropy_low = 0.01;
  base.profile.thresholds.varentropy_high = 0.05;
  base.profile.thresholds.entropy_low = 0.001;
  return parse_strategy("entropix-branch", base);
}

std::string greedy_text(Engine& e, const std::vector<int32_t>& prompt, int n) {
  DecodeOptions o;
  o.sampler = SamplerKind::Greedy;
  o.max_tokens = n;
  std::string text;
  generate(e, prompt, o, [&](const TokenEvent&, std::string_view t) {
    text += t;
    return true;
  });
  return text;
}

}  // namespace

TEST(AnswerExtractor, RegexThenLastIntegerThenNothing) {
  AnswerExtractor ex;
  EXPECT_EQ(ex.extract(" 3 + 4 = 7. The answer is 7.")->value, "7");
  EXPECT_EQ(ex.extract("The answer is 1,234 apples")->value, "1234");
  EXPECT_EQ(ex.extract("so 12 then 15")->value, "15");
  EXPECT_EQ(ex.extract("it was -3 degrees")->value, "-3");
  EXPECT_FALSE(ex.extract("no digits here").has_value());
  auto span = ex.extract("x The answer is 42.");
  EXPECT_EQ(std::string("x The answer is 42.").substr(span->begin, span->end - span->begin), "42");
  AnswerExtractor strict(R"(Final: (\w+))", false);
  EXPECT_EQ(strict.extract("Final: yes")->value, "yes");
  EXPECT_FALSE(strict.extract("maybe 3").has_value());
  EXPECT_THROW(AnswerExtractor("no group"), Error);
  EXPECT_THROW(AnswerExtractor("(unclosed"), Error);
}

TEST(Strategy, CotDecodingWithOneBranchIsGreedy) {
  auto e = load_demo(false);
  auto prompt = e->tokenizer().encode(kPrompt, true, false);
  DecodeOptions base;
  base.max_tokens = 48;
  StrategyOptions o = parse_strategy("cot-decoding:1", base);
  StrategyResult r = run_strategy(*e, prompt, o);
  EXPECT_EQ(r.text, greedy_text(*e, prompt, 48));
  ASSERT_EQ(r.paths.size(), 1u);
}

TEST(Strategy, CotDecodingPathsStartWithTheTopKTokensAndAllBranchesAreFreed) {
  auto e = load_demo(false);
  const int32_t free_before = e->free_positions();
  auto prompt = e->tokenizer().encode(kPrompt, true, false);
  DecodeOptions base;
  base.max_tokens = 40;
  StrategyResult r = run_strategy(*e, prompt, parse_strategy("cot-decoding:5", base));
  ASSERT_EQ(r.paths.size(), 5u);
  // The chosen path has the highest score, or the best score among the paths of the winning answer.
  double best = -1;
  for (const auto& p : r.paths) best = std::max(best, p.score);
  bool chosen_found = false;
  for (const auto& p : r.paths) chosen_found = chosen_found || (p.text == r.text);
  EXPECT_TRUE(chosen_found);
  EXPECT_EQ(e->free_positions(), free_before);
  EXPECT_GE(r.tokens_spent, 5);
}

TEST(Strategy, SelfConsistencyIsDeterministicForASeedAndVotesTheMajority) {
  auto e = load_demo(false);
  auto prompt = e->tokenizer().encode(kPrompt, true, false);
  DecodeOptions base;
  base.sampler = SamplerKind::Standard;
  base.params.temperature = 3.0f;  // hot enough that a confident model still varies
  base.max_tokens = 40;
  base.seed = 11;
  StrategyOptions o = parse_strategy("self-consistency:6", base);
  StrategyResult a = run_strategy(*e, prompt, o);
  StrategyResult b = run_strategy(*e, prompt, o);
  ASSERT_EQ(a.paths.size(), 6u);
  EXPECT_EQ(a.text, b.text);
  std::map<std::string, int> votes;
  for (const auto& p : a.paths)
    if (p.answer) votes[*p.answer]++;
  if (a.answer) {
    for (const auto& [ans, n] : votes) EXPECT_LE(n, votes[*a.answer]) << ans;
  }
  // Different seeds give independent streams: the samples are not all identical.
  std::set<std::string> texts;
  for (const auto& p : a.paths) texts.insert(p.text);
  EXPECT_GT(texts.size(), 1u);
}

TEST(Strategy, EntropyBranchingForksInLehvAndReleasesItsBranches) {
  auto e = load_demo(true);
  const int32_t free_before = e->free_positions();
  auto prompt = e->tokenizer().encode(kPrompt, true, false);
  StrategyOptions o = branching_in_every_lehv_step();
  StrategyResult r = run_strategy(*e, prompt, o);
  EXPECT_GT(r.n_branch_points, 0);
  EXPECT_LE(r.n_branch_points, o.branching.max_forks);
  EXPECT_GT(r.tokens_spent, r.n_generated);  // the rollouts that lost count as spent
  EXPECT_FALSE(r.text.empty());
  // The text is the tokens the sequence holds: a branch point takes the winning
  // rollout's token instead of the draw, not after it.
  ASSERT_EQ(r.paths.size(), 1u);
  EXPECT_EQ(r.text, e->tokenizer().decode(r.paths[0].ids));
  EXPECT_EQ(r.n_generated, static_cast<int32_t>(r.paths[0].ids.size()));
  EXPECT_EQ(e->free_positions(), free_before);
}

// The clarification hook (what `chat` asks the person, and what programs can answer):
// when the best rollouts score within the margin and say different things, the
// callback's choice is the rollout that continues, whatever its score.
TEST(Strategy, ClarificationContinuesTheRolloutTheCallerChooses) {
  auto e = load_demo(true);
  const int32_t free_before = e->free_positions();
  auto prompt = e->tokenizer().encode(kPrompt, true, false);
  StrategyOptions o = branching_in_every_lehv_step();
  o.branching.clarify_margin = 1e9;  // every branch point whose rollouts differ asks
  std::vector<std::string> chosen;
  int asked = 0;
  o.clarify = [&](const std::vector<BranchChoice>& options) -> size_t {
    ++asked;
    EXPECT_GE(options.size(), 2u);
    // pick the lowest-scoring rollout, which the strategy would never pick itself
    size_t worst = 0;
    for (size_t i = 1; i < options.size(); ++i) {
      if (options[i].score < options[worst].score) worst = i;
    }
    chosen.push_back(options[worst].text);
    return worst;
  };
  StrategyResult r = run_strategy(*e, prompt, o);
  ASSERT_GT(asked, 0);
  EXPECT_LE(asked, r.n_branch_points);
  size_t at = 0;
  for (const auto& c : chosen) {
    size_t found = r.text.find(c, at);
    ASSERT_NE(found, std::string::npos) << "chosen rollout " << c << " missing from " << r.text;
    at = found + c.size();
  }
  EXPECT_EQ(e->free_positions(), free_before);

  // An out-of-range answer from a program continues the last option instead of failing,
  // and a zero margin never asks.
  o.clarify = [&](const std::vector<BranchChoice>&) -> size_t { return 1000; };
  EXPECT_NO_THROW(run_strategy(*e, prompt, o));
  o.branching.clarify_margin = 0;
  o.clarify = [&](const std::vector<BranchChoice>&) -> size_t {
    ADD_FAILURE() << "asked with a zero margin";
    return 0;
  };
  run_strategy(*e, prompt, o);
  EXPECT_EQ(e->free_positions(), free_before);
}

TEST(Strategy, UnknownStrategiesAreErrors) {
  DecodeOptions base;
  EXPECT_THROW(parse_strategy("beam", base), Error);
  EXPECT_THROW(parse_strategy("cot-decoding:0", base), Error);
  EXPECT_THROW(parse_strategy("self-consistency:x", base), Error);
  EXPECT_EQ(parse_strategy("self-consistency", base).n, 8);
  EXPECT_EQ(parse_strategy("cot-decoding", base).k, 10);
}
