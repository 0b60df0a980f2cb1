// The probability a step's draw gave each of a few tokens: the distribution the
// sampler actually drew from (temperature, top-k, top-p and min-p as the step's
// outcome reports them), as opposed to the raw softmax of the logits. The
// explorer shows both side by side, so that a token the sampler ruled out reads
// as such (probability 0) however likely the model found it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "entropix/token_sampler.h"
#include "sampling/sampler.h"

namespace entropix {

// For each of `ids`: its probability under the step's draw. An argmax step (greedy,
// LELV, temperature <= 0) gives 1 to the argmax (outcome.metrics.top1) and 0 to
// the rest; an adaptive best-of-N step gives the distribution of one of its draws.
// nullopt when the step drew nothing (thinking text was inserted). `scratch` is
// prepared on `logits`, the row the step read.
std::optional<std::vector<double>> sampled_probabilities(std::span<const float> logits, const SampleOutcome& outcome,
                                                         std::span<const int32_t> ids, Sampler& scratch);

}  // namespace entropix
