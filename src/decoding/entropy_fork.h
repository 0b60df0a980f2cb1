// entropy-fork[:k]: extra decoding only where the model is unsure. The answer is
// decoded greedily; at an uncertain step (entropy or varentropy at or above the
// profile's high thresholds) it forks into the k - 1 next most probable tokens, each
// continued greedily, all paths decoded together over the shared prefix, and the
// paths vote. An answer with no uncertain step costs what greedy costs.
#pragma once

#include <span>

#include "decoding/strategy.h"
#include "model/prefix_cache.h"

namespace entropix {

// Whether a step is uncertain enough to fork at: its entropy or varentropy at or above
// the profile's high thresholds.
bool uncertain_step(const TokenMetrics& m, const Profile& profile);

StrategyResult run_entropy_fork(Engine& engine, std::span<const int32_t> prompt, const StrategyOptions& o,
                                PrefixCache* cache);

}  // namespace entropix
