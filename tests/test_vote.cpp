// Voting over paths and the Beta stopping rule of adaptive-consistency.
#include <gtest/gtest.h>

#include <cmath>

#include "decoding/vote.h"

using namespace entropix;

namespace {

PathSummary path(std::optional<std::string> answer) {
  PathSummary p;
  p.answer = std::move(answer);
  return p;
}

// P(p > 1/2) for p ~ Beta(a, b), by Simpson's rule on the density (independent of the
// binomial identity the rule uses).
double beta_upper_half(double a, double b) {
  const int n = 20000;
  const double lo = 0.5, hi = 1.0, h = (hi - lo) / n;
  const double log_beta = std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b);
  auto f = [&](double x) {
    if (x <= 0 || x >= 1) return (x >= 1 && b == 1) ? std::exp(-log_beta) * std::pow(x, a - 1) : 0.0;
    return std::exp((a - 1) * std::log(x) + (b - 1) * std::log1p(-x) - log_beta);
  };
  double s = f(lo) + f(hi);
  for (int i = 1; i < n; ++i) s += f(lo + i * h) * (i % 2 ? 4 : 2);
  return s * h / 3;
}

}  // namespace

TEST(Vote, MajorityWinsTiesGoToTheAnswerGivenFirstAndNoAnswerVotesForNone) {
  const std::vector<PathSummary> paths = {path("7"), path(std::nullopt), path("9"), path("9"), path("7"), path("3")};
  const VoteTally t = tally_votes(paths);
  ASSERT_TRUE(t.winner);
  EXPECT_EQ(*t.winner, "7");  // 7 and 9 tie at two; 7 came first
  EXPECT_EQ(t.winner_path, 0u);
  EXPECT_EQ(t.top, 2);
  EXPECT_EQ(t.second, 2);
  EXPECT_EQ(t.voters, 6);
  EXPECT_DOUBLE_EQ(t.share(), 2.0 / 6.0);
  EXPECT_DOUBLE_EQ(answer_share(paths, std::string("9")), 2.0 / 6.0);
  EXPECT_DOUBLE_EQ(answer_share(paths, std::nullopt), 0.0);

  const VoteTally later = tally_votes({path(std::nullopt), path("4"), path("5"), path("5")});
  EXPECT_EQ(*later.winner, "5");
  EXPECT_EQ(later.winner_path, 2u);
  EXPECT_EQ(later.top, 2);
  EXPECT_EQ(later.second, 1);

  const VoteTally none = tally_votes({path(std::nullopt)});
  EXPECT_FALSE(none.winner);
  EXPECT_EQ(none.share(), 0.0);
}

TEST(Vote, SettledProbabilityIsTheBetaPosteriorOfTheLeader) {
  // Closed forms: all votes for one answer, P = 1 - 2^-(v + 1).
  EXPECT_NEAR(majority_settled_probability(2, 0), 7.0 / 8.0, 1e-12);
  EXPECT_NEAR(majority_settled_probability(3, 0), 15.0 / 16.0, 1e-12);
  EXPECT_NEAR(majority_settled_probability(4, 0), 31.0 / 32.0, 1e-12);
  // A tie is a coin flip, whatever the counts.
  EXPECT_NEAR(majority_settled_probability(3, 3), 0.5, 1e-12);
  // Against numerical integration of the Beta density.
  for (int v1 = 0; v1 <= 12; ++v1) {
    for (int v2 = 0; v2 <= v1; ++v2) {
      EXPECT_NEAR(majority_settled_probability(v1, v2), beta_upper_half(v1 + 1, v2 + 1), 1e-6) << v1 << " " << v2;
    }
  }
  // The order of the arguments does not matter, and large counts stay in [0, 1].
  EXPECT_DOUBLE_EQ(majority_settled_probability(2, 5), majority_settled_probability(5, 2));
  const double big = majority_settled_probability(200, 56);
  EXPECT_GT(big, 0.999);
  EXPECT_LE(big, 1.0);
}
