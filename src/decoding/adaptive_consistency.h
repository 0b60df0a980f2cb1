// adaptive-consistency[:max] (Aggarwal et al., 2023): self-consistency that stops
// drawing answers once the vote is settled. Answers are drawn a few at a time
// (AdaptiveOptions::batch forks of the prompt, decoded together), and drawing stops
// when the Beta rule (vote.h) puts the leader ahead of the runner-up with at least
// AdaptiveOptions::settled probability, or after `max` answers.
#pragma once

#include <span>

#include "decoding/strategy.h"
#include "model/prefix_cache.h"

namespace entropix {

StrategyResult run_adaptive_consistency(Engine& engine, std::span<const int32_t> prompt, const StrategyOptions& o,
                                        PrefixCache* cache);

}  // namespace entropix
