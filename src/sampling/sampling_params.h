// Parameters of the base sampler (method section 2, last paragraph).
#pragma once

#include <cstdint>

namespace entropix {

// Applied in this order: temperature, then top-k, then top-p, then min-p, then
// one draw from what is left, renormalised. The same four knobs are the entropix
// policy's base parameters (T0, k0, p0, m0 in Profile::base). Stored as given;
// the sampler computes in single precision.
struct SamplingParams {
  double temperature = 1.0;  // logits / T; <= 0 means exact argmax (ties -> lowest id)
  int32_t top_k = 0;         // keep the k most probable tokens; <= 0 or >= n_vocab: off
  double top_p = 1.0;        // keep the smallest descending-probability prefix whose mass
                             // (over the top-k survivors) reaches top_p; >= 1: off
  double min_p = 0.0;        // keep tokens with p_i >= min_p * p_max; <= 0: off
};

}  // namespace entropix
