// adaptive-consistency and entropy-fork on the demo model: extra decoding only where
// it is needed, the same answers as the strategies they save on, every sequence freed.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

#include "core/error.h"
#include "decoding/generate.h"
#include "decoding/strategy.h"
#include "decoding/vote.h"
#include "model/engine.h"
#include "demo_strategy_support.h"
#include "support.h"
#include "tokenizer/tokenizer.h"

using namespace entropix;

namespace {

using entropix::testing::kPrompt;
using entropix::testing::load_demo;

DecodeOptions base_options(int32_t max_tokens = 48) {
  DecodeOptions base;
  base.max_tokens = max_tokens;
  base.seed = 5;
  return base;
}

std::string greedy_text(Engine& e, const std::vector<int32_t>& prompt, int n, int64_t* tokens = nullptr,
                        double* logprob = nullptr) {
  DecodeOptions o;
  o.sampler = SamplerKind::Greedy;
  o.max_tokens = n;
  std::string text;
  int64_t count = 0;
  double sum = 0;
  generate(e, prompt, o, [&](const TokenEvent& ev, std::string_view t) {
    text += t;
    if (!ev.end_of_text) {
      count += static_cast<int64_t>(ev.tokens.size());
      sum += ev.outcome.logprob;
    }
    return true;
  });
  if (tokens) *tokens = count;
  if (logprob) *logprob = sum;
  return text;
}

}  // namespace

TEST(EntropyFork, WithoutAnUncertainStepItIsGreedyAtGreedysCost) {
  auto e = load_demo();
  const int32_t free_before = e->free_positions();
  auto prompt = e->tokenizer().encode(kPrompt, true, false);
  StrategyOptions o = parse_strategy("entropy-fork:4", base_options());
  o.decode.profile.thresholds.entropy_high = std::numeric_limits<double>::infinity();
  o.decode.profile.thresholds.varentropy_high = std::numeric_limits<double>::infinity();
  const StrategyResult r = run_strategy(*e, prompt, o);
  int64_t greedy_tokens = 0;
  EXPECT_EQ(r.text, greedy_text(*e, prompt, 48, &greedy_tokens));
  EXPECT_EQ(r.tokens_spent, greedy_tokens);
  EXPECT_EQ(r.n_branch_points, 0);
  ASSERT_EQ(r.paths.size(), 1u);
  EXPECT_GT(r.confidence, 0.0);
  EXPECT_LE(r.confidence, 1.0);
  EXPECT_EQ(e->free_positions(), free_before);
}

TEST(EntropyFork, ForksAtTheFirstUncertainStepIntoTheNextMostProbableTokensAndVotes) {
  auto e = load_demo();
  const int32_t free_before = e->free_positions();
  auto prompt = e->tokenizer().encode(kPrompt, true, false);
  StrategyOptions o = parse_strategy("entropy-fork:3", base_options());
  o.decode.profile.thresholds.entropy_high = 0;  // every step is uncertain: the first one forks
  const StrategyResult r = run_strategy(*e, prompt, o);
  ASSERT_EQ(r.paths.size(), 3u);
  EXPECT_EQ(r.n_branch_points, 1);
  // Path 0 is the greedy answer; each fork starts with another token and is greedy from there.
  EXPECT_EQ(r.paths[0].text, greedy_text(*e, prompt, 48));
  int64_t spent = 0;
  for (size_t i = 0; i < r.paths.size(); ++i) {
    const PathSummary& p = r.paths[i];
    ASSERT_FALSE(p.ids.empty());
    for (size_t j = 0; j < i; ++j) EXPECT_NE(p.ids[0], r.paths[j].ids[0]);
    // The text is exactly the tokens the path's sequence holds.
    EXPECT_EQ(p.text, e->tokenizer().decode(p.ids)) << i;
    std::vector<int32_t> forced(prompt);
    forced.push_back(p.ids[0]);
    if (i > 0) {
      EXPECT_EQ(p.text, e->tokenizer().decode(std::span(p.ids).first(1)) + greedy_text(*e, forced, 47)) << i;
    }
    spent += p.n_tokens;
  }
  EXPECT_EQ(r.tokens_spent, spent);  // no history shared before the first step
  const VoteTally t = tally_votes(r.paths);
  EXPECT_EQ(r.answer, t.winner);
  EXPECT_DOUBLE_EQ(r.confidence, t.share());
  EXPECT_EQ(e->free_positions(), free_before);
}

TEST(EntropyFork, LaterForkPointsShareTheirPrefixAndStayWithinTheBudget) {
  auto e = load_demo();
  const int32_t free_before = e->free_positions();
  auto prompt = e->tokenizer().encode(kPrompt, true, false);
  StrategyOptions o = parse_strategy("entropy-fork:2", base_options());
  o.fork.max_points = 3;
  o.decode.profile.thresholds.entropy_high = 0.05;
  const StrategyResult r = run_strategy(*e, prompt, o);
  EXPECT_GE(r.n_branch_points, 1);
  EXPECT_LE(r.n_branch_points, 3);
  EXPECT_EQ(r.paths.size(), static_cast<size_t>(1 + r.n_branch_points));
  int64_t whole = 0;
  for (const auto& p : r.paths) {
    EXPECT_EQ(p.text, e->tokenizer().decode(p.ids));
    whole += p.n_tokens;
  }
  // A fork pays only its tail: its history is the path it forked from.
  EXPECT_LT(r.tokens_spent, whole);
  EXPECT_EQ(e->free_positions(), free_before);
}

TEST(AdaptiveConsistency, StopsOnceTheVoteIsSettledWithSelfConsistencysFirstAnswers) {
  auto e = load_demo();
  const int32_t free_before = e->free_positions();
  auto prompt = e->tokenizer().encode(kPrompt, true, false);
  DecodeOptions cold = base_options();
  cold.sampler = SamplerKind::Standard;
  cold.params.temperature = 0.05f;  // near-greedy: every answer agrees
  const StrategyResult r = run_strategy(*e, prompt, parse_strategy("adaptive-consistency:16", cold));
  // Four agreeing votes are the first to pass the rule (1 - 2^-5 >= 0.95; 1 - 2^-4 < 0.95).
  ASSERT_EQ(r.paths.size(), 4u);
  EXPECT_DOUBLE_EQ(r.confidence, 1.0);
  const StrategyResult sc = run_strategy(*e, prompt, parse_strategy("self-consistency:4", cold));
  for (size_t i = 0; i < r.paths.size(); ++i) EXPECT_EQ(r.paths[i].text, sc.paths[i].text) << i;
  EXPECT_EQ(r.tokens_spent, sc.tokens_spent);
  EXPECT_EQ(e->free_positions(), free_before);
}

TEST(AdaptiveConsistency, DrawsUntilTheMaximumWhileTheVoteIsSplit) {
  auto e = load_demo();
  const int32_t free_before = e->free_positions();
  auto prompt = e->tokenizer().encode(kPrompt, true, false);
  DecodeOptions hot = base_options(32);
  hot.sampler = SamplerKind::Standard;
  hot.params.temperature = 3.0f;  // answers scatter
  const StrategyResult r = run_strategy(*e, prompt, parse_strategy("adaptive-consistency:6", hot));
  ASSERT_LE(r.paths.size(), 6u);
  const VoteTally t = tally_votes(r.paths);
  if (r.paths.size() < 6) {
    EXPECT_GE(majority_settled_probability(t.top, t.second), 0.95);
  }
  // Every draw before the last left the vote unsettled.
  for (size_t n = 2; n < r.paths.size(); n += 2) {
    const VoteTally partial = tally_votes(std::vector<PathSummary>(r.paths.begin(), r.paths.begin() + long(n)));
    EXPECT_LT(majority_settled_probability(partial.top, partial.second), 0.95) << n;
  }
  EXPECT_EQ(r.answer, t.winner);
  EXPECT_DOUBLE_EQ(r.confidence, t.share());
  EXPECT_EQ(e->free_positions(), free_before);
}

TEST(EntropixVote, ASureGreedyAnswerStandsAtGreedysCostWithItsProbabilityAsConfidence) {
  auto e = load_demo(true);
  const int32_t free_before = e->free_positions();
  auto prompt = e->tokenizer().encode(kPrompt, true, false);
  StrategyOptions o = parse_strategy("entropix-vote:4", base_options());
  o.vote.confident = 0.0;  // any greedy answer is sure enough
  const StrategyResult r = run_strategy(*e, prompt, o);
  int64_t tokens = 0;
  double logprob = 0;
  EXPECT_EQ(r.text, greedy_text(*e, prompt, 48, &tokens, &logprob));
  EXPECT_EQ(r.tokens_spent, tokens);
  ASSERT_EQ(r.paths.size(), 1u);
  EXPECT_NEAR(r.confidence, std::exp(logprob), 1e-9);
  EXPECT_EQ(e->free_positions(), free_before);
}

TEST(EntropixVote, AnUnsureGreedyAnswerIsJoinedBySampledOnesUntilTheVoteSettles) {
  auto e = load_demo(true);
  const int32_t free_before = e->free_positions();
  auto prompt = e->tokenizer().encode(kPrompt, true, false);
  DecodeOptions base = base_options();
  base.profile.base.temperature = 2.0;  // varied samples, so that the vote can split
  StrategyOptions o = parse_strategy("entropix-vote:4", base);
  o.vote.confident = 1.1;  // never sure: always vote
  const StrategyResult r = run_strategy(*e, prompt, o);
  ASSERT_GE(r.paths.size(), 2u);
  ASSERT_LE(r.paths.size(), 5u);
  EXPECT_EQ(r.paths[0].text, greedy_text(*e, prompt, 48));
  // The samples are self-consistency's with the entropix sampler, in order.
  const StrategyResult sc = run_strategy(*e, prompt, parse_strategy("self-consistency:4", base));
  for (size_t i = 1; i < r.paths.size(); ++i) EXPECT_EQ(r.paths[i].text, sc.paths[i - 1].text) << i;
  // It stopped at the first settled vote, or at the maximum.
  for (size_t n = 2; n <= r.paths.size(); ++n) {
    const VoteTally t = tally_votes(std::vector<PathSummary>(r.paths.begin(), r.paths.begin() + long(n)));
    const bool settled = t.top > 0 && majority_settled_probability(t.top, t.second) >= o.vote.settled;
    if (n < r.paths.size()) {
      EXPECT_FALSE(settled) << n;
    }
    if (n == r.paths.size() && n < 5) {
      EXPECT_TRUE(settled);
    }
  }
  // The winner has the most probability (each path's: exp of its mean logprob times its length).
  std::map<std::string, double> mass;
  double total = 0;
  for (const auto& p : r.paths) {
    const double w = std::exp(p.score * p.n_tokens);
    total += w;
    if (p.answer) mass[*p.answer] += w;
  }
  if (r.answer) {
    for (const auto& [answer, m] : mass) EXPECT_LE(m, mass[*r.answer] * (1 + 1e-9)) << answer;
    EXPECT_NEAR(r.confidence, mass[*r.answer] / total, 1e-9);
  }
  EXPECT_EQ(e->free_positions(), free_before);
}

TEST(AdaptiveStrategies, ParseTheirCounts) {
  DecodeOptions base;
  EXPECT_EQ(parse_strategy("adaptive-consistency", base).n, 16);
  EXPECT_EQ(parse_strategy("adaptive-consistency:40", base).n, 40);
  EXPECT_EQ(parse_strategy("entropy-fork", base).fork.k, 4);
  EXPECT_EQ(parse_strategy("entropix-vote", base).n, 2);
  EXPECT_EQ(parse_strategy("entropix-vote:5", base).kind, StrategyKind::EntropixVote);
  const StrategyOptions wide = parse_strategy("entropy-fork:8", base);
  EXPECT_EQ(wide.fork.k, 8);
  EXPECT_GE(wide.decode.profile.n_alternatives, 8);  // enough alternatives reported to fork on
  EXPECT_EQ(wide.decode.sampler, SamplerKind::Greedy);
  EXPECT_THROW(parse_strategy("entropy-fork:21", base), Error);
  EXPECT_THROW(parse_strategy("adaptive-consistency:0", base), Error);
  EXPECT_THROW(parse_strategy("entropy-forks", base), Error);
}
