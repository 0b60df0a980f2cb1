// AVX-VNNI (256-bit) batched kernels, for CPUs that have it without AVX-512 (Intel's
// client cores since Alder Lake): the AVX-512 layouts of kernels/repack.h read as two
// halves of 8 rows, each 32-byte half holding 4 consecutive weights of 8 rows, which
// vpdpbusd multiplies with 4 activations of one token into the 8 rows' int32 sums. No
// 16-bit stage as on AVX2, so no saturation bound and one instruction where AVX2 takes
// two. Compiled with -mavxvnni and reached only after the run-time CPU check in dot.cpp;
// everything else (row kernels, activation quantizers) is the AVX2 backend's.
#if defined(__AVXVNNI__)

#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "kernels/blocks.h"
#include "kernels/dot.h"
#include "kernels/repack.h"

namespace entropix {

const DotBackend& avx2_dot_backend_table();  // dot_avx2.cpp

namespace {

template <typename T>
inline const T* act_row(const void* x, size_t stride, int j) {
  return reinterpret_cast<const T*>(static_cast<const uint8_t*>(x) + j * stride);
}

// The weights 2 KiB ahead of a block (as the other backends do).
template <typename Block>
inline void prefetch_ahead(const Block* b) {
  const char* p = reinterpret_cast<const char*>(b) + 2048;
  for (size_t offset = 0; offset < sizeof(Block); offset += 64) _mm_prefetch(p + offset, _MM_HINT_T0);
}

// 4 activation bytes, the same in every 32-bit lane.
inline __m256i broadcast4(const int8_t* p) {
  int32_t four;
  std::memcpy(&four, p, sizeof four);
  return _mm256_set1_epi32(four);
}

// Half h (rows 8h..8h+7) of a 64-byte vector of a 16-row layout.
inline __m256i half(const uint8_t* vector64, int h) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(vector64 + 32 * h));
}

inline __m256i dot4(__m256i acc, __m256i weights, const int8_t* x) {
  return _mm256_dpbusd_avx_epi32(acc, weights, broadcast4(x));
}

// 8 bytes, one per 32-bit lane.
inline __m256i bytes8(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

inline __m256 half8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

// Both halves in one pass for one token (generation reads the bytes once), one half per
// pass for more (the registers hold that half's sums for every token).
template <int NX>
constexpr int kHalves = NX == 1 ? 2 : 1;

#define ENTROPIX_TILED_VNNI(name)                                                             \
  void name(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) { \
    switch (n_x) {                                                                            \
      case 1: return name##_t<1>(n, w, x, x_stride, out);                                     \
      case 2: return name##_t<2>(n, w, x, x_stride, out);                                     \
      case 3: return name##_t<3>(n, w, x, x_stride, out);                                     \
      default: return name##_t<4>(n, w, x, x_stride, out);                                    \
    }                                                                                         \
  }

// Q8_0 activation rows: blocks, their scales as floats, -128 times each block's quant sum.
template <int NX>
struct Q8_0Rows {
  const BlockQ8_0* xs[NX];
  const float* xd[NX];
  const int32_t* xbias[NX];
  Q8_0Rows(int64_t n, const void* x, size_t x_stride) {
    for (int t = 0; t < NX; ++t) {
      xs[t] = act_row<BlockQ8_0>(x, x_stride, t);
      const auto* base = reinterpret_cast<const uint8_t*>(xs[t]);
      xd[t] = reinterpret_cast<const float*>(base + q8_0_act_scales_offset(n));
      xbias[t] = reinterpret_cast<const int32_t*>(base + q8_0_act_bias_offset(n));
    }
  }
};

// The frame of the kernels with Q8_0 activations: per half of the group and block, each
// token's int32 block sums (block_sums fills s[t][h]), scaled by the rows' and the token's
// scales.
template <int NX, typename Group, typename BlockSums>
void q8_0_act_tiles(int64_t n, const Group* g, const void* x, size_t x_stride, float* out, BlockSums block_sums) {
  constexpr int H = kHalves<NX>;
  const int64_t nb = n / kQK8_0;
  const Q8_0Rows<NX> rows(n, x, x_stride);
  for (int h0 = 0; h0 < 2; h0 += H) {
    __m256 acc[NX][H];
    for (int t = 0; t < NX; ++t)
      for (int h = 0; h < H; ++h) acc[t][h] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      prefetch_ahead(g + b);
      __m256i s[NX][H];
      block_sums(g[b], rows, b, h0, s);
      for (int h = 0; h < H; ++h) {
        const __m256 dw = half8(g[b].d + 8 * (h0 + h));
        for (int t = 0; t < NX; ++t) {
          acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t][h]), _mm256_mul_ps(dw, _mm256_set1_ps(rows.xd[t][b])), acc[t][h]);
        }
      }
    }
    for (int t = 0; t < NX; ++t)
      for (int h = 0; h < H; ++h) _mm256_storeu_ps(out + t * 16 + 8 * (h0 + h), acc[t][h]);
  }
}

// ---- Q8_0 (BlockQ8_0x16: weights stored plus 128) -------------------------------------

// Each token's block sum starts at -128 times its quant sum, which takes out the 128.
template <int NX>
void dot_q8_0x16_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  constexpr int H = kHalves<NX>;
  q8_0_act_tiles<NX>(n, static_cast<const BlockQ8_0x16*>(gv), x, x_stride, out,
                     [](const BlockQ8_0x16& blk, const Q8_0Rows<NX>& rows, int64_t b, int h0, __m256i (&s)[NX][H]) {
                       for (int t = 0; t < NX; ++t)
                         for (int h = 0; h < H; ++h) s[t][h] = _mm256_set1_epi32(rows.xbias[t][b]);
                       for (int c = 0; c < kQK8_0 / 4; ++c) {
                         for (int h = 0; h < H; ++h) {
                           const __m256i w = half(blk.qs + 64 * c, h0 + h);
                           for (int t = 0; t < NX; ++t) s[t][h] = dot4(s[t][h], w, rows.xs[t][b].qs + 4 * c);
                         }
                       }
                     });
}
ENTROPIX_TILED_VNNI(dot_q8_0x16)

// ---- Q4_0 (BlockQ4_0x16) ------------------------------------------------------------------

// As Q8_0 with the quants from nibbles: each block sum starts at -8 times the quant sum.
template <int NX>
void dot_q4_0x16_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  constexpr int H = kHalves<NX>;
  q8_0_act_tiles<NX>(n, static_cast<const BlockQ4_0x16*>(gv), x, x_stride, out,
                     [](const BlockQ4_0x16& blk, const Q8_0Rows<NX>& rows, int64_t b, int h0, __m256i (&s)[NX][H]) {
                       const __m256i low4 = _mm256_set1_epi8(0x0F);
                       for (int t = 0; t < NX; ++t)
                         for (int h = 0; h < H; ++h) s[t][h] = _mm256_set1_epi32(rows.xbias[t][b] / 16);
                       for (int k = 0; k < 4; ++k) {
                         for (int h = 0; h < H; ++h) {
                           const __m256i v = half(blk.qs[k], h0 + h);
                           const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                           for (int t = 0; t < NX; ++t) {
                             const int8_t* xq = rows.xs[t][b].qs;
                             s[t][h] = dot4(dot4(s[t][h], lo, xq + 4 * k), hi, xq + 16 + 4 * k);
                           }
                         }
                       }
                     });
}
ENTROPIX_TILED_VNNI(dot_q4_0x16)

// ---- Q4_K and Q5_K (BlockQ4_Kx16, BlockQ5_Kx16) ------------------------------------------

// Per sub-block, the rows' integer sums times their 6-bit scales add up as int32 through the
// super-block; the mins meet the activations' sub-block sums (from Q8_K's sums of 16) in
// 16-bit pairs. Q5_K adds each quant's fifth bit from its own vector.
template <typename Block, int NX>
void dot_kx16_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  constexpr int H = kHalves<NX>;
  const auto* g = static_cast<const Block*>(gv);
  const int64_t nb = n / kQK_K;
  const BlockQ8_K* xs[NX];
  for (int t = 0; t < NX; ++t) xs[t] = act_row<BlockQ8_K>(x, x_stride, t);
  const __m256i low4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
  for (int h0 = 0; h0 < 2; h0 += H) {
    __m256 acc[NX][H];
    for (int t = 0; t < NX; ++t)
      for (int h = 0; h < H; ++h) acc[t][h] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const Block& blk = g[b];
      prefetch_ahead(g + b);
      __m256i isum[NX][H];
      for (int t = 0; t < NX; ++t)
        for (int h = 0; h < H; ++h) isum[t][h] = _mm256_setzero_si256();
      for (int j = 0; j < 8; ++j) {
        for (int h = 0; h < H; ++h) {
          __m256i q[8];
          for (int k = 0; k < 4; ++k) {
            const __m256i v = half(blk.qs[j][k], h0 + h);
            q[k] = _mm256_and_si256(v, low4);
            q[4 + k] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
          }
          if constexpr (std::is_same_v<Block, BlockQ5_Kx16>) {
            // Bit k of each byte to bit 4 of q[k], bit 4 + k to bit 4 of q[4 + k].
            const __m256i qh = half(blk.qh[j], h0 + h);
            for (int k = 0; k < 4; ++k) {
              q[k] = _mm256_or_si256(q[k], _mm256_and_si256(_mm256_sll_epi16(qh, _mm_cvtsi32_si128(4 - k)), bit4));
              q[4 + k] = _mm256_or_si256(q[4 + k], _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(k)), bit4));
            }
          }
          const __m256i sc = bytes8(blk.scales[j] + 8 * (h0 + h));
          for (int t = 0; t < NX; ++t) {
            const int8_t* xq = xs[t][b].qs + 32 * j;
            __m256i p = _mm256_setzero_si256();
            for (int k = 0; k < 4; ++k) p = dot4(dot4(p, q[k], xq + 4 * k), q[4 + k], xq + 16 + 4 * k);
            isum[t][h] = _mm256_add_epi32(isum[t][h], _mm256_mullo_epi32(p, sc));
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
        const __m256 d = half8(blk.d + r0), dmin = half8(blk.dmin + r0);
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
ENTROPIX_TILED_VNNI(dot_q4_kx16)

template <int NX>
void dot_q5_kx16_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  dot_kx16_t<BlockQ5_Kx16, NX>(n, gv, x, x_stride, out);
}
ENTROPIX_TILED_VNNI(dot_q5_kx16)

// ---- Q6_K (BlockQ6_Kx16) ------------------------------------------------------------------

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

// Each group's sum starts at -32 times the activations' group sum (Q8_K's sums of 16),
// which takes out the 32 the quants are stored with, then is multiplied by its scale.
template <int NX>
void dot_q6_kx16_t(int64_t n, const void* gv, const void* x, size_t x_stride, float* out) {
  constexpr int H = kHalves<NX>;
  const auto* g = static_cast<const BlockQ6_Kx16*>(gv);
  const int64_t nb = n / kQK_K;
  const BlockQ8_K* xs[NX];
  for (int t = 0; t < NX; ++t) xs[t] = act_row<BlockQ8_K>(x, x_stride, t);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  for (int h0 = 0; h0 < 2; h0 += H) {
    __m256 acc[NX][H];
    for (int t = 0; t < NX; ++t)
      for (int h = 0; h < H; ++h) acc[t][h] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ6_Kx16& blk = g[b];
      prefetch_ahead(g + b);
      __m256i isum[NX][H];
      for (int t = 0; t < NX; ++t)
        for (int h = 0; h < H; ++h) isum[t][h] = _mm256_setzero_si256();
      for (int gi = 0; gi < 8; ++gi) {
        for (int h = 0; h < H; ++h) {
          const __m256i qh0 = half(blk.qh[gi][0], h0 + h), qh1 = half(blk.qh[gi][1], h0 + h);
          __m256i lo[4], hi[4];
          for (int k = 0; k < 4; ++k) {
            const __m256i v = half(blk.ql[gi][k], h0 + h);
            lo[k] = _mm256_or_si256(_mm256_and_si256(v, low4), q6_high(qh0, k));
            hi[k] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), low4), q6_high(qh1, k));
          }
          const int r0 = 8 * (h0 + h);
          const __m256i sc_lo = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk.scales[gi] + r0)));
          const __m256i sc_hi = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk.scales[gi + 8] + r0)));
          for (int t = 0; t < NX; ++t) {
            const BlockQ8_K& xb = xs[t][b];
            const int8_t* xl = xb.qs + 16 * gi;
            const int8_t* xh = xb.qs + 128 + 16 * gi;
            __m256i pl = _mm256_set1_epi32(-32 * xb.bsums[gi]);
            __m256i ph = _mm256_set1_epi32(-32 * xb.bsums[gi + 8]);
            for (int k = 0; k < 4; ++k) {
              pl = dot4(pl, lo[k], xl + 4 * k);
              ph = dot4(ph, hi[k], xh + 4 * k);
            }
            isum[t][h] = _mm256_add_epi32(isum[t][h], _mm256_add_epi32(_mm256_mullo_epi32(pl, sc_lo), _mm256_mullo_epi32(ph, sc_hi)));
          }
        }
      }
      for (int h = 0; h < H; ++h) {
        const __m256 d = half8(blk.d + 8 * (h0 + h));
        for (int t = 0; t < NX; ++t) {
          acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t][h]), _mm256_mul_ps(d, _mm256_set1_ps(xs[t][b].d)), acc[t][h]);
        }
      }
    }
    for (int t = 0; t < NX; ++t)
      for (int h = 0; h < H; ++h) _mm256_storeu_ps(out + t * 16 + 8 * (h0 + h), acc[t][h]);
  }
}
ENTROPIX_TILED_VNNI(dot_q6_kx16)

const PackedLayout kQ8_0x16{"q8_0x16", GgmlType::Q8_0, 16, kMaxDotTile, kQK8_0, sizeof(BlockQ8_0x16),
                            pack_q8_0_rows_x16, dot_q8_0x16};
const PackedLayout kQ4_0x16{"q4_0x16", GgmlType::Q4_0, 16, kMaxDotTile, kQK8_0, sizeof(BlockQ4_0x16),
                            pack_q4_0_rows_x16, dot_q4_0x16};
const PackedLayout kQ4_Kx16{"q4_kx16", GgmlType::Q4_K, 16, kMaxDotTile, kQK_K, sizeof(BlockQ4_Kx16),
                            pack_q4_k_rows_x16, dot_q4_kx16};
const PackedLayout kQ5_Kx16{"q5_kx16", GgmlType::Q5_K, 16, kMaxDotTile, kQK_K, sizeof(BlockQ5_Kx16),
                            pack_q5_k_rows_x16, dot_q5_kx16};
const PackedLayout kQ6_Kx16{"q6_kx16", GgmlType::Q6_K, 16, kMaxDotTile, kQK_K, sizeof(BlockQ6_Kx16),
                            pack_q6_k_rows_x16, dot_q6_kx16};

}  // namespace

const DotBackend& avxvnni_dot_backend_table() {
  static const DotBackend backend = [] {
    DotBackend b = avx2_dot_backend_table();
    b.name = "avxvnni";
    b.packed_q8_0 = &kQ8_0x16;
    b.packed_q4_0 = &kQ4_0x16;
    b.packed_q4_k = &kQ4_Kx16;
    b.packed_q5_k = &kQ5_Kx16;
    b.packed_q6_k = &kQ6_Kx16;
    return b;
  }();
  return backend;
}

}  // namespace entropix

#endif
