// Bit-exact GGML block layouts of the quantized types we compute with, and the
// activation block Q8_K. Layouts follow GGUF files written by llama.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace entropix {

inline constexpr int kQK8_0 = 32;  // elements per Q8_0 / Q4_0 block
inline constexpr int kQK_K = 256;  // elements per K-quant super-block

// x[i] = d * qs[i]
struct BlockQ8_0 {
  uint16_t d;         // fp16 scale
  int8_t qs[kQK8_0];  // [32]
};

// x[i] = d * ((qs[i] & 15) - 8), x[i + 16] = d * ((qs[i] >> 4) - 8)
struct BlockQ4_0 {
  uint16_t d;             // fp16 scale
  uint8_t qs[kQK8_0 / 2];  // [16] two 4-bit values per byte
};

// 8 sub-blocks of 32; sub-block j: x = d * sc[j] * q - dmin * m[j], q in 0..15, with
// 6-bit sc/m packed in scales (see k4_scale_min). Bytes qs[32c + l] hold element
// 64c + l (low nibble) and 64c + 32 + l (high nibble).
struct BlockQ4_K {
  uint16_t d;            // fp16 super-scale of the sub-block scales
  uint16_t dmin;         // fp16 super-scale of the sub-block mins
  uint8_t scales[12];    // 8 x (6-bit scale, 6-bit min)
  uint8_t qs[kQK_K / 2];  // [128] 4-bit quants
};

// As Q4_K with a fifth bit per quant: bit (2c) of qh[l] is the high bit of element 64c + l,
// bit (2c + 1) that of element 64c + 32 + l; q in 0..31.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];  // [32] high bits
  uint8_t qs[kQK_K / 2];  // [128] low 4 bits
};

// 16 groups of 16 with int8 scales; x = d * scales[g] * (q - 32), q in 0..63. Within each
// half of 128 (ql += 64, qh += 32), for l < 32: element l is ql[l] low | qh[l] bits 0-1,
// l + 32 is ql[l + 32] low | bits 2-3, l + 64 is ql[l] high | bits 4-5, l + 96 is
// ql[l + 32] high | bits 6-7.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // [128] low 4 bits
  uint8_t qh[kQK_K / 4];      // [64] high 2 bits
  int8_t scales[kQK_K / 16];  // [16] group scales
  uint16_t d;                 // fp16 super-scale
};

// Activations for the K-quant dot products: x = d * qs, with the sums of each 16 quants.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];            // [256]
  int16_t bsums[kQK_K / 16];  // [16] sum of qs over each group of 16
};

static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// A Q8_0 activation row (see activation_row_bytes in dot.h) holds its n/32 blocks, then
// the same scales as floats from this byte offset, rounded up so the floats are aligned.
inline size_t q8_0_act_scales_offset(int64_t n) {
  return (static_cast<size_t>(n / kQK8_0) * sizeof(BlockQ8_0) + alignof(float) - 1) & ~(alignof(float) - 1);
}
// ... and -128 times each block's quant sum as int32 from this offset.
inline size_t q8_0_act_bias_offset(int64_t n) {
  return q8_0_act_scales_offset(n) + static_cast<size_t>(n / kQK8_0) * sizeof(float);
}

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block: j < 4 in the low 6
// bits of bytes j and j + 4; j >= 4 in the nibbles of byte j + 4 with the top 2 bits in
// the spare high bits of bytes j - 4 (scale) and j (min).
inline void k4_scale_min(int j, const uint8_t* q, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = q[j] & 63;
    min = q[j + 4] & 63;
  } else {
    scale = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace entropix
