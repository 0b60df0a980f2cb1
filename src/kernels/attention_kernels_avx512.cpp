// AVX-512 attention loops (attention_kernels.h): one vector holds an element of all 16
// keys of a page, 8 query rows per pass; values in 16-float chunks of the head for head
// dimensions in multiples of 16 (others take the AVX2 loops); the softmax's exponentials.
#if defined(__AVX512F__)

#include <immintrin.h>

#include <algorithm>

#include "kernels/attention_kernels.h"
#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/register_tile_hints.h"

namespace entropix {

const AttentionKernels& avx2_attention_kernels_table();  // attention_kernels_avx2.cpp

namespace {

static_assert(kKeyPageRows == 16, "one vector of 16 floats per element of a key page");

// 16 stored elements as floats.
inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }

template <int NQ, typename T>
void scores_rows(const float* q, const T* kt, int32_t hd, float scale, float* scores, size_t stride) {
  __m512 acc[NQ];
  ENTROPIX_UNROLL for (int g = 0; g < NQ; ++g) acc[g] = _mm512_setzero_ps();
  for (int32_t d = 0; d < hd; ++d) {
    const __m512 k = load16(kt + size_t(d) * kKeyPageRows);
    ENTROPIX_UNROLL for (int g = 0; g < NQ; ++g) acc[g] = _mm512_fmadd_ps(_mm512_set1_ps(q[size_t(g) * size_t(hd) + size_t(d)]), k, acc[g]);
  }
  const __m512 s = _mm512_set1_ps(scale);
  ENTROPIX_UNROLL for (int g = 0; g < NQ; ++g) _mm512_storeu_ps(scores + size_t(g) * stride, _mm512_mul_ps(acc[g], s));
}

template <typename T>
void scores_avx512(const float* q, int32_t n_q, const T* kt, int32_t hd, float scale, float* scores, size_t stride) {
  int32_t g = 0;
  for (; g + 8 <= n_q; g += 8) scores_rows<8, T>(q + size_t(g) * size_t(hd), kt, hd, scale, scores + size_t(g) * stride, stride);
  for (; g + 4 <= n_q; g += 4) scores_rows<4, T>(q + size_t(g) * size_t(hd), kt, hd, scale, scores + size_t(g) * stride, stride);
  for (; g + 2 <= n_q; g += 2) scores_rows<2, T>(q + size_t(g) * size_t(hd), kt, hd, scale, scores + size_t(g) * stride, stride);
  for (; g < n_q; ++g) scores_rows<1, T>(q + size_t(g) * size_t(hd), kt, hd, scale, scores + size_t(g) * stride, stride);
}

// 16 floats of NQ output rows stay in registers while every value row adds to them.
template <int NQ, typename T>
void values_rows(const float* p, size_t stride, const T* v, size_t v_stride, int32_t n_rows, int32_t hd, float* out) {
  for (int32_t c = 0; c < hd; c += 16) {
    __m512 acc[NQ];
    ENTROPIX_UNROLL for (int g = 0; g < NQ; ++g) acc[g] = _mm512_loadu_ps(out + size_t(g) * size_t(hd) + size_t(c));
    for (int32_t i = 0; i < n_rows; ++i) {
      const __m512 vv = load16(v + size_t(i) * v_stride + size_t(c));
      ENTROPIX_UNROLL for (int g = 0; g < NQ; ++g) acc[g] = _mm512_fmadd_ps(_mm512_set1_ps(p[size_t(g) * stride + size_t(i)]), vv, acc[g]);
    }
    ENTROPIX_UNROLL for (int g = 0; g < NQ; ++g) _mm512_storeu_ps(out + size_t(g) * size_t(hd) + size_t(c), acc[g]);
  }
}

template <typename T>
void values_avx512(const float* p, size_t stride, int32_t n_q, const T* v, size_t v_stride, int32_t n_rows, int32_t hd,
                   float* out) {
  if (hd % 16 != 0) {
    if constexpr (sizeof(T) == sizeof(float)) {
      avx2_attention_kernels_table().values(p, stride, n_q, v, v_stride, n_rows, hd, out);
    } else {
      avx2_attention_kernels_table().values_f16(p, stride, n_q, v, v_stride, n_rows, hd, out);
    }
    return;
  }
  int32_t g = 0;
  for (; g + 8 <= n_q; g += 8) values_rows<8, T>(p + size_t(g) * stride, stride, v, v_stride, n_rows, hd, out + size_t(g) * size_t(hd));
  for (; g + 4 <= n_q; g += 4) values_rows<4, T>(p + size_t(g) * stride, stride, v, v_stride, n_rows, hd, out + size_t(g) * size_t(hd));
  for (; g + 2 <= n_q; g += 2) values_rows<2, T>(p + size_t(g) * stride, stride, v, v_stride, n_rows, hd, out + size_t(g) * size_t(hd));
  for (; g < n_q; ++g) values_rows<1, T>(p + size_t(g) * stride, stride, v, v_stride, n_rows, hd, out + size_t(g) * size_t(hd));
}

// ---- runs of pages ------------------------------------------------------------------------

// NR rows against NP key pages at once: each loaded key vector serves NR rows and each
// broadcast query element NP pages, 16 independent sums where one page at a time had NR.
// Each score is the same chain of multiply-adds over d as in scores_rows.
// The ahead pages' lines are asked for as the loop walks the same lines of its own pages,
// one per cache line, so that memory works while the multiply-adds run.
template <int NR, int NP, typename T>
void scores_tile(const float* q, const void* const* pages, const void* const* ahead, int32_t hd, float scale,
                 float* scores, size_t stride) {
  constexpr int32_t kElementsPerLine = 64 / (kKeyPageRows * sizeof(T));  // of a key: 1 (f32) or 2 (f16)
  __m512 acc[NR][NP];
  ENTROPIX_UNROLL for (int r = 0; r < NR; ++r)
    ENTROPIX_UNROLL for (int j = 0; j < NP; ++j) acc[r][j] = _mm512_setzero_ps();
  for (int32_t d = 0; d < hd; ++d) {
    if (d % kElementsPerLine == 0) {
      ENTROPIX_UNROLL for (int j = 0; j < NP; ++j) {
        _mm_prefetch(reinterpret_cast<const char*>(static_cast<const T*>(ahead[j]) + size_t(d) * kKeyPageRows), _MM_HINT_T0);
      }
    }
    __m512 k[NP];
    ENTROPIX_UNROLL for (int j = 0; j < NP; ++j) k[j] = load16(static_cast<const T*>(pages[j]) + size_t(d) * kKeyPageRows);
    ENTROPIX_UNROLL for (int r = 0; r < NR; ++r) {
      const __m512 qd = _mm512_set1_ps(q[size_t(r) * size_t(hd) + size_t(d)]);
      ENTROPIX_UNROLL for (int j = 0; j < NP; ++j) acc[r][j] = _mm512_fmadd_ps(qd, k[j], acc[r][j]);
    }
  }
  const __m512 s = _mm512_set1_ps(scale);
  ENTROPIX_UNROLL for (int r = 0; r < NR; ++r)
    ENTROPIX_UNROLL for (int j = 0; j < NP; ++j) _mm512_storeu_ps(scores + size_t(r) * stride + size_t(j) * kKeyPageRows, _mm512_mul_ps(acc[r][j], s));
}

template <int NR, typename T>
void scores_rows_pages(const float* q, const void* const* pages, const void* const* ahead, int32_t n_pages, int32_t hd,
                       float scale, float* scores, size_t stride) {
  int32_t j = 0;
  for (; j + 4 <= n_pages; j += 4) scores_tile<NR, 4, T>(q, pages + j, ahead + j, hd, scale, scores + size_t(j) * kKeyPageRows, stride);
  for (; j + 2 <= n_pages; j += 2) scores_tile<NR, 2, T>(q, pages + j, ahead + j, hd, scale, scores + size_t(j) * kKeyPageRows, stride);
  for (; j < n_pages; ++j) scores_tile<NR, 1, T>(q, pages + j, ahead + j, hd, scale, scores + size_t(j) * kKeyPageRows, stride);
}

// The first pass over the pages asks for the ahead pages; the others read the pages
// again (from cache) for more rows.
template <typename T>
void scores_pages_avx512(const float* q, int32_t n_q, const void* const* pages, const void* const* ahead,
                         int32_t n_pages, int32_t hd, float scale, float* scores, size_t stride) {
  int32_t g = 0;
  for (; g + 4 <= n_q; g += 4) scores_rows_pages<4, T>(q + size_t(g) * size_t(hd), pages, g == 0 ? ahead : pages, n_pages, hd, scale, scores + size_t(g) * stride, stride);
  for (; g + 2 <= n_q; g += 2) scores_rows_pages<2, T>(q + size_t(g) * size_t(hd), pages, g == 0 ? ahead : pages, n_pages, hd, scale, scores + size_t(g) * stride, stride);
  for (; g < n_q; ++g) scores_rows_pages<1, T>(q + size_t(g) * size_t(hd), pages, g == 0 ? ahead : pages, n_pages, hd, scale, scores + size_t(g) * stride, stride);
}

// NR rows and NC 16-float chunks of the head from c0, in registers through every row of
// every page: each loaded value vector serves NR rows, each weight NC chunks. Each output
// element is the same chain of multiply-adds as in values_rows, page after page.
template <int NR, int NC, typename T>
void values_tile(const float* p, size_t stride, const void* const* v_pages, const void* const* ahead, int32_t n_pages,
                 int32_t n_last, size_t v_stride, int32_t c0, int32_t hd, float* out) {
  constexpr int kChunksPerLine = 64 / (16 * sizeof(T));  // 16-element chunks: 1 (f32) or 2 (f16)
  __m512 acc[NR][NC];
  ENTROPIX_UNROLL for (int r = 0; r < NR; ++r)
    ENTROPIX_UNROLL for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_loadu_ps(out + size_t(r) * size_t(hd) + size_t(c0 + 16 * c));
  for (int32_t j = 0; j < n_pages; ++j) {
    const int32_t rows = j + 1 < n_pages ? kKeyPageRows : n_last;
    const T* v = static_cast<const T*>(v_pages[j]) + c0;
    const T* va = static_cast<const T*>(ahead[j]) + c0;
    const float* pj = p + size_t(j) * kKeyPageRows;
    for (int32_t i = 0; i < rows; ++i) {
      ENTROPIX_UNROLL for (int c = 0; c < NC; c += kChunksPerLine) {
        _mm_prefetch(reinterpret_cast<const char*>(va + size_t(i) * v_stride + size_t(16 * c)), _MM_HINT_T0);
      }
      __m512 vv[NC];
      ENTROPIX_UNROLL for (int c = 0; c < NC; ++c) vv[c] = load16(v + size_t(i) * v_stride + size_t(16 * c));
      ENTROPIX_UNROLL for (int r = 0; r < NR; ++r) {
        const __m512 pr = _mm512_set1_ps(pj[size_t(r) * stride + size_t(i)]);
        ENTROPIX_UNROLL for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_fmadd_ps(pr, vv[c], acc[r][c]);
      }
    }
  }
  ENTROPIX_UNROLL for (int r = 0; r < NR; ++r)
    ENTROPIX_UNROLL for (int c = 0; c < NC; ++c) _mm512_storeu_ps(out + size_t(r) * size_t(hd) + size_t(c0 + 16 * c), acc[r][c]);
}

template <int NR, typename T>
void values_rows_pages(int nc, const float* p, size_t stride, const void* const* v_pages, const void* const* ahead,
                       int32_t n_pages, int32_t n_last, size_t v_stride, int32_t c0, int32_t hd, float* out) {
  switch (nc) {
    case 1: return values_tile<NR, 1, T>(p, stride, v_pages, ahead, n_pages, n_last, v_stride, c0, hd, out);
    case 2: return values_tile<NR, 2, T>(p, stride, v_pages, ahead, n_pages, n_last, v_stride, c0, hd, out);
    case 3: return values_tile<NR, 3, T>(p, stride, v_pages, ahead, n_pages, n_last, v_stride, c0, hd, out);
    default: return values_tile<NR, 4, T>(p, stride, v_pages, ahead, n_pages, n_last, v_stride, c0, hd, out);
  }
}

// Each chunk of columns' first pass over the pages asks for the ahead pages' columns.
template <typename T>
void values_pages_avx512(const float* p, size_t stride, int32_t n_q, const void* const* v_pages, const void* const* ahead,
                         int32_t n_pages, int32_t n_last, size_t v_stride, int32_t hd, float* out) {
  if (hd % 16 != 0) {
    return values_page_by_page<T, values_avx512<T>>(p, stride, n_q, v_pages, ahead, n_pages, n_last, v_stride, hd, out);
  }
  for (int32_t c0 = 0; c0 < hd; c0 += 64) {
    const int nc = std::min<int32_t>(4, (hd - c0) / 16);
    int32_t g = 0;
    for (; g + 4 <= n_q; g += 4) values_rows_pages<4, T>(nc, p + size_t(g) * stride, stride, v_pages, g == 0 ? ahead : v_pages, n_pages, n_last, v_stride, c0, hd, out + size_t(g) * size_t(hd));
    for (; g + 2 <= n_q; g += 2) values_rows_pages<2, T>(nc, p + size_t(g) * stride, stride, v_pages, g == 0 ? ahead : v_pages, n_pages, n_last, v_stride, c0, hd, out + size_t(g) * size_t(hd));
    for (; g < n_q; ++g) values_rows_pages<1, T>(nc, p + size_t(g) * stride, stride, v_pages, g == 0 ? ahead : v_pages, n_pages, n_last, v_stride, c0, hd, out + size_t(g) * size_t(hd));
  }
}

// 16 int8 elements as floats.
inline __m512 load16_q8(const int8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

// As scores_rows, over int8 keys: each block of 32 elements sums apart, then is weighed by
// its keys' scales.
template <int NQ>
void scores_q8_rows(const float* q, const int8_t* kt, const uint16_t* ks, int32_t hd, float scale, float* scores,
                    size_t stride) {
  __m512 acc[NQ];
  ENTROPIX_UNROLL for (int g = 0; g < NQ; ++g) acc[g] = _mm512_setzero_ps();
  for (int32_t b = 0; b < hd / kQK8_0; ++b) {
    __m512 block[NQ];
    ENTROPIX_UNROLL for (int g = 0; g < NQ; ++g) block[g] = _mm512_setzero_ps();
    for (int32_t d = b * kQK8_0; d < (b + 1) * kQK8_0; ++d) {
      const __m512 k = load16_q8(kt + size_t(d) * kKeyPageRows);
      ENTROPIX_UNROLL for (int g = 0; g < NQ; ++g) {
        block[g] = _mm512_fmadd_ps(_mm512_set1_ps(q[size_t(g) * size_t(hd) + size_t(d)]), k, block[g]);
      }
    }
    const __m512 s = load16(ks + size_t(b) * kKeyPageRows);
    ENTROPIX_UNROLL for (int g = 0; g < NQ; ++g) acc[g] = _mm512_fmadd_ps(block[g], s, acc[g]);
  }
  const __m512 s = _mm512_set1_ps(scale);
  ENTROPIX_UNROLL for (int g = 0; g < NQ; ++g) _mm512_storeu_ps(scores + size_t(g) * stride, _mm512_mul_ps(acc[g], s));
}

void scores_q8_avx512(const float* q, int32_t n_q, const int8_t* kt, const uint16_t* ks, int32_t hd, float scale,
                      float* scores, size_t stride) {
  int32_t g = 0;
  for (; g + 8 <= n_q; g += 8) scores_q8_rows<8>(q + size_t(g) * size_t(hd), kt, ks, hd, scale, scores + size_t(g) * stride, stride);
  for (; g + 4 <= n_q; g += 4) scores_q8_rows<4>(q + size_t(g) * size_t(hd), kt, ks, hd, scale, scores + size_t(g) * stride, stride);
  for (; g + 2 <= n_q; g += 2) scores_q8_rows<2>(q + size_t(g) * size_t(hd), kt, ks, hd, scale, scores + size_t(g) * stride, stride);
  for (; g < n_q; ++g) scores_q8_rows<1>(q + size_t(g) * size_t(hd), kt, ks, hd, scale, scores + size_t(g) * stride, stride);
}

// As values_rows, each row's 16 int8 elements widened and scaled (exactly) first.
template <int NQ>
void values_q8_rows(const float* p, size_t stride, const uint8_t* v, size_t v_stride, int32_t n_rows, int32_t hd,
                    float* out) {
  for (int32_t c = 0; c < hd; c += 16) {
    __m512 acc[NQ];
    ENTROPIX_UNROLL for (int g = 0; g < NQ; ++g) acc[g] = _mm512_loadu_ps(out + size_t(g) * size_t(hd) + size_t(c));
    for (int32_t i = 0; i < n_rows; ++i) {
      const auto* block = reinterpret_cast<const BlockQ8_0*>(v + size_t(i) * v_stride) + c / kQK8_0;
      const __m512 vv = _mm512_mul_ps(load16_q8(block->qs + c % kQK8_0), _mm512_set1_ps(fp16_to_f32(block->d)));
      ENTROPIX_UNROLL for (int g = 0; g < NQ; ++g) acc[g] = _mm512_fmadd_ps(_mm512_set1_ps(p[size_t(g) * stride + size_t(i)]), vv, acc[g]);
    }
    ENTROPIX_UNROLL for (int g = 0; g < NQ; ++g) _mm512_storeu_ps(out + size_t(g) * size_t(hd) + size_t(c), acc[g]);
  }
}

void values_q8_avx512(const float* p, size_t stride, int32_t n_q, const uint8_t* v, size_t v_stride, int32_t n_rows,
                      int32_t hd, float* out) {
  int32_t g = 0;
  for (; g + 8 <= n_q; g += 8) values_q8_rows<8>(p + size_t(g) * stride, stride, v, v_stride, n_rows, hd, out + size_t(g) * size_t(hd));
  for (; g + 4 <= n_q; g += 4) values_q8_rows<4>(p + size_t(g) * stride, stride, v, v_stride, n_rows, hd, out + size_t(g) * size_t(hd));
  for (; g + 2 <= n_q; g += 2) values_q8_rows<2>(p + size_t(g) * stride, stride, v, v_stride, n_rows, hd, out + size_t(g) * size_t(hd));
  for (; g < n_q; ++g) values_q8_rows<1>(p + size_t(g) * stride, stride, v, v_stride, n_rows, hd, out + size_t(g) * size_t(hd));
}

// exp(x) for 16 floats, x <= 88.37; 0 below the float range: exp8 (exp_avx2.h) step for
// step, so each exponential has the AVX2 path's bits.
inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(x, _mm512_set1_ps(88.37626f));
  const __mmask16 in_range = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33654f), _CMP_NLT_UQ);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_maskz_mul_ps(in_range, p, _mm512_castsi512_ps(e));
}

// The softmax's exponentials of a row, 16 at a time, the tail under a mask (a prompt's
// rows end anywhere in a block): x[i] = exp(x[i] - max), returning their sum.
float exponentiate_avx512(float* x, int32_t n, float* max_out) {
  const int32_t full = n / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (n - full)) - 1u);
  __m512 vmax = _mm512_set1_ps(x[0]);
  for (int32_t i = 0; i < full; i += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + i));
  vmax = _mm512_mask_max_ps(vmax, tail, vmax, _mm512_maskz_loadu_ps(tail, x + full));
  const float max = _mm512_reduce_max_ps(vmax);
  const __m512 vm = _mm512_set1_ps(max);
  __m512 vsum = _mm512_setzero_ps();
  for (int32_t i = 0; i < full; i += 16) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
    _mm512_storeu_ps(x + i, e);
    vsum = _mm512_add_ps(vsum, e);
  }
  const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + full), vm));
  _mm512_mask_storeu_ps(x + full, tail, e);
  vsum = _mm512_mask_add_ps(vsum, tail, vsum, e);
  *max_out = max;
  return _mm512_reduce_add_ps(vsum);
}

}  // namespace

const AttentionKernels& avx512_attention_kernels_table() {
  static const AttentionKernels k{"avx512",
                                  scores_avx512<float>,
                                  values_avx512<float>,
                                  scores_avx512<uint16_t>,
                                  values_avx512<uint16_t>,
                                  scores_pages_avx512<float>,
                                  values_pages_avx512<float>,
                                  scores_pages_avx512<uint16_t>,
                                  values_pages_avx512<uint16_t>,
                                  scores_q8_avx512,
                                  values_q8_avx512,
                                  exponentiate_avx512};
  return k;
}

}  // namespace entropix

#endif
