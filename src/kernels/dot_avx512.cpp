// AVX-512 VNNI batched kernels for weights repacked in groups of 16 rows (kernels/repack.h);
// compiled with AVX-512 F/BW/VL/VNNI and only reached after the run-time CPU check in
// dot.cpp. Everything else (single-row dots, activation quantizers) is the AVX2 backend's.
//
// Each 64-byte weight vector holds 4 consecutive weights of 16 rows as unsigned bytes;
// vpdpbusd multiplies it with 4 activations broadcast from one token's row and adds the 16
// rows' sums into 16 int32 lanes. The weight vector stays in a register for up to 8 tokens,
// and the integer sums of a block are converted and scaled once for all 16 rows.
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__)

#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "kernels/blocks.h"
#include "kernels/dot.h"
#include "kernels/register_tile_hints.h"
#include "kernels/repack.h"

namespace entropix {

const DotBackend& avx2_dot_backend_table();  // dot_avx2.cpp

namespace {

constexpr int kGroupRows = 16;
constexpr int kMaxTokens = 8;

template <typename T>
inline const T* act_row(const void* x, size_t stride, int j) {
  return reinterpret_cast<const T*>(static_cast<const uint8_t*>(x) + j * stride);
}

// The weights 2 KiB ahead of a block, which the hardware prefetcher alone leaves short of
// the memory's bandwidth when one token streams through them.
template <typename Block>
inline void prefetch_ahead(const Block* b) {
  const char* p = reinterpret_cast<const char*>(b) + 2048;
  for (size_t offset = 0; offset < sizeof(Block); offset += 64) _mm_prefetch(p + offset, _MM_HINT_T0);
}

// The activation rows of a tile and their zeroed float sums.
template <typename Block, int NX>
inline void start_rows(const void* x, size_t stride, const Block* (&xs)[NX], __m512 (&acc)[NX]) {
  for (int j = 0; j < NX; ++j) {
    xs[j] = act_row<Block>(x, stride, j);
    acc[j] = _mm512_setzero_ps();
  }
}

// 4 activation bytes, the same in every 32-bit lane.
inline __m512i broadcast4(const int8_t* p) {
  int32_t four;
  std::memcpy(&four, p, sizeof four);
  return _mm512_set1_epi32(four);
}

// 16 fp16 values as floats.
inline __m512 half16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// 16 bytes, one per 32-bit lane.
inline __m512i bytes16(const uint8_t* p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

// Expands a kernel templated on the token count into a PackedDotFn.
#define ENTROPIX_TILED16(name)                                                                \
  void name(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) { \
    switch (n_x) {                                                                            \
      case 1: return name##_t<1>(n, w, x, x_stride, out);                                     \
      case 2: return name##_t<2>(n, w, x, x_stride, out);                                     \
      case 3: return name##_t<3>(n, w, x, x_stride, out);                                     \
      case 4: return name##_t<4>(n, w, x, x_stride, out);                                     \
      case 5: return name##_t<5>(n, w, x, x_stride, out);                                     \
      case 6: return name##_t<6>(n, w, x, x_stride, out);                                     \
      case 7: return name##_t<7>(n, w, x, x_stride, out);                                     \
      default: return name##_t<8>(n, w, x, x_stride, out);                                    \
    }                                                                                         \
  }

// ---- Q8_0 ---------------------------------------------------------------------------------


// Two adjacent groups of 16 rows at once, up to 6 tokens: each broadcast of 4 activations
// serves two weight vectors, so a block takes fewer loads per vpdpbusd than with one group
// (prompt processing is bound by them; 8% faster here). Each token's block sum starts at
// -128 times its quant sum (from the activation row), which takes out the 128 the weights
// were stored with: the sum is the exact signed dot.
template <int NX>
void dot_q8_0x32_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  const int64_t nb = n / kQK8_0;
  const auto* ga = static_cast<const BlockQ8_0x16*>(gv);
  const BlockQ8_0x16* gb = ga + nb;  // the next group of 16 rows
  const BlockQ8_0* xs[NX];
  const float* xd[NX];
  const int32_t* xbias[NX];
  __m512 acc_a[NX], acc_b[NX];
  start_rows(x, x_stride, xs, acc_a);
  for (int j = 0; j < NX; ++j) {
    const auto* base = reinterpret_cast<const uint8_t*>(xs[j]);
    xd[j] = reinterpret_cast<const float*>(base + q8_0_act_scales_offset(n));
    xbias[j] = reinterpret_cast<const int32_t*>(base + q8_0_act_bias_offset(n));
    acc_b[j] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead(ga + b);
    prefetch_ahead(gb + b);
    __m512i sa[NX], sb[NX];
    for (int j = 0; j < NX; ++j) sa[j] = sb[j] = _mm512_set1_epi32(xbias[j][b]);
    for (int c = 0; c < kQK8_0 / 4; ++c) {
      const __m512i qa = _mm512_loadu_si512(ga[b].qs + c * 64), qb = _mm512_loadu_si512(gb[b].qs + c * 64);
      for (int j = 0; j < NX; ++j) {
        const __m512i xv = broadcast4(xs[j][b].qs + 4 * c);
        sa[j] = _mm512_dpbusd_epi32(sa[j], qa, xv);
        sb[j] = _mm512_dpbusd_epi32(sb[j], qb, xv);
      }
    }
    const __m512 da = half16(ga[b].d), db = half16(gb[b].d);
    for (int j = 0; j < NX; ++j) {
      const __m512 xdj = _mm512_set1_ps(xd[j][b]);
      acc_a[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sa[j]), _mm512_mul_ps(da, xdj), acc_a[j]);
      acc_b[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sb[j]), _mm512_mul_ps(db, xdj), acc_b[j]);
    }
  }
  for (int j = 0; j < NX; ++j) {
    _mm512_storeu_ps(out + j * 2 * kGroupRows, acc_a[j]);
    _mm512_storeu_ps(out + j * 2 * kGroupRows + kGroupRows, acc_b[j]);
  }
}

void dot_q8_0x32(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) {
  switch (n_x) {
    case 1: return dot_q8_0x32_t<1>(n, w, x, x_stride, out);
    case 2: return dot_q8_0x32_t<2>(n, w, x, x_stride, out);
    case 3: return dot_q8_0x32_t<3>(n, w, x, x_stride, out);
    case 4: return dot_q8_0x32_t<4>(n, w, x, x_stride, out);
    case 5: return dot_q8_0x32_t<5>(n, w, x, x_stride, out);
    default: return dot_q8_0x32_t<6>(n, w, x, x_stride, out);
  }
}

// Groups of 32 rows are two groups of 16 one after the other.
void pack_q8_0_rows_x32(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1) {
  pack_q8_0_rows_x16(w, dst, 2 * g0, 2 * g1);
}

// ---- Q4_0 ---------------------------------------------------------------------------------

// As Q8_0 with the quants unpacked from nibbles: each token's block sum starts at -8 times
// its quant sum (the activation row's -128 times it, divided exactly by 16).
template <int NX>
void dot_q4_0x16_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  const auto* g = static_cast<const BlockQ4_0x16*>(gv);
  const int64_t nb = n / kQK8_0;
  const BlockQ8_0* xs[NX];
  const float* xd[NX];
  const int32_t* xbias[NX];
  __m512 acc[NX];
  start_rows(x, x_stride, xs, acc);
  for (int j = 0; j < NX; ++j) {
    const auto* base = reinterpret_cast<const uint8_t*>(xs[j]);
    xd[j] = reinterpret_cast<const float*>(base + q8_0_act_scales_offset(n));
    xbias[j] = reinterpret_cast<const int32_t*>(base + q8_0_act_bias_offset(n));
  }
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead(g + b);
    __m512i lo[4], hi[4];
    for (int k = 0; k < 4; ++k) {
      const __m512i v = _mm512_loadu_si512(g[b].qs[k]);
      lo[k] = _mm512_and_si512(v, low4);
      hi[k] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
    }
    const __m512 dw = half16(g[b].d);
    for (int j = 0; j < NX; ++j) {
      const int8_t* xq = xs[j][b].qs;
      __m512i s0 = _mm512_set1_epi32(xbias[j][b] / 16), s1 = _mm512_setzero_si512();
      for (int k = 0; k < 4; ++k) {
        s0 = _mm512_dpbusd_epi32(s0, lo[k], broadcast4(xq + 4 * k));
        s1 = _mm512_dpbusd_epi32(s1, hi[k], broadcast4(xq + 16 + 4 * k));
      }
      acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), _mm512_mul_ps(dw, _mm512_set1_ps(xd[j][b])), acc[j]);
    }
  }
  for (int j = 0; j < NX; ++j) _mm512_storeu_ps(out + j * kGroupRows, acc[j]);
}
ENTROPIX_TILED16(dot_q4_0x16)

// ---- Q4_K and Q5_K ------------------------------------------------------------------------

// A token's sub-block sums (Q8_K's sums of 16) added in pairs, sub-blocks 2p and 2p + 1 as
// the two 16-bit halves of 32-bit lane p.
inline __m128i q8_k_bsum_pairs(const BlockQ8_K& xb) {
  const __m128i* bs = reinterpret_cast<const __m128i*>(xb.bsums);
  const __m128i ones = _mm_set1_epi16(1);
  return _mm_packs_epi32(_mm_madd_epi16(_mm_loadu_si128(bs), ones), _mm_madd_epi16(_mm_loadu_si128(bs + 1), ones));
}

// Each of the 16 rows' mins of sub-blocks 2p and 2p + 1 as the two 16-bit halves of its lane.
struct MinPairs {
  __m512i p[4];
  template <typename Block>
  explicit MinPairs(const Block& blk) {
    for (int i = 0; i < 4; ++i) p[i] = _mm512_or_si512(bytes16(blk.mins[2 * i]), _mm512_slli_epi32(bytes16(blk.mins[2 * i + 1]), 16));
  }
  // The rows' mins times a token's sub-block sums (q8_k_bsum_pairs), over the super-block.
  __m512i times(__m128i bsum_pairs) const {
    alignas(16) int32_t pairs[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(pairs), bsum_pairs);
    __m512i msum = _mm512_madd_epi16(p[0], _mm512_set1_epi32(pairs[0]));
    for (int i = 1; i < 4; ++i) msum = _mm512_add_epi32(msum, _mm512_madd_epi16(p[i], _mm512_set1_epi32(pairs[i])));
    return msum;
  }
};

// Per sub-block, the 16 rows' integer sums times their 6-bit scales add up as int32 through
// the super-block; the mins meet the activations' sub-block sums (from Q8_K's sums of 16) in
// 16-bit pairs. Two conversions and multiply-adds per super-block and token.
// Q4_K and Q5_K (Block: BlockQ4_Kx16 or BlockQ5_Kx16) differ only in the quants' fifth bit.
template <typename Block, int NX>
void dot_kx16_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  const auto* g = static_cast<const Block*>(gv);
  const int64_t nb = n / kQK_K;
  const BlockQ8_K* xs[NX];
  __m512 acc[NX];
  start_rows(x, x_stride, xs, acc);
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  for (int64_t b = 0; b < nb; ++b) {
    const Block& blk = g[b];
    prefetch_ahead(g + b);
    __m512i isum[NX];
    for (int t = 0; t < NX; ++t) isum[t] = _mm512_setzero_si512();
    for (int j = 0; j < 8; ++j) {
      __m512i q[8];
      for (int k = 0; k < 4; ++k) {
        const __m512i v = _mm512_loadu_si512(blk.qs[j][k]);
        q[k] = _mm512_and_si512(v, low4);
        q[4 + k] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
      }
      if constexpr (std::is_same_v<Block, BlockQ5_Kx16>) {
        // Bit k of each byte to bit 4 of q[k], bit 4 + k to bit 4 of q[4 + k] (16-bit
        // shifts by at most 4 keep the bit within its byte).
        const __m512i qh = _mm512_loadu_si512(blk.qh[j]), bit4 = _mm512_set1_epi8(0x10);
        for (int k = 0; k < 4; ++k) {
          q[k] = _mm512_or_si512(q[k], _mm512_and_si512(_mm512_sll_epi16(qh, _mm_cvtsi32_si128(4 - k)), bit4));
          q[4 + k] = _mm512_or_si512(q[4 + k], _mm512_and_si512(_mm512_srl_epi16(qh, _mm_cvtsi32_si128(k)), bit4));
        }
      }
      const __m512i sc = bytes16(blk.scales[j]);
      for (int t = 0; t < NX; ++t) {
        const int8_t* xq = xs[t][b].qs + 32 * j;
        // Two chains of 4: with few tokens the sums' latency, not the throughput, bounds.
        __m512i p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[0], broadcast4(xq));
        __m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[4], broadcast4(xq + 16));
        for (int k = 1; k < 4; ++k) {
          p0 = _mm512_dpbusd_epi32(p0, q[k], broadcast4(xq + 4 * k));
          p1 = _mm512_dpbusd_epi32(p1, q[4 + k], broadcast4(xq + 16 + 4 * k));
        }
        isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(_mm512_add_epi32(p0, p1), sc));
      }
    }
    const __m512 d = half16(blk.d), dmin = half16(blk.dmin);
    const MinPairs mins(blk);
    for (int t = 0; t < NX; ++t) {
      const __m512i msum = mins.times(q8_k_bsum_pairs(xs[t][b]));
      const __m512 xd = _mm512_set1_ps(xs[t][b].d);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, xd), acc[t]);
      acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dmin, xd), acc[t]);
    }
  }
  for (int j = 0; j < NX; ++j) _mm512_storeu_ps(out + j * kGroupRows, acc[j]);
}

template <int NX>
void dot_q5_kx16_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  dot_kx16_t<BlockQ5_Kx16, NX>(n, gv, x, x_stride, out);
}
ENTROPIX_TILED16(dot_q5_kx16)

// The low and high nibbles of chunk k of a Q4_K sub-block.
inline void q4_k_chunk(const BlockQ4_Kx16& blk, int j, int k, __m512i& lo, __m512i& hi) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i v = _mm512_loadu_si512(blk.qs[j][k]);
  lo = _mm512_and_si512(v, low4);
  hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
}

// Two adjacent groups of 16 Q4_K rows (32 rows), up to 5 tokens: as Q8_0x32, each
// broadcast of 4 activations serves both groups' weight vectors, half the broadcasts per
// vpdpbusd of dot_kx16_t (here a broadcast from memory costs about 0.3 of a cycle on top of
// the multiply-adds it feeds; 7% faster here). A sub-block's low and high nibbles meet its
// 32 activations in one chain per token and group, as both share the sub-block's scale.
// (Q5_K in this form gained nothing: its fifth bits add as many operations as it saves.)
template <int NX>
void dot_q4_kx32_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  const int64_t nb = n / kQK_K;
  const auto* ga = static_cast<const BlockQ4_Kx16*>(gv);
  const BlockQ4_Kx16* gb = ga + nb;  // the next group of 16 rows
  const BlockQ8_K* xs[NX];
  __m512 acc_a[NX], acc_b[NX];
  start_rows(x, x_stride, xs, acc_a);
  for (int t = 0; t < NX; ++t) acc_b[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ4_Kx16& ba = ga[b];
    const BlockQ4_Kx16& bb = gb[b];
    prefetch_ahead(ga + b);
    prefetch_ahead(gb + b);
    __m512i isum_a[NX], isum_b[NX];
    for (int t = 0; t < NX; ++t) isum_a[t] = isum_b[t] = _mm512_setzero_si512();
    for (int j = 0; j < 8; ++j) {
      __m512i pa[NX], pb[NX];
      for (int t = 0; t < NX; ++t) pa[t] = pb[t] = _mm512_setzero_si512();
      ENTROPIX_UNROLL
      for (int k = 0; k < 4; ++k) {
        __m512i lo_a, hi_a, lo_b, hi_b;
        q4_k_chunk(ba, j, k, lo_a, hi_a);
        q4_k_chunk(bb, j, k, lo_b, hi_b);
        ENTROPIX_UNROLL
        for (int t = 0; t < NX; ++t) {
          const int8_t* xq = xs[t][b].qs + 32 * j + 4 * k;
          const __m512i x_lo = broadcast4(xq), x_hi = broadcast4(xq + 16);
          pa[t] = _mm512_dpbusd_epi32(pa[t], lo_a, x_lo);
          pb[t] = _mm512_dpbusd_epi32(pb[t], lo_b, x_lo);
          pa[t] = _mm512_dpbusd_epi32(pa[t], hi_a, x_hi);
          pb[t] = _mm512_dpbusd_epi32(pb[t], hi_b, x_hi);
        }
      }
      const __m512i sc_a = bytes16(ba.scales[j]), sc_b = bytes16(bb.scales[j]);
      for (int t = 0; t < NX; ++t) {
        isum_a[t] = _mm512_add_epi32(isum_a[t], _mm512_mullo_epi32(pa[t], sc_a));
        isum_b[t] = _mm512_add_epi32(isum_b[t], _mm512_mullo_epi32(pb[t], sc_b));
      }
    }
    const __m512 d_a = half16(ba.d), dmin_a = half16(ba.dmin), d_b = half16(bb.d), dmin_b = half16(bb.dmin);
    const MinPairs mins_a(ba), mins_b(bb);
    for (int t = 0; t < NX; ++t) {
      const __m128i pairs = q8_k_bsum_pairs(xs[t][b]);
      const __m512 xd = _mm512_set1_ps(xs[t][b].d);
      acc_a[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum_a[t]), _mm512_mul_ps(d_a, xd), acc_a[t]);
      acc_a[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins_a.times(pairs)), _mm512_mul_ps(dmin_a, xd), acc_a[t]);
      acc_b[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum_b[t]), _mm512_mul_ps(d_b, xd), acc_b[t]);
      acc_b[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins_b.times(pairs)), _mm512_mul_ps(dmin_b, xd), acc_b[t]);
    }
  }
  for (int t = 0; t < NX; ++t) {
    _mm512_storeu_ps(out + t * 2 * kGroupRows, acc_a[t]);
    _mm512_storeu_ps(out + t * 2 * kGroupRows + kGroupRows, acc_b[t]);
  }
}

// Fewer than 5 tokens (generation, forks) go through dot_kx16_t one group at a time: its
// chains are shorter, and here it generates 10% faster than the two-group kernel.
template <int NX>
void dot_q4_kx32_by_halves(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  float half[kGroupRows * NX];
  const auto* g = static_cast<const BlockQ4_Kx16*>(gv);
  for (int h = 0; h < 2; ++h) {
    dot_kx16_t<BlockQ4_Kx16, NX>(n, g + h * (n / kQK_K), x, x_stride, half);
    for (int t = 0; t < NX; ++t) std::memcpy(out + t * 2 * kGroupRows + h * kGroupRows, half + t * kGroupRows, sizeof(float) * kGroupRows);
  }
}

void dot_q4_kx32(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) {
  switch (n_x) {
    case 1: return dot_q4_kx32_by_halves<1>(n, w, x, x_stride, out);
    case 2: return dot_q4_kx32_by_halves<2>(n, w, x, x_stride, out);
    case 3: return dot_q4_kx32_by_halves<3>(n, w, x, x_stride, out);
    case 4: return dot_q4_kx32_by_halves<4>(n, w, x, x_stride, out);
    default: return dot_q4_kx32_t<5>(n, w, x, x_stride, out);
  }
}

void pack_q4_k_rows_x32(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1) {
  pack_q4_k_rows_x16(w, dst, 2 * g0, 2 * g1);
}

// ---- Q6_K ---------------------------------------------------------------------------------

// The 2 high bits of chunk k (0..3) moved to bits 4..5 of each byte.
inline __m512i q6_high(__m512i qh, int k) {
  const __m512i mask = _mm512_set1_epi8(0x30);
  switch (k) {
    case 0: return _mm512_and_si512(_mm512_slli_epi16(qh, 4), mask);
    case 1: return _mm512_and_si512(_mm512_slli_epi16(qh, 2), mask);
    case 2: return _mm512_and_si512(qh, mask);
    default: return _mm512_and_si512(_mm512_srli_epi16(qh, 2), mask);
  }
}

// Each group's sum starts at -32 times the activations' group sum (Q8_K's sums of 16), which
// takes out the 32 the 6-bit quants are stored with, then is multiplied by its signed scale.
template <int NX>
void dot_q6_kx16_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  const auto* g = static_cast<const BlockQ6_Kx16*>(gv);
  const int64_t nb = n / kQK_K;
  const BlockQ8_K* xs[NX];
  __m512 acc[NX];
  start_rows(x, x_stride, xs, acc);
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ6_Kx16& blk = g[b];
    prefetch_ahead(g + b);
    __m512i isum[NX];
    for (int t = 0; t < NX; ++t) isum[t] = _mm512_setzero_si512();
    for (int gi = 0; gi < 8; ++gi) {
      const __m512i qh0 = _mm512_loadu_si512(blk.qh[gi][0]), qh1 = _mm512_loadu_si512(blk.qh[gi][1]);
      __m512i lo[4], hi[4];
      for (int k = 0; k < 4; ++k) {
        const __m512i v = _mm512_loadu_si512(blk.ql[gi][k]);
        lo[k] = _mm512_or_si512(_mm512_and_si512(v, low4), q6_high(qh0, k));
        hi[k] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), low4), q6_high(qh1, k));
      }
      const __m512i sc_lo = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales[gi])));
      const __m512i sc_hi = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales[gi + 8])));
      for (int t = 0; t < NX; ++t) {
        const BlockQ8_K& xb = xs[t][b];
        const int8_t* xl = xb.qs + 16 * gi;
        const int8_t* xh = xb.qs + 128 + 16 * gi;
        __m512i pl = _mm512_set1_epi32(-32 * xb.bsums[gi]);
        __m512i ph = _mm512_set1_epi32(-32 * xb.bsums[gi + 8]);
        for (int k = 0; k < 4; ++k) {
          pl = _mm512_dpbusd_epi32(pl, lo[k], broadcast4(xl + 4 * k));
          ph = _mm512_dpbusd_epi32(ph, hi[k], broadcast4(xh + 4 * k));
        }
        isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(pl, sc_lo), _mm512_mullo_epi32(ph, sc_hi)));
      }
    }
    const __m512 d = half16(blk.d);
    for (int t = 0; t < NX; ++t) {
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, _mm512_set1_ps(xs[t][b].d)), acc[t]);
    }
  }
  for (int j = 0; j < NX; ++j) _mm512_storeu_ps(out + j * kGroupRows, acc[j]);
}
ENTROPIX_TILED16(dot_q6_kx16)

const PackedLayout kQ8_0x32{"q8_0x32", GgmlType::Q8_0, 2 * kGroupRows, 6, kQK8_0, 2 * sizeof(BlockQ8_0x16),
                            pack_q8_0_rows_x32, dot_q8_0x32};
const PackedLayout kQ4_0x16{"q4_0x16", GgmlType::Q4_0, kGroupRows, kMaxTokens, kQK8_0, sizeof(BlockQ4_0x16),
                            pack_q4_0_rows_x16, dot_q4_0x16};
const PackedLayout kQ4_Kx32{"q4_kx32", GgmlType::Q4_K, 2 * kGroupRows, 5, kQK_K, 2 * sizeof(BlockQ4_Kx16),
                            pack_q4_k_rows_x32, dot_q4_kx32};
const PackedLayout kQ5_Kx16{"q5_kx16", GgmlType::Q5_K, kGroupRows, kMaxTokens, kQK_K, sizeof(BlockQ5_Kx16),
                            pack_q5_k_rows_x16, dot_q5_kx16};
const PackedLayout kQ6_Kx16{"q6_kx16", GgmlType::Q6_K, kGroupRows, kMaxTokens, kQK_K, sizeof(BlockQ6_Kx16),
                            pack_q6_k_rows_x16, dot_q6_kx16};

}  // namespace

const DotBackend& avx512_dot_backend_table() {
  static const DotBackend backend = [] {
    DotBackend b = avx2_dot_backend_table();
    b.name = "avx512";
    b.packed_q8_0 = &kQ8_0x32;
    b.packed_q4_0 = &kQ4_0x16;
    b.packed_q4_k = &kQ4_Kx32;
    b.packed_q5_k = &kQ5_Kx16;
    b.packed_q6_k = &kQ6_Kx16;
    return b;
  }();
  return backend;
}

}  // namespace entropix

#endif
