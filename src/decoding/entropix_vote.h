// entropix-vote[:n]: one greedy answer when the model is sure of it, a small weighted
// vote when it is not. The greedy answer's probability (the product of its tokens'
// probabilities, path_confidence) is the uncertainty measure: at or above
// EntropixVoteOptions::confident it stands, at greedy's cost. Below it, answers are
// drawn with the entropix sampler one at a time, at most n, until the plain vote
// (greedy's answer included) passes the Beta rule at EntropixVoteOptions::settled; the
// answer with the most probability over the paths giving it wins, and its share of
// that probability is the confidence.
#pragma once

#include <span>

#include "decoding/strategy.h"
#include "model/prefix_cache.h"

namespace entropix {

StrategyResult run_entropix_vote(Engine& engine, std::span<const int32_t> prompt, const StrategyOptions& o,
                                 PrefixCache* cache);

}  // namespace entropix
