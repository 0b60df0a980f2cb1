// AVX2/FMA versions of the logit kernels; compiled with -mavx2 -mfma and only
// reached through logit_kernels_avx2() after a run-time CPU check.
#include "kernels/logit_kernels.h"

#if defined(ENTROPIX_HAVE_AVX2_BUILD)

#include <immintrin.h>

#include <cmath>
#include <limits>

#include "kernels/exp_avx2.h"

namespace entropix {

namespace {

inline __m256 blend(__m256 a, __m256 b, __m256 mask) { return _mm256_blendv_ps(a, b, mask); }
inline __m256i blendi(__m256i a, __m256i b, __m256 mask) {
  return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), mask));
}

// Total order used for the top-2: larger logit first, then lower id.
inline bool before(float va, int32_t ia, float vb, int32_t ib) {
  if (ia < 0) return false;
  if (ib < 0) return true;
  return va > vb || (va == vb && ia < ib);
}

inline void insert(LogitTop2& r, float v, int32_t i) {
  if (before(v, i, r.top1_logit, r.top1)) {
    r.top2_logit = r.top1_logit;
    r.top2 = r.top1;
    r.top1_logit = v;
    r.top1 = i;
  } else if (before(v, i, r.top2_logit, r.top2)) {
    r.top2_logit = v;
    r.top2 = i;
  }
}

LogitTop2 top2_avx2(const float* l, size_t n) {
  const float ninf = -std::numeric_limits<float>::infinity();
  LogitTop2 r{ninf, ninf, -1, -1};
  size_t i = 0;
  if (n >= 8) {
    __m256 v1 = _mm256_set1_ps(ninf), v2 = v1;
    __m256i i1 = _mm256_set1_epi32(-1), i2 = i1;
    __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i step = _mm256_set1_epi32(8);
    for (; i + 8 <= n; i += 8) {
      const __m256 x = _mm256_loadu_ps(l + i);
      const __m256 gt1 = _mm256_cmp_ps(x, v1, _CMP_GT_OQ);
      const __m256 gt2 = _mm256_cmp_ps(x, v2, _CMP_GT_OQ);
      v2 = blend(blend(v2, x, gt2), v1, gt1);
      i2 = blendi(blendi(i2, idx, gt2), i1, gt1);
      v1 = blend(v1, x, gt1);
      i1 = blendi(i1, idx, gt1);
      idx = _mm256_add_epi32(idx, step);
    }
    alignas(32) float fv1[8], fv2[8];
    alignas(32) int32_t ii1[8], ii2[8];
    _mm256_store_ps(fv1, v1);
    _mm256_store_ps(fv2, v2);
    _mm256_store_si256(reinterpret_cast<__m256i*>(ii1), i1);
    _mm256_store_si256(reinterpret_cast<__m256i*>(ii2), i2);
    for (int k = 0; k < 8; ++k) {
      insert(r, fv1[k], ii1[k]);
      insert(r, fv2[k], ii2[k]);
    }
  }
  for (; i < n; ++i)
    if (l[i] == l[i]) insert(r, l[i], static_cast<int32_t>(i));
  // The lanes only register logits above -inf; a row whose top two are not
  // both above -inf is rare enough to redo with the scalar kernel.
  if (n >= 2 && !(r.top2_logit > ninf)) return logit_kernels_scalar().top2(l, n);
  return r;
}

ExpMoments exp_moments_avx2(const float* l, size_t n, float m) {
  const __m256 vm = _mm256_set1_ps(m);
  const __m256 floor = _mm256_set1_ps(kExpArgFloor);
  __m256d s0a = _mm256_setzero_pd(), s0b = s0a, s1a = s0a, s1b = s0a, s2a = s0a, s2b = s0a;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    // max_ps returns its second operand when the first is NaN: NaN and -inf -> floor.
    const __m256 d = _mm256_max_ps(_mm256_sub_ps(_mm256_loadu_ps(l + i), vm), floor);
    const __m256 e = exp8(d);
    const __m256d elo = _mm256_cvtps_pd(_mm256_castps256_ps128(e));
    const __m256d ehi = _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1));
    const __m256d dlo = _mm256_cvtps_pd(_mm256_castps256_ps128(d));
    const __m256d dhi = _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1));
    s0a = _mm256_add_pd(s0a, elo);
    s0b = _mm256_add_pd(s0b, ehi);
    const __m256d edlo = _mm256_mul_pd(elo, dlo);
    const __m256d edhi = _mm256_mul_pd(ehi, dhi);
    s1a = _mm256_add_pd(s1a, edlo);
    s1b = _mm256_add_pd(s1b, edhi);
    s2a = _mm256_fmadd_pd(edlo, dlo, s2a);
    s2b = _mm256_fmadd_pd(edhi, dhi, s2b);
  }
  alignas(32) double t0[4], t1[4], t2[4];
  _mm256_store_pd(t0, _mm256_add_pd(s0a, s0b));
  _mm256_store_pd(t1, _mm256_add_pd(s1a, s1b));
  _mm256_store_pd(t2, _mm256_add_pd(s2a, s2b));
  ExpMoments r{t0[0] + t0[1] + t0[2] + t0[3], t1[0] + t1[1] + t1[2] + t1[3], t2[0] + t2[1] + t2[2] + t2[3]};
  const ExpMoments tail = logit_kernels_scalar().exp_moments(l + i, n - i, m);
  r.s0 += tail.s0;
  r.s1 += tail.s1;
  r.s2 += tail.s2;
  return r;
}

double exp_sum_avx2(const float* l, size_t n, float m, float inv_t, float* w) {
  const __m256 vm = _mm256_set1_ps(m);
  const __m256 vt = _mm256_set1_ps(inv_t);
  const __m256 floor = _mm256_set1_ps(kExpArgFloor);
  __m256d sa = _mm256_setzero_pd(), sb = sa;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 d = _mm256_max_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(l + i), vm), vt), floor);
    const __m256 e = exp8(d);
    if (w) _mm256_storeu_ps(w + i, e);
    sa = _mm256_add_pd(sa, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    sb = _mm256_add_pd(sb, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  alignas(32) double t[4];
  _mm256_store_pd(t, _mm256_add_pd(sa, sb));
  return t[0] + t[1] + t[2] + t[3] +
         logit_kernels_scalar().exp_sum(l + i, n - i, m, inv_t, w ? w + i : nullptr);
}

const LogitKernels kAvx2{"avx2", top2_avx2, exp_moments_avx2, exp_sum_avx2};

}  // namespace

const LogitKernels* logit_kernels_avx2_impl() { return &kAvx2; }

}  // namespace entropix

#endif  // ENTROPIX_HAVE_AVX2_BUILD
