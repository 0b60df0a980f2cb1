// Majority voting over the answers of several paths, the rule that says when more
// votes would not change the winner (the Beta stopping criterion of
// Adaptive-Consistency, Aggarwal et al. 2023), and the vote share reported as the
// winner's confidence.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "decoding/strategy.h"

namespace entropix {

struct VoteTally {
  // Answers with their votes, in the order each was first given.
  std::vector<std::pair<std::string, int32_t>> counts;
  int32_t voters = 0;  // paths counted, with or without an answer
  // The most voted answer (ties: the one given first), and its index in the paths.
  std::optional<std::string> winner;
  size_t winner_path = 0;
  int32_t top = 0;     // the winner's votes
  int32_t second = 0;  // the runner-up's votes (0 when none)

  // The winner's share of all voters (a path without an answer votes for none): 0 when none.
  double share() const { return voters > 0 ? double(top) / double(voters) : 0.0; }
};

VoteTally tally_votes(const std::vector<PathSummary>& paths);

// A vote where each path weighs `weights[i]` (its probability): the answer with the
// most weight (ties: the one given first), the first path giving it, and its share of
// the weight of all paths (0 when no path weighs anything).
struct WeightedVote {
  std::optional<std::string> winner;
  size_t winner_path = 0;
  double share = 0;
};
WeightedVote weighted_vote(const std::vector<PathSummary>& paths, const std::vector<double>& weights);

// The share of the paths that give `answer` (0 when it is none).
double answer_share(const std::vector<PathSummary>& paths, const std::optional<std::string>& answer);

// The posterior probability that the leading answer is the more likely of the top
// two, given their votes v1 >= v2: P(p > 1/2) for p ~ Beta(v1 + 1, v2 + 1) (uniform
// prior on the two answers' share). Exact for whole counts: P(Binomial(v1 + v2 + 1, 1/2) <= v1).
double majority_settled_probability(int32_t v1, int32_t v2);

}  // namespace entropix
