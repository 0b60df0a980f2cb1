#include "decoding/vote.h"

#include <algorithm>
#include <cmath>

namespace entropix {

VoteTally tally_votes(const std::vector<PathSummary>& paths) {
  VoteTally t;
  std::vector<size_t> first_path;
  for (size_t i = 0; i < paths.size(); ++i) {
    ++t.voters;
    if (!paths[i].answer) continue;
    auto it = std::find_if(t.counts.begin(), t.counts.end(), [&](const auto& c) { return c.first == *paths[i].answer; });
    if (it == t.counts.end()) {
      t.counts.emplace_back(*paths[i].answer, 1);
      first_path.push_back(i);
    } else {
      it->second += 1;
    }
  }
  for (size_t k = 0; k < t.counts.size(); ++k) {
    const int32_t v = t.counts[k].second;
    if (v > t.top) {
      t.second = t.top;
      t.top = v;
      t.winner = t.counts[k].first;
      t.winner_path = first_path[k];
    } else if (v > t.second) {
      t.second = v;
    }
  }
  return t;
}

WeightedVote weighted_vote(const std::vector<PathSummary>& paths, const std::vector<double>& weights) {
  WeightedVote v;
  std::vector<std::pair<std::string, double>> mass;
  std::vector<size_t> first_path;
  double total = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    total += weights[i];
    if (!paths[i].answer) continue;
    auto it = std::find_if(mass.begin(), mass.end(), [&](const auto& m) { return m.first == *paths[i].answer; });
    if (it == mass.end()) {
      mass.emplace_back(*paths[i].answer, weights[i]);
      first_path.push_back(i);
    } else {
      it->second += weights[i];
    }
  }
  double best = -1;
  for (size_t k = 0; k < mass.size(); ++k) {
    if (mass[k].second > best) {
      best = mass[k].second;
      v.winner = mass[k].first;
      v.winner_path = first_path[k];
    }
  }
  v.share = total > 0 && v.winner ? best / total : 0.0;
  return v;
}

double answer_share(const std::vector<PathSummary>& paths, const std::optional<std::string>& answer) {
  if (!answer || paths.empty()) return 0.0;
  const auto n = std::count_if(paths.begin(), paths.end(), [&](const PathSummary& p) { return p.answer == answer; });
  return double(n) / double(paths.size());
}

double majority_settled_probability(int32_t v1, int32_t v2) {
  if (v1 < v2) std::swap(v1, v2);
  const int32_t n = v1 + v2 + 1;
  // Sum of C(n, i) / 2^n for i = 0..v1, in logs (n is at most a few hundred).
  double sum = 0;
  for (int32_t i = 0; i <= v1; ++i) {
    sum += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) - n * std::log(2.0));
  }
  return std::min(sum, 1.0);
}

}  // namespace entropix
