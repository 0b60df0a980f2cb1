// Parameters of the base sampler (method section 2, last paragraph).
#pragma once

#include <cstdint>

namespace entropix {

// Applied in this order: temperature, then top-k, then top-p, then min-p, then
// one draw from what is left, renormalised.
struct SamplingParams {
  float temperature = 1.0f;  // logits / T; <= 0 means exact argmax (ties -> lowest id)
  int32_t top_k = 0;         // keep the k most probable tokens; <= 0 or >= n_vocab: off
  float top_p = 1.0f;        // keep the smallest descending-probability prefix whose mass
                             // (over the top-k survivors) reaches top_p; >= 1: off
  float min_p = 0.0f;        // keep tokens with p_i >= min_p * p_max; <= 0: off
};

}  // namespace entropix
