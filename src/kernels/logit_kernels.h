// Single-pass kernels over a row of raw logits, used by the uncertainty metrics
// and the base sampler. A portable scalar version and an AVX2/FMA version with
// the same contract; logit_kernels() picks one once, at first use, from the CPU.
#pragma once

#include <cstddef>
#include <cstdint>

namespace entropix {

// Exponent arguments below this are treated as exp() == 0 (float underflow).
inline constexpr float kExpArgFloor = -104.0f;

// The two largest logits of a row in the order (logit descending, id ascending):
// ties go to the lowest id. NaN logits are ignored; -inf ones count as the lowest.
struct LogitTop2 {
  float top1_logit;  // -inf when every logit is -inf or NaN
  float top2_logit;  // -inf when fewer than two non-NaN logits
  int32_t top1;      // -1 when every logit is NaN (or n == 0)
  int32_t top2;      // -1 when fewer than two non-NaN logits
};

// Sums over i of e_i, e_i*d_i and e_i*d_i^2 with d_i = logit_i - max and
// e_i = exp(d_i); terms with d_i < kExpArgFloor (including -inf) contribute 0.
struct ExpMoments {
  double s0;  // sum e_i (>= 1 when max is one of the logits)
  double s1;  // sum e_i d_i, nats
  double s2;  // sum e_i d_i^2, nats^2
};

struct LogitKernels {
  const char* name;  // "scalar" or "avx2"
  LogitTop2 (*top2)(const float* logits, size_t n);
  ExpMoments (*exp_moments)(const float* logits, size_t n, float max_logit);
  // Returns sum_i exp((logit_i - max) * inv_temp); writes each term to weights[i]
  // when weights is not null ([n]).
  double (*exp_sum)(const float* logits, size_t n, float max_logit, float inv_temp, float* weights);
};

const LogitKernels& logit_kernels_scalar();
// nullptr when the build or the CPU lacks AVX2+FMA.
const LogitKernels* logit_kernels_avx2();
// The fastest available set, chosen once.
const LogitKernels& logit_kernels();

}  // namespace entropix
