// AVX2/FMA attention loops (attention_kernels.h): head dimensions in multiples of 8,
// up to 4 query heads per pass over a row, the weighted values in register tiles of rows
// and chunks of the head; other shapes take the scalar loops. Q8_0 keys and values (head
// dimensions in multiples of 32) widen int8 to floats.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/attention_kernels.h"
#include "kernels/blocks.h"
#include "kernels/exp_avx2.h"
#include "kernels/fp16.h"
#include "kernels/register_tile_hints.h"

namespace entropix {

namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 8 stored elements as floats.
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

// NQ query rows against the 16 keys of a page, two vectors of 8 keys per element: each
// loaded element of the keys serves all NQ rows, and each row's sums run over d in order.
template <int NQ, typename T>
void scores_rows(const float* q, const T* kt, int32_t hd, float scale, float* scores, size_t stride) {
  __m256 lo[NQ], hi[NQ];
  for (int g = 0; g < NQ; ++g) lo[g] = hi[g] = _mm256_setzero_ps();
  for (int32_t d = 0; d < hd; ++d) {
    const __m256 k0 = load8(kt + size_t(d) * kKeyPageRows), k1 = load8(kt + size_t(d) * kKeyPageRows + 8);
    for (int g = 0; g < NQ; ++g) {
      const __m256 qd = _mm256_broadcast_ss(q + size_t(g) * size_t(hd) + size_t(d));
      lo[g] = _mm256_fmadd_ps(qd, k0, lo[g]);
      hi[g] = _mm256_fmadd_ps(qd, k1, hi[g]);
    }
  }
  const __m256 s = _mm256_set1_ps(scale);
  for (int g = 0; g < NQ; ++g) {
    _mm256_storeu_ps(scores + size_t(g) * stride, _mm256_mul_ps(lo[g], s));
    _mm256_storeu_ps(scores + size_t(g) * stride + 8, _mm256_mul_ps(hi[g], s));
  }
}

template <typename T>
void scores_avx2(const float* q, int32_t n_q, const T* kt, int32_t hd, float scale, float* scores, size_t stride) {
  int32_t g = 0;
  for (; g + 4 <= n_q; g += 4) scores_rows<4, T>(q + size_t(g) * size_t(hd), kt, hd, scale, scores + size_t(g) * stride, stride);
  for (; g + 2 <= n_q; g += 2) scores_rows<2, T>(q + size_t(g) * size_t(hd), kt, hd, scale, scores + size_t(g) * stride, stride);
  for (; g < n_q; ++g) scores_rows<1, T>(q + size_t(g) * size_t(hd), kt, hd, scale, scores + size_t(g) * stride, stride);
}

// NR rows and NC 8-float chunks of the head from c0 stay in registers while every row of
// the page adds to them: each loaded value vector serves NR rows and each weight NC
// chunks, NR * NC independent sums (8 hide the multiply-add's latency; 4 did not). A run
// of pages goes page by page (values_page_by_page), which also asks for the ahead pages.
template <int NR, int NC, typename T>
void values_tile(const float* p, size_t stride, const T* v, size_t v_stride, int32_t n_rows, int32_t c0, int32_t hd,
                 float* out) {
  __m256 acc[NR][NC];
  ENTROPIX_UNROLL for (int r = 0; r < NR; ++r) {
    ENTROPIX_UNROLL for (int c = 0; c < NC; ++c) acc[r][c] = _mm256_loadu_ps(out + size_t(r) * size_t(hd) + size_t(c0 + 8 * c));
  }
  for (int32_t i = 0; i < n_rows; ++i) {
    __m256 vv[NC];
    ENTROPIX_UNROLL for (int c = 0; c < NC; ++c) vv[c] = load8(v + size_t(i) * v_stride + size_t(c0 + 8 * c));
    ENTROPIX_UNROLL for (int r = 0; r < NR; ++r) {
      const __m256 pr = _mm256_broadcast_ss(p + size_t(r) * stride + size_t(i));
      ENTROPIX_UNROLL for (int c = 0; c < NC; ++c) acc[r][c] = _mm256_fmadd_ps(pr, vv[c], acc[r][c]);
    }
  }
  ENTROPIX_UNROLL for (int r = 0; r < NR; ++r) {
    ENTROPIX_UNROLL for (int c = 0; c < NC; ++c) _mm256_storeu_ps(out + size_t(r) * size_t(hd) + size_t(c0 + 8 * c), acc[r][c]);
  }
}

// NR rows over the whole head, NC chunks at a time (fewer at its end).
template <int NR, int NC, typename T>
void values_rows(const float* p, size_t stride, const T* v, size_t v_stride, int32_t n_rows, int32_t hd, float* out) {
  int32_t c0 = 0;
  for (; c0 + 8 * NC <= hd; c0 += 8 * NC) values_tile<NR, NC, T>(p, stride, v, v_stride, n_rows, c0, hd, out);
  if constexpr (NC > 2) {
    if (c0 + 16 <= hd) {
      values_tile<NR, 2, T>(p, stride, v, v_stride, n_rows, c0, hd, out);
      c0 += 16;
    }
  }
  for (; c0 < hd; c0 += 8) values_tile<NR, 1, T>(p, stride, v, v_stride, n_rows, c0, hd, out);
}

// 4 rows take 2 chunks at a time, 2 rows or 1 take 4: 8 sums either way, within the 16
// vector registers.
template <typename T>
void values_avx2(const float* p, size_t stride, int32_t n_q, const T* v, size_t v_stride, int32_t n_rows, int32_t hd,
                 float* out) {
  if (hd % 8 != 0) {
    if constexpr (sizeof(T) == sizeof(float)) {
      scalar_attention_kernels().values(p, stride, n_q, v, v_stride, n_rows, hd, out);
    } else {
      scalar_attention_kernels().values_f16(p, stride, n_q, v, v_stride, n_rows, hd, out);
    }
    return;
  }
  int32_t g = 0;
  for (; g + 4 <= n_q; g += 4) values_rows<4, 2, T>(p + size_t(g) * stride, stride, v, v_stride, n_rows, hd, out + size_t(g) * size_t(hd));
  for (; g + 2 <= n_q; g += 2) values_rows<2, 4, T>(p + size_t(g) * stride, stride, v, v_stride, n_rows, hd, out + size_t(g) * size_t(hd));
  for (; g < n_q; ++g) values_rows<1, 4, T>(p + size_t(g) * stride, stride, v, v_stride, n_rows, hd, out + size_t(g) * size_t(hd));
}

// 8 int8 elements as floats.
inline __m256 load8_q8(const int8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// As scores_rows, over int8 keys: each block of 32 elements sums apart, then is weighed by
// its keys' scales.
template <int NQ>
void scores_q8_rows(const float* q, const int8_t* kt, const uint16_t* ks, int32_t hd, float scale, float* scores,
                    size_t stride) {
  __m256 lo[NQ], hi[NQ];
  for (int g = 0; g < NQ; ++g) lo[g] = hi[g] = _mm256_setzero_ps();
  for (int32_t b = 0; b < hd / kQK8_0; ++b) {
    __m256 blo[NQ], bhi[NQ];
    for (int g = 0; g < NQ; ++g) blo[g] = bhi[g] = _mm256_setzero_ps();
    for (int32_t d = b * kQK8_0; d < (b + 1) * kQK8_0; ++d) {
      const __m256 k0 = load8_q8(kt + size_t(d) * kKeyPageRows), k1 = load8_q8(kt + size_t(d) * kKeyPageRows + 8);
      for (int g = 0; g < NQ; ++g) {
        const __m256 qd = _mm256_broadcast_ss(q + size_t(g) * size_t(hd) + size_t(d));
        blo[g] = _mm256_fmadd_ps(qd, k0, blo[g]);
        bhi[g] = _mm256_fmadd_ps(qd, k1, bhi[g]);
      }
    }
    const __m256 s0 = load8(ks + size_t(b) * kKeyPageRows), s1 = load8(ks + size_t(b) * kKeyPageRows + 8);
    for (int g = 0; g < NQ; ++g) {
      lo[g] = _mm256_fmadd_ps(blo[g], s0, lo[g]);
      hi[g] = _mm256_fmadd_ps(bhi[g], s1, hi[g]);
    }
  }
  const __m256 s = _mm256_set1_ps(scale);
  for (int g = 0; g < NQ; ++g) {
    _mm256_storeu_ps(scores + size_t(g) * stride, _mm256_mul_ps(lo[g], s));
    _mm256_storeu_ps(scores + size_t(g) * stride + 8, _mm256_mul_ps(hi[g], s));
  }
}

void scores_q8_avx2(const float* q, int32_t n_q, const int8_t* kt, const uint16_t* ks, int32_t hd, float scale,
                    float* scores, size_t stride) {
  int32_t g = 0;
  for (; g + 2 <= n_q; g += 2) scores_q8_rows<2>(q + size_t(g) * size_t(hd), kt, ks, hd, scale, scores + size_t(g) * stride, stride);
  for (; g < n_q; ++g) scores_q8_rows<1>(q + size_t(g) * size_t(hd), kt, ks, hd, scale, scores + size_t(g) * stride, stride);
}

// As values_rows, each row's 8 int8 elements widened and scaled (exactly: 8 bits times an
// fp16 scale fit a float's mantissa) before they are weighed.
template <int NQ>
void values_q8_rows(const float* p, size_t stride, const uint8_t* v, size_t v_stride, int32_t n_rows, int32_t hd,
                    float* out) {
  for (int32_t c = 0; c < hd; c += 8) {
    __m256 acc[NQ];
    for (int g = 0; g < NQ; ++g) acc[g] = _mm256_loadu_ps(out + size_t(g) * size_t(hd) + size_t(c));
    for (int32_t i = 0; i < n_rows; ++i) {
      const auto* block = reinterpret_cast<const BlockQ8_0*>(v + size_t(i) * v_stride) + c / kQK8_0;
      const __m256 vv = _mm256_mul_ps(load8_q8(block->qs + c % kQK8_0), _mm256_set1_ps(fp16_to_f32(block->d)));
      for (int g = 0; g < NQ; ++g) acc[g] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + size_t(g) * stride + size_t(i)), vv, acc[g]);
    }
    for (int g = 0; g < NQ; ++g) _mm256_storeu_ps(out + size_t(g) * size_t(hd) + size_t(c), acc[g]);
  }
}

void values_q8_avx2(const float* p, size_t stride, int32_t n_q, const uint8_t* v, size_t v_stride, int32_t n_rows,
                    int32_t hd, float* out) {
  int32_t g = 0;
  for (; g + 4 <= n_q; g += 4) values_q8_rows<4>(p + size_t(g) * stride, stride, v, v_stride, n_rows, hd, out + size_t(g) * size_t(hd));
  for (; g + 2 <= n_q; g += 2) values_q8_rows<2>(p + size_t(g) * stride, stride, v, v_stride, n_rows, hd, out + size_t(g) * size_t(hd));
  for (; g < n_q; ++g) values_q8_rows<1>(p + size_t(g) * stride, stride, v, v_stride, n_rows, hd, out + size_t(g) * size_t(hd));
}

float exponentiate_avx2(float* x, int32_t n, float* max_out) {
  int32_t i = 0;
  __m256 vmax = _mm256_set1_ps(x[0]);
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  float max = _mm_cvtss_f32(m4);
  for (; i < n; ++i) max = std::max(max, x[i]);
  const __m256 vm = _mm256_set1_ps(max);
  __m256 vsum = _mm256_setzero_ps();
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(x + i, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  float sum = hsum(vsum);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  *max_out = max;
  return sum;
}

}  // namespace

const AttentionKernels& avx2_attention_kernels_table() {
  static const AttentionKernels k{"avx2",
                                  scores_avx2<float>,
                                  values_avx2<float>,
                                  scores_avx2<uint16_t>,
                                  values_avx2<uint16_t>,
                                  scores_page_by_page<float, scores_avx2<float>>,
                                  values_page_by_page<float, values_avx2<float>>,
                                  scores_page_by_page<uint16_t, scores_avx2<uint16_t>>,
                                  values_page_by_page<uint16_t, values_avx2<uint16_t>>,
                                  scores_q8_avx2,
                                  values_q8_avx2,
                                  exponentiate_avx2};
  return k;
}

}  // namespace entropix
