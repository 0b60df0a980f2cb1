// Vector dot products of one weight row with a few activation rows, per weight type, in
// two sibling backends (portable scalar, AVX2/FMA/F16C) chosen once at run time.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/ggml_type.h"

namespace entropix {

// Most activation rows one dot call handles: each weight block is decoded once and used
// for all of them, which is what makes batched matmul compute-bound.
inline constexpr int kMaxDotTile = 4;

// out[j] = sum_i W[i] * X_j[i] for j < n_x (1..kMaxDotTile), n elements.
// w: one weight row in its storage type; X_j starts at x + j * x_stride bytes, in the
// activation format of the weight type (see activation_type).
using DotFn = void (*)(int64_t n, const void* w, const void* x, size_t x_stride, int n_x,
                       float* out);

// Converts n floats to one activation row of activation_row_bytes; every backend produces
// the same bytes, its blocks those of quantize_row (tests check), so results do not depend
// on the backend's quantizer.
using QuantizeFn = void (*)(const float* x, void* dst, int64_t n);

// out[j * 8 + r] = sum_i W_r[i] * X_j[i] for the 8 rows r of one packed group
// (BlockQ8_0x8 blocks, kernels/repack.h) and j < n_x; Q8_0 activations as for DotFn.
// Each row's result is the same whatever n_x is.
using PackedDotFn = void (*)(int64_t n, const void* group, const void* x, size_t x_stride, int n_x,
                             float* out);

struct DotBackend {
  const char* name;  // "scalar", "avx2"
  DotFn f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k;
  QuantizeFn quantize_q8_0, quantize_q8_k;  // activations
  PackedDotFn q8_0x8;  // null where packing does not pay (the scalar backend)
};

const DotBackend& scalar_dot_backend();
// nullptr when not built for x86-64 or the CPU lacks AVX2, FMA or F16C.
const DotBackend* avx2_dot_backend();
// The backend used by matmul: AVX2 when available unless ENTROPIX_KERNELS=scalar. Chosen once.
const DotBackend& dot_backend();
const char* kernel_backend_name();

// The kernel of a weight type; throws Error naming the type when none exists.
DotFn dot_kernel(const DotBackend& backend, GgmlType weight_type);

// The format activations are converted to for a weight type: F32 for the float types,
// Q8_0 for Q8_0/Q4_0, Q8_K for the K-quants.
GgmlType activation_type(GgmlType weight_type);
// Bytes of one activation row of n elements, a multiple of 4. A Q8_0 row is its blocks
// followed by the same scales again as floats ([n/32], see q8_0_act_scales_offset): the
// AVX2 kernels multiply them by the weight scales 8 blocks at a time instead of converting
// two fp16 per block and row (batched decoding is compute-bound there). The scalar
// kernels read only the blocks.
size_t activation_row_bytes(GgmlType weight_type, int64_t n);
// The backend's quantizer for that format; nullptr for float activations.
QuantizeFn activation_quantizer(const DotBackend& backend, GgmlType weight_type);

}  // namespace entropix
