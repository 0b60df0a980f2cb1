// AVX2/FMA activations: 8 lanes through exp8 (kernels/exp_avx2.h), the tail through the
// scalar loops. exp8's relative error (< 6e-9 before rounding) keeps the results within
// a float rounding or two of the scalar ones.
#include <immintrin.h>

#include "kernels/activation_kernels.h"
#include "kernels/exp_avx2.h"

namespace entropix {

namespace {

// x / (1 + exp(-a)) * up, for 8 lanes. exp8 saturates at e^88.4, so where -a is past
// that the quotient is taken as 0 (as 1 / (1 + inf) is).
inline __m256 gated(__m256 x, __m256 a, __m256 up) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 minus_a = _mm256_sub_ps(_mm256_setzero_ps(), a);
  const __m256 saturated = _mm256_cmp_ps(minus_a, _mm256_set1_ps(88.0f), _CMP_GT_OQ);
  const __m256 q = _mm256_div_ps(x, _mm256_add_ps(one, exp8(minus_a)));
  return _mm256_mul_ps(_mm256_andnot_ps(saturated, q), up);
}

void swiglu_avx2(float* gate, const float* up, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    _mm256_storeu_ps(gate + i, gated(g, g, _mm256_loadu_ps(up + i)));
  }
  activation_kernels_scalar().swiglu(gate + i, up + i, n - i);
}

void geglu_tanh_avx2(float* gate, const float* up, int64_t n) {
  const __m256 k = _mm256_set1_ps(2.0f * 0.7978845608028654f), c = _mm256_set1_ps(0.044715f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 g3 = _mm256_mul_ps(_mm256_mul_ps(g, g), g);
    const __m256 u = _mm256_mul_ps(k, _mm256_fmadd_ps(c, g3, g));
    _mm256_storeu_ps(gate + i, gated(g, u, _mm256_loadu_ps(up + i)));
  }
  activation_kernels_scalar().geglu_tanh(gate + i, up + i, n - i);
}

const ActivationKernels kAvx2{"avx2", swiglu_avx2, geglu_tanh_avx2};

}  // namespace

const ActivationKernels* activation_kernels_avx2_impl() { return &kAvx2; }

}  // namespace entropix
