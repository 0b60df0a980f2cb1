// AVX2/FMA/F16C dot kernels; compiled with -mavx2 -mfma -mf16c and only reached after
// the run-time CPU check in dot.cpp. Each decodes a weight block once and multiplies it
// with up to kMaxDotTile activation rows.
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "kernels/blocks.h"
#include "kernels/dot.h"
#include "kernels/fp16.h"
#include "kernels/register_tile_hints.h"
#include "kernels/repack.h"

namespace entropix {

namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hsum(__m128 s) {
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

template <typename T>
inline const T* act_row(const void* x, size_t stride, int j) {
  return reinterpret_cast<const T*>(static_cast<const uint8_t*>(x) + j * stride);
}

// Expands a kernel templated on the tile size into a DotFn.
#define ENTROPIX_TILED(name)                                                                  \
  void name(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) { \
    switch (n_x) {                                                                            \
      case 1: return name##_t<1>(n, w, x, x_stride, out);                                     \
      case 2: return name##_t<2>(n, w, x, x_stride, out);                                     \
      case 3: return name##_t<3>(n, w, x, x_stride, out);                                     \
      default: return name##_t<4>(n, w, x, x_stride, out);                                    \
    }                                                                                         \
  }

// ---- float weights ---------------------------------------------------------------------

inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
struct Bf16 {
  uint16_t bits;
};
inline __m256 load8(const Bf16* p) {
  const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
inline float to_f32(float v) { return v; }
inline float to_f32(uint16_t v) { return h2f(v); }
inline float to_f32(Bf16 v) { return bf16_to_f32(v.bits); }

template <typename W, int NX>
void dot_float_t(int64_t n, const void* wv, const void* x, size_t x_stride, float* out) {
  const W* w = static_cast<const W*>(wv);
  const float* xs[NX];
  __m256 acc0[NX], acc1[NX];
  for (int j = 0; j < NX; ++j) {
    xs[j] = act_row<float>(x, x_stride, j);
    acc0[j] = _mm256_setzero_ps();
    acc1[j] = _mm256_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {  // two chains hide the FMA latency
    const __m256 w0 = load8(w + i), w1 = load8(w + i + 8);
    for (int j = 0; j < NX; ++j) {
      acc0[j] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xs[j] + i), acc0[j]);
      acc1[j] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xs[j] + i + 8), acc1[j]);
    }
  }
  for (int j = 0; j < NX; ++j) {
    float s = hsum(_mm256_add_ps(acc0[j], acc1[j]));
    for (int64_t k = i; k < n; ++k) s += to_f32(w[k]) * xs[j][k];
    out[j] = s;
  }
}

template <int NX>
void dot_f32_t(int64_t n, const void* w, const void* x, size_t s, float* out) {
  dot_float_t<float, NX>(n, w, x, s, out);
}
template <int NX>
void dot_f16_t(int64_t n, const void* w, const void* x, size_t s, float* out) {
  dot_float_t<uint16_t, NX>(n, w, x, s, out);
}
template <int NX>
void dot_bf16_t(int64_t n, const void* w, const void* x, size_t s, float* out) {
  dot_float_t<Bf16, NX>(n, w, x, s, out);
}
ENTROPIX_TILED(dot_f32)
ENTROPIX_TILED(dot_f16)
ENTROPIX_TILED(dot_bf16)

// How far ahead of the block being read the weights are prefetched, about one row of the
// shapes we run: the hardware prefetcher alone leaves a single row's stream short of the
// memory bandwidth.
constexpr int kPrefetchBytes = 2048;

template <typename Block>
inline void prefetch_ahead(const Block* b) {
  const char* p = reinterpret_cast<const char*>(b) + kPrefetchBytes;
  for (size_t offset = 0; offset < sizeof(Block); offset += 64) _mm_prefetch(p + offset, _MM_HINT_T0);
}

// The prefetch of a kernel that passes over a group of rows more than once (a half of
// its rows per pass): the first pass reads the group from memory, the last from the
// cache, so the last asks for the next group's block b instead (groups lie one after
// another; a prefetch past the matrix's end is dropped, never faults). The memory then
// streams through both passes, where it idled through the last (forks decoded together
// are bound by both the reads and the arithmetic).
template <typename Block>
inline void prefetch_for_pass(const Block* g, int64_t b, int64_t nb, bool last_pass) {
  const char* p = last_pass ? reinterpret_cast<const char*>(g + nb + b) : reinterpret_cast<const char*>(g + b) + kPrefetchBytes;
  for (size_t offset = 0; offset < sizeof(Block); offset += 64) _mm_prefetch(p + offset, _MM_HINT_T0);
}

// ---- Q8_0 and Q4_0 weights with Q8_0 activations --------------------------------------

inline __m256i load_q8_0(const BlockQ8_0& b) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
}
// Elements 0..15 from the low nibbles, 16..31 from the high ones, minus 8.
inline __m256i load_q4_0(const BlockQ4_0& b) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  const __m128i m4 = _mm_set1_epi8(0xF);
  const __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), m4), _mm_and_si128(raw, m4));
  return _mm256_sub_epi8(q, _mm256_set1_epi8(8));
}

template <typename Block>
inline __m256i load_block(const Block& b) {
  if constexpr (sizeof(Block) == sizeof(BlockQ8_0)) {
    return load_q8_0(b);
  } else {
    return load_q4_0(b);
  }
}


// sum_l |w_l| * (x_l with w's sign) over one block as 8 int32 lanes: maddubs needs one
// unsigned operand, so w's sign moves onto x; pairs stay below int16 saturation for
// |q| <= 127 (and 128, the magnitude of -128).
inline __m256i block_dot(__m256i aq, __m256i q, const BlockQ8_0& x) {
  const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs));
  return _mm256_madd_epi16(_mm256_maddubs_epi16(aq, _mm256_sign_epi8(xv, q)), _mm256_set1_epi16(1));
}

// Each weight block is decoded once and dotted with every activation row. Per block and row
// the work is sign, maddubs, madd, one conversion and one multiply-add: the products of the
// weight and activation scales are formed 8 blocks at a time from the rows' float scales
// and broadcast from memory. With several rows (forks decoded together) this loop is
// compute-bound, so anything more per block and row (horizontal sums, fp16 conversions)
// shows in the step time. Each row's result does not depend on n_x.
template <typename Block, int NX>
void dot_q8_0_blocks_t(int64_t n, const void* wv, const void* x, size_t x_stride, float* out) {
  const Block* w = static_cast<const Block*>(wv);
  const int64_t nb = n / kQK8_0;
  const BlockQ8_0* xs[NX];
  const float* xd[NX];  // the rows' scales as floats, after their blocks
  __m256 acc[NX];
  for (int j = 0; j < NX; ++j) {
    xs[j] = act_row<BlockQ8_0>(x, x_stride, j);
    xd[j] = reinterpret_cast<const float*>(reinterpret_cast<const uint8_t*>(xs[j]) + q8_0_act_scales_offset(n));
    acc[j] = _mm256_setzero_ps();
  }
  alignas(32) float scale[NX][8];  // dw * dx of the 8 blocks in flight
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    const __m256 dw = _mm256_cvtph_ps(_mm_setr_epi16(
        static_cast<short>(w[b].d), static_cast<short>(w[b + 1].d), static_cast<short>(w[b + 2].d),
        static_cast<short>(w[b + 3].d), static_cast<short>(w[b + 4].d), static_cast<short>(w[b + 5].d),
        static_cast<short>(w[b + 6].d), static_cast<short>(w[b + 7].d)));
    for (int j = 0; j < NX; ++j) _mm256_store_ps(scale[j], _mm256_mul_ps(dw, _mm256_loadu_ps(xd[j] + b)));
    for (int k = 0; k < 8; ++k) {
      prefetch_ahead(w + b + k);
      const __m256i q = load_block(w[b + k]);
      const __m256i aq = _mm256_sign_epi8(q, q);
      for (int j = 0; j < NX; ++j) {
        const __m256 p = _mm256_cvtepi32_ps(block_dot(aq, q, xs[j][b + k]));
        acc[j] = _mm256_fmadd_ps(p, _mm256_broadcast_ss(&scale[j][k]), acc[j]);
      }
    }
  }
  for (; b < nb; ++b) {
    const __m256i q = load_block(w[b]);
    const __m256i aq = _mm256_sign_epi8(q, q);
    const float dw = h2f(w[b].d);
    for (int j = 0; j < NX; ++j) {
      const __m256 p = _mm256_cvtepi32_ps(block_dot(aq, q, xs[j][b]));
      acc[j] = _mm256_fmadd_ps(p, _mm256_set1_ps(dw * xd[j][b]), acc[j]);
    }
  }
  for (int j = 0; j < NX; ++j) out[j] = hsum(acc[j]);
}

template <int NX>
void dot_q8_0_t(int64_t n, const void* w, const void* x, size_t s, float* out) {
  dot_q8_0_blocks_t<BlockQ8_0, NX>(n, w, x, s, out);
}
template <int NX>
void dot_q4_0_t(int64_t n, const void* w, const void* x, size_t s, float* out) {
  dot_q8_0_blocks_t<BlockQ4_0, NX>(n, w, x, s, out);
}
ENTROPIX_TILED(dot_q8_0)
ENTROPIX_TILED(dot_q4_0)

// 8 packed rows against NX activation rows. Per block, each 32-byte weight vector
// holds 4 weights of each row; the rows' 4 matching activations are broadcast
// against it, so sign, maddubs and madd leave the 8 rows' partial sums in the 8
// lanes, and they add up as exact integers through the block (at most 32 * 127 *
// 128 in magnitude, exact in float too). Then one conversion and one multiply-add
// per block scale all 8 rows at once: no per-row conversion, no horizontal sums.
template <int NX>
void dot_q8_0x8_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  const auto* g = static_cast<const BlockQ8_0x8*>(gv);
  const int64_t nb = n / kQK8_0;
  const BlockQ8_0* xs[NX];
  const float* xd[NX];
  __m256 acc[NX];
  for (int j = 0; j < NX; ++j) {
    xs[j] = act_row<BlockQ8_0>(x, x_stride, j);
    xd[j] = reinterpret_cast<const float*>(reinterpret_cast<const uint8_t*>(xs[j]) + q8_0_act_scales_offset(n));
    acc[j] = _mm256_setzero_ps();
  }
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead(g + b);
    __m256i sum[NX];
    for (int j = 0; j < NX; ++j) sum[j] = _mm256_setzero_si256();
    for (int c = 0; c < kQK8_0 / 4; ++c) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g[b].qs + c * 32));
      const __m256i aq = _mm256_sign_epi8(q, q);
      for (int j = 0; j < NX; ++j) {
        int32_t four;
        std::memcpy(&four, xs[j][b].qs + c * 4, sizeof four);
        const __m256i xv = _mm256_sign_epi8(_mm256_set1_epi32(four), q);
        sum[j] = _mm256_add_epi32(sum[j], _mm256_madd_epi16(_mm256_maddubs_epi16(aq, xv), ones));
        sum_formed_here(sum[j]);
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[b].d)));
    for (int j = 0; j < NX; ++j) {
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[j]), _mm256_mul_ps(dw, _mm256_broadcast_ss(xd[j] + b)), acc[j]);
    }
  }
  for (int j = 0; j < NX; ++j) _mm256_storeu_ps(out + j * kPackedRows, acc[j]);
}
ENTROPIX_TILED(dot_q8_0x8)

// ---- Q4_K and Q5_K weights with Q8_K activations --------------------------------------

// The 8 six-bit scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K/Q5_K block, unpacked
// four at a time from 32-bit words (the layout of k4_scale_min).
inline __m128i unpack_k4_scales(const uint8_t* scales) {
  uint32_t a, b, c;
  std::memcpy(&a, scales, 4);
  std::memcpy(&b, scales + 4, 4);
  std::memcpy(&c, scales + 8, 4);
  constexpr uint32_t kLow6 = 0x3F3F3F3F, kLow4 = 0x0F0F0F0F, kLow2 = 0x03030303;
  const uint32_t sc_lo = a & kLow6, m_lo = b & kLow6;
  const uint32_t sc_hi = (c & kLow4) | (((a >> 6) & kLow2) << 4);
  const uint32_t m_hi = ((c >> 4) & kLow4) | (((b >> 6) & kLow2) << 4);
  return _mm_set_epi32(static_cast<int>(m_hi), static_cast<int>(m_lo), static_cast<int>(sc_hi),
                       static_cast<int>(sc_lo));
}

// int16 element k of both 128-bit lanes broadcast across the lane.
inline __m256i broadcast_i16(__m256i v, int k) {
  return _mm256_shuffle_epi8(v, _mm256_set1_epi16(static_cast<short>(((2 * k + 1) << 8) | (2 * k))));
}

template <bool kFive, int NX>
void dot_q45_k_t(int64_t n, const void* wv, const void* x, size_t x_stride, float* out) {
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  const Block* w = static_cast<const Block*>(wv);
  const BlockQ8_K* xs[NX];
  __m256 acc[NX];
  __m128 acc_min[NX];
  for (int j = 0; j < NX; ++j) {
    xs[j] = act_row<BlockQ8_K>(x, x_stride, j);
    acc[j] = _mm256_setzero_ps();
    acc_min[j] = _mm_setzero_ps();
  }
  const __m256i m4 = _mm256_set1_epi8(0xF);
  const int64_t nb = n / kQK_K;
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead(w + b);
    const Block& q = w[b];
    const float d = h2f(q.d), dmin = h2f(q.dmin);
    const __m128i sm = unpack_k4_scales(q.scales);
    const __m128i mins = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
    const __m256i scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));

    // Mins: dmin * d_x * sum_j m[j] * (sum of the 32 activations of sub-block j).
    for (int j = 0; j < NX; ++j) {
      const BlockQ8_K& y = xs[j][b];
      const __m128i bs0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(y.bsums));
      const __m128i bs1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(y.bsums + 8));
      const __m128i prod = _mm_madd_epi16(mins, _mm_hadd_epi16(bs0, bs1));
      acc_min[j] = _mm_fmadd_ps(_mm_set1_ps(dmin * y.d), _mm_cvtepi32_ps(prod), acc_min[j]);
    }

    __m256i sumi[NX];
    for (int j = 0; j < NX; ++j) sumi[j] = _mm256_setzero_si256();
    __m256i hbits;
    if constexpr (kFive) hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q.qh));
    for (int c = 0; c < 4; ++c) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q.qs + 32 * c));
      __m256i lo = _mm256_and_si256(raw, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
      if constexpr (kFive) {
        const __m256i one = _mm256_set1_epi8(1);
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), one), 4));
        hbits = _mm256_srli_epi16(hbits, 2);
      }
      const __m256i sc_lo = broadcast_i16(scales, 2 * c);
      const __m256i sc_hi = broadcast_i16(scales, 2 * c + 1);
      for (int j = 0; j < NX; ++j) {
        const int8_t* yq = xs[j][b].qs + 64 * c;
        const __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(yq)));
        const __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(yq + 32)));
        sumi[j] = _mm256_add_epi32(sumi[j], _mm256_add_epi32(_mm256_madd_epi16(p0, sc_lo), _mm256_madd_epi16(p1, sc_hi)));
      }
    }
    for (int j = 0; j < NX; ++j) {
      acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(d * xs[j][b].d), _mm256_cvtepi32_ps(sumi[j]), acc[j]);
    }
  }
  for (int j = 0; j < NX; ++j) out[j] = hsum(acc[j]) - hsum(acc_min[j]);
}

template <int NX>
void dot_q4_k_t(int64_t n, const void* w, const void* x, size_t s, float* out) {
  dot_q45_k_t<false, NX>(n, w, x, s, out);
}
template <int NX>
void dot_q5_k_t(int64_t n, const void* w, const void* x, size_t s, float* out) {
  dot_q45_k_t<true, NX>(n, w, x, s, out);
}
ENTROPIX_TILED(dot_q4_k)
ENTROPIX_TILED(dot_q5_k)

// ---- Q6_K weights with Q8_K activations -----------------------------------------------

// Quants are used unsigned (0..63) in maddubs; the -32 offset is applied once per block
// through the activation group sums: sum_g sc[g] * 32 * bsum[g].
template <int NX>
void dot_q6_k_t(int64_t n, const void* wv, const void* x, size_t x_stride, float* out) {
  const BlockQ6_K* w = static_cast<const BlockQ6_K*>(wv);
  const BlockQ8_K* xs[NX];
  __m256 acc[NX];
  for (int j = 0; j < NX; ++j) {
    xs[j] = act_row<BlockQ8_K>(x, x_stride, j);
    acc[j] = _mm256_setzero_ps();
  }
  const __m256i m4 = _mm256_set1_epi8(0xF), m2 = _mm256_set1_epi8(3);
  const int64_t nb = n / kQK_K;
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead(w + b);
    const BlockQ6_K& q = w[b];
    const __m256i scales = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q.scales)));
    __m256i sumi[NX];
    for (int j = 0; j < NX; ++j) {
      const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs[j][b].bsums));
      sumi[j] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(scales, bsums), 5));
    }
    for (int h = 0; h < 2; ++h) {
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q.qh + 32 * h));
      const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q.ql + 64 * h));
      const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q.ql + 64 * h + 32));
      __m256i qv[4];
      qv[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
      qv[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
      qv[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
      qv[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
      // Scales of this half in both lanes; quant vector k spans groups 2k (bytes 0..15)
      // and 2k + 1 (bytes 16..31).
      const __m256i sh = _mm256_broadcastsi128_si256(h == 0 ? _mm256_castsi256_si128(scales)
                                                            : _mm256_extracti128_si256(scales, 1));
      for (int k = 0; k < 4; ++k) {
        const __m256i pick = _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(((4 * k + 3) << 8) | (4 * k + 2))),
                                              _mm_set1_epi16(static_cast<short>(((4 * k + 1) << 8) | (4 * k))));
        const __m256i sc = _mm256_shuffle_epi8(sh, pick);
        for (int j = 0; j < NX; ++j) {
          const int8_t* yq = xs[j][b].qs + 128 * h + 32 * k;
          const __m256i p = _mm256_maddubs_epi16(qv[k], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(yq)));
          sumi[j] = _mm256_add_epi32(sumi[j], _mm256_madd_epi16(p, sc));
        }
      }
    }
    const float d = h2f(q.d);
    for (int j = 0; j < NX; ++j) {
      acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(d * xs[j][b].d), _mm256_cvtepi32_ps(sumi[j]), acc[j]);
    }
  }
  for (int j = 0; j < NX; ++j) out[j] = hsum(acc[j]);
}
ENTROPIX_TILED(dot_q6_k)


// ---- activation quantizers (same bytes as quantize_row) --------------------------------

inline float max_abs(const float* x, int n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

// 32 floats times id, rounded to nearest even, as int8 in order; also returns the int32
// vectors' pairwise sums of 16 (for Q8_K's group sums) through sums when given.
inline void round_32(const float* x, float id, int8_t* out, int* sums) {
  const __m256 mul = _mm256_set1_ps(id);
  __m256i v[4];
  for (int k = 0; k < 4; ++k) {
    const __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), mul),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // Values are within +-127 (the scale comes from the maximum), clamp as quantize_row does.
    v[k] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f)));
  }
  if (sums) {
    for (int g = 0; g < 2; ++g) {
      const __m256i s = _mm256_add_epi32(v[2 * g], v[2 * g + 1]);
      __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
      h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
      sums[g] = _mm_cvtsi128_si32(h);
    }
  }
  // Packing interleaves 128-bit lanes; the permute restores element order.
  const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
  const __m256i ordered = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), ordered);
}

// The blocks, then their scales again as floats and -128 times their sums (see
// activation_row_bytes).
void quantize_q8_0(const float* x, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  float* scales = reinterpret_cast<float*>(static_cast<uint8_t*>(dst) + q8_0_act_scales_offset(n));
  auto* bias = reinterpret_cast<int32_t*>(static_cast<uint8_t*>(dst) + q8_0_act_bias_offset(n));
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float* xb = x + i * kQK8_0;
    b[i].d = _cvtss_sh(max_abs(xb, kQK8_0) / 127.0f, _MM_FROUND_TO_NEAREST_INT);
    const float d = h2f(b[i].d);
    scales[i] = d;
    int sums[2];
    round_32(xb, d > 0.0f ? 1.0f / d : 0.0f, b[i].qs, sums);
    bias[i] = -128 * (sums[0] + sums[1]);
  }
}

void quantize_q8_k(const float* x, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* xb = x + i * kQK_K;
    const float d = max_abs(xb, kQK_K) / 127.0f;
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    b[i].d = d;
    for (int k = 0; k < kQK_K / 32; ++k) {
      int sums[2];
      round_32(xb + 32 * k, id, b[i].qs + 32 * k, sums);
      b[i].bsums[2 * k] = static_cast<int16_t>(sums[0]);
      b[i].bsums[2 * k + 1] = static_cast<int16_t>(sums[1]);
    }
  }
}

// ---- Q4_K and Q5_K rows packed in groups of 16 (BlockQ4_Kx16, BlockQ5_Kx16: the AVX-512 layouts)

// Each 64-byte vector of the layout is two halves, rows 0-7 and rows 8-15, 4 weights each;
// a pass over the group takes one half. maddubs multiplies the unsigned quants (at most
// 15) by the signed activations into 16-bit pairs, which add up without saturating
// through a sub-block (16 products of at most 15 * 127 per lane: 30,480), and one madd
// with ones widens them to the 8 rows' int32 sums.
inline __m256i broadcast4(const int8_t* p) {
  int32_t four;
  std::memcpy(&four, p, sizeof four);
  return _mm256_set1_epi32(four);
}

inline __m256i bytes8(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// H halves per pass: both for one token (generation: one pass over the bytes), one for
// more (the registers hold a half's sums for every token).
//
// Q5_K (Block = BlockQ5_Kx16) adds each quant's fifth bit: quants up to 31 let only 8
// products of at most 31 * 128 (31,744) add up in 16 bits, so the pairs are widened to
// int32 every two vectors instead of once per sub-block.
template <typename Block, int NX, int H = (NX == 1 ? 2 : 1)>
void dot_kx16_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  constexpr bool kFifthBit = std::is_same_v<Block, BlockQ5_Kx16>;
  const auto* g = static_cast<const Block*>(gv);
  const int64_t nb = n / kQK_K;
  const BlockQ8_K* xs[NX];
  for (int t = 0; t < NX; ++t) xs[t] = act_row<BlockQ8_K>(x, x_stride, t);
  const __m256i low4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  for (int h0 = 0; h0 < 2; h0 += H) {
    __m256 acc[NX][H];
    for (int t = 0; t < NX; ++t)
      for (int h = 0; h < H; ++h) acc[t][h] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const Block& blk = g[b];
      prefetch_for_pass(g, b, nb, H == 1 && h0 == 1);
      __m256i isum[NX][H];
      for (int t = 0; t < NX; ++t)
        for (int h = 0; h < H; ++h) isum[t][h] = _mm256_setzero_si256();
      for (int j = 0; j < 8; ++j) {
        __m256i p[NX][H], p32[NX][H];
        for (int t = 0; t < NX; ++t)
          for (int h = 0; h < H; ++h) p[t][h] = p32[t][h] = _mm256_setzero_si256();
        for (int k = 0; k < 4; ++k) {
          for (int h = 0; h < H; ++h) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs[j][k] + 32 * (h0 + h)));
            __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
            if constexpr (kFifthBit) {
              // Bit k of each byte to bit 4 of lo, bit 4 + k to bit 4 of hi (16-bit shifts by
              // at most 4 keep the bit within its byte).
              const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh[j] + 32 * (h0 + h)));
              const __m256i bit4 = _mm256_set1_epi8(0x10);
              lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_sll_epi16(qh, _mm_cvtsi32_si128(4 - k)), bit4));
              hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(k)), bit4));
            }
            for (int t = 0; t < NX; ++t) {
              const int8_t* xq = xs[t][b].qs + 32 * j;
              p[t][h] = _mm256_add_epi16(p[t][h], _mm256_maddubs_epi16(lo, broadcast4(xq + 4 * k)));
              p[t][h] = _mm256_add_epi16(p[t][h], _mm256_maddubs_epi16(hi, broadcast4(xq + 16 + 4 * k)));
              sum_formed_here(p[t][h]);
            }
          }
          if constexpr (kFifthBit) {
            if (k % 2 == 1) {
              for (int t = 0; t < NX; ++t)
                for (int h = 0; h < H; ++h) {
                  p32[t][h] = _mm256_add_epi32(p32[t][h], _mm256_madd_epi16(p[t][h], ones));
                  p[t][h] = _mm256_setzero_si256();
                }
            }
          }
        }
        for (int h = 0; h < H; ++h) {
          const __m256i sc = bytes8(blk.scales[j] + 8 * (h0 + h));
          for (int t = 0; t < NX; ++t) {
            const __m256i sum = kFifthBit ? p32[t][h] : _mm256_madd_epi16(p[t][h], ones);
            isum[t][h] = _mm256_add_epi32(isum[t][h], _mm256_mullo_epi32(sum, sc));
          }
        }
      }
      alignas(16) int32_t pairs[NX][4];  // the activations' sub-block sums as 16-bit pairs
      for (int t = 0; t < NX; ++t) {
        const __m128i* bs = reinterpret_cast<const __m128i*>(xs[t][b].bsums);
        const __m128i one16 = _mm_set1_epi16(1);
        _mm_store_si128(reinterpret_cast<__m128i*>(pairs[t]),
                        _mm_packs_epi32(_mm_madd_epi16(_mm_loadu_si128(bs), one16), _mm_madd_epi16(_mm_loadu_si128(bs + 1), one16)));
      }
      for (int h = 0; h < H; ++h) {
        const int r0 = 8 * (h0 + h);
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.d + r0)));
        const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.dmin + r0)));
        __m256i min_pairs[4];  // each row's mins of sub-blocks 2q and 2q + 1 as 16-bit halves
        for (int q = 0; q < 4; ++q) {
          min_pairs[q] = _mm256_or_si256(bytes8(blk.mins[2 * q] + r0), _mm256_slli_epi32(bytes8(blk.mins[2 * q + 1] + r0), 16));
        }
        for (int t = 0; t < NX; ++t) {
          __m256i msum = _mm256_madd_epi16(min_pairs[0], _mm256_set1_epi32(pairs[t][0]));
          for (int q = 1; q < 4; ++q) msum = _mm256_add_epi32(msum, _mm256_madd_epi16(min_pairs[q], _mm256_set1_epi32(pairs[t][q])));
          const __m256 xd = _mm256_set1_ps(xs[t][b].d);
          acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t][h]), _mm256_mul_ps(d, xd), acc[t][h]);
          acc[t][h] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmin, xd), acc[t][h]);
        }
      }
    }
    for (int t = 0; t < NX; ++t)
      for (int h = 0; h < H; ++h) _mm256_storeu_ps(out + t * 16 + 8 * (h0 + h), acc[t][h]);
  }
}
template <int NX>
void dot_q4_kx16_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  dot_kx16_t<BlockQ4_Kx16, NX>(n, gv, x, x_stride, out);
}
ENTROPIX_TILED(dot_q4_kx16)

template <int NX>
void dot_q5_kx16_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  dot_kx16_t<BlockQ5_Kx16, NX>(n, gv, x, x_stride, out);
}
ENTROPIX_TILED(dot_q5_kx16)

// ---- Q4_0 rows packed in groups of 16 (BlockQ4_0x16, the AVX-512 layout) --------------

// As the K-quants, in halves of 8 rows: quants up to 15 let a block's 16 products per lane
// (at most 15 * 127 each: 30,480) add up in 16 bits. Each token's block sum starts at -8
// times its quant sum (the activation row's -128 times it, divided exactly by 16).
template <int NX, int H = (NX == 1 ? 2 : 1)>
void dot_q4_0x16_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  const auto* g = static_cast<const BlockQ4_0x16*>(gv);
  const int64_t nb = n / kQK8_0;
  const BlockQ8_0* xs[NX];
  const float* xd[NX];
  const int32_t* xbias[NX];
  for (int t = 0; t < NX; ++t) {
    xs[t] = act_row<BlockQ8_0>(x, x_stride, t);
    const auto* base = reinterpret_cast<const uint8_t*>(xs[t]);
    xd[t] = reinterpret_cast<const float*>(base + q8_0_act_scales_offset(n));
    xbias[t] = reinterpret_cast<const int32_t*>(base + q8_0_act_bias_offset(n));
  }
  const __m256i low4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  for (int h0 = 0; h0 < 2; h0 += H) {
    __m256 acc[NX][H];
    for (int t = 0; t < NX; ++t)
      for (int h = 0; h < H; ++h) acc[t][h] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      prefetch_for_pass(g, b, nb, H == 1 && h0 == 1);
      __m256i p[NX][H];
      for (int t = 0; t < NX; ++t)
        for (int h = 0; h < H; ++h) p[t][h] = _mm256_setzero_si256();
      for (int k = 0; k < 4; ++k) {
        for (int h = 0; h < H; ++h) {
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g[b].qs[k] + 32 * (h0 + h)));
          const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
          for (int t = 0; t < NX; ++t) {
            const int8_t* xq = xs[t][b].qs;
            p[t][h] = _mm256_add_epi16(p[t][h], _mm256_maddubs_epi16(lo, broadcast4(xq + 4 * k)));
            p[t][h] = _mm256_add_epi16(p[t][h], _mm256_maddubs_epi16(hi, broadcast4(xq + 16 + 4 * k)));
            sum_formed_here(p[t][h]);
          }
        }
      }
      for (int h = 0; h < H; ++h) {
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[b].d + 8 * (h0 + h))));
        for (int t = 0; t < NX; ++t) {
          const __m256i sum = _mm256_add_epi32(_mm256_madd_epi16(p[t][h], ones), _mm256_set1_epi32(xbias[t][b] / 16));
          acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw, _mm256_set1_ps(xd[t][b])), acc[t][h]);
        }
      }
    }
    for (int t = 0; t < NX; ++t)
      for (int h = 0; h < H; ++h) _mm256_storeu_ps(out + t * 16 + 8 * (h0 + h), acc[t][h]);
  }
}
ENTROPIX_TILED(dot_q4_0x16)

// ---- Q6_K rows packed in groups of 16 (BlockQ6_Kx16, the AVX-512 layout) --------------

// The 2 high bits of chunk k (0..3) moved to bits 4..5 of each byte.
inline __m256i q6_high(__m256i qh, int k) {
  const __m256i mask = _mm256_set1_epi8(0x30);
  switch (k) {
    case 0: return _mm256_and_si256(_mm256_slli_epi16(qh, 4), mask);
    case 1: return _mm256_and_si256(_mm256_slli_epi16(qh, 2), mask);
    case 2: return _mm256_and_si256(qh, mask);
    default: return _mm256_and_si256(_mm256_srli_epi16(qh, 2), mask);
  }
}

// As the Q4_K kernel, in halves of 8 rows. Quants up to 63: two maddubs products (at most
// 2 x 2 x 63 x 127 per lane) still fit 16 bits, so a group of 16 is two madds; each
// group's sum starts at -32 times the activations' group sum (the quants' offset) and is
// multiplied by its signed scale.
template <int NX, int H = (NX == 1 ? 2 : 1)>
void dot_q6_kx16_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  const auto* g = static_cast<const BlockQ6_Kx16*>(gv);
  const int64_t nb = n / kQK_K;
  const BlockQ8_K* xs[NX];
  for (int t = 0; t < NX; ++t) xs[t] = act_row<BlockQ8_K>(x, x_stride, t);
  const __m256i low4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  for (int h0 = 0; h0 < 2; h0 += H) {
    __m256 acc[NX][H];
    for (int t = 0; t < NX; ++t)
      for (int h = 0; h < H; ++h) acc[t][h] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ6_Kx16& blk = g[b];
      prefetch_for_pass(g, b, nb, H == 1 && h0 == 1);
      __m256i isum[NX][H];
      for (int t = 0; t < NX; ++t)
        for (int h = 0; h < H; ++h) isum[t][h] = _mm256_setzero_si256();
      for (int gi = 0; gi < 8; ++gi) {
        for (int h = 0; h < H; ++h) {
          const int half = 32 * (h0 + h);
          const __m256i qh0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh[gi][0] + half));
          const __m256i qh1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh[gi][1] + half));
          __m256i lo[4], hi[4];
          for (int k = 0; k < 4; ++k) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.ql[gi][k] + half));
            lo[k] = _mm256_or_si256(_mm256_and_si256(v, low4), q6_high(qh0, k));
            hi[k] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), low4), q6_high(qh1, k));
          }
          const __m256i sc_lo = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk.scales[gi] + 8 * (h0 + h))));
          const __m256i sc_hi = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk.scales[gi + 8] + 8 * (h0 + h))));
          for (int t = 0; t < NX; ++t) {
            const BlockQ8_K& xb = xs[t][b];
            const int8_t* xl = xb.qs + 16 * gi;
            const int8_t* xh = xb.qs + 128 + 16 * gi;
            __m256i pl = _mm256_set1_epi32(-32 * xb.bsums[gi]);
            __m256i ph = _mm256_set1_epi32(-32 * xb.bsums[gi + 8]);
            for (int k = 0; k < 4; k += 2) {
              pl = _mm256_add_epi32(pl, _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(lo[k], broadcast4(xl + 4 * k)),
                                                                           _mm256_maddubs_epi16(lo[k + 1], broadcast4(xl + 4 * k + 4))),
                                                          ones));
              ph = _mm256_add_epi32(ph, _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(hi[k], broadcast4(xh + 4 * k)),
                                                                           _mm256_maddubs_epi16(hi[k + 1], broadcast4(xh + 4 * k + 4))),
                                                          ones));
            }
            isum[t][h] = _mm256_add_epi32(isum[t][h], _mm256_add_epi32(_mm256_mullo_epi32(pl, sc_lo), _mm256_mullo_epi32(ph, sc_hi)));
          }
        }
      }
      for (int h = 0; h < H; ++h) {
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.d + 8 * (h0 + h))));
        for (int t = 0; t < NX; ++t) {
          acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t][h]), _mm256_mul_ps(d, _mm256_set1_ps(xs[t][b].d)), acc[t][h]);
        }
      }
    }
    for (int t = 0; t < NX; ++t)
      for (int h = 0; h < H; ++h) _mm256_storeu_ps(out + t * 16 + 8 * (h0 + h), acc[t][h]);
  }
}
ENTROPIX_TILED(dot_q6_kx16)
#undef ENTROPIX_TILED
#undef ENTROPIX_TILED

const PackedLayout kQ8_0x8{"q8_0x8", GgmlType::Q8_0, kPackedRows, kMaxDotTile, kQK8_0, sizeof(BlockQ8_0x8),
                           pack_q8_0_rows_x8, dot_q8_0x8};

}  // namespace

const PackedLayout kQ4_0x16{"q4_0x16", GgmlType::Q4_0, 16, kMaxDotTile, kQK8_0, sizeof(BlockQ4_0x16),
                            pack_q4_0_rows_x16, dot_q4_0x16};
const PackedLayout kQ4_Kx16{"q4_kx16", GgmlType::Q4_K, 16, kMaxDotTile, kQK_K, sizeof(BlockQ4_Kx16),
                            pack_q4_k_rows_x16, dot_q4_kx16};
const PackedLayout kQ5_Kx16{"q5_kx16", GgmlType::Q5_K, 16, kMaxDotTile, kQK_K, sizeof(BlockQ5_Kx16),
                            pack_q5_k_rows_x16, dot_q5_kx16};
const PackedLayout kQ6_Kx16{"q6_kx16", GgmlType::Q6_K, 16, kMaxDotTile, kQK_K, sizeof(BlockQ6_Kx16),
                            pack_q6_k_rows_x16, dot_q6_kx16};

const DotBackend& avx2_dot_backend_table() {
  static const DotBackend backend{"avx2",   dot_f32,  dot_f16,  dot_bf16, dot_q8_0,      dot_q4_0,
                                  dot_q4_k, dot_q5_k, dot_q6_k, quantize_q8_0, quantize_q8_k, &kQ8_0x8,
                                  &kQ4_0x16, &kQ4_Kx16, &kQ5_Kx16, &kQ6_Kx16};
  return backend;
}

}  // namespace entropix

#endif
