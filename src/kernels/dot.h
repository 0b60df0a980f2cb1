// Vector dot products of one weight row with a few activation rows, per weight type, in
// sibling backends (portable scalar, AVX2/FMA/F16C, AVX-512 with VNNI) chosen once at run
// time, and each backend's batched kernels for weights repacked at load (kernels/repack.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

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

// out[j * rows + r] = sum_i W_r[i] * X_j[i] for the rows r of one packed group (see
// PackedLayout in kernels/repack.h) and j < n_x; activations as for DotFn. Each row's
// result is the same whatever n_x is.
using PackedDotFn = void (*)(int64_t n, const void* group, const void* x, size_t x_stride, int n_x,
                             float* out);

struct PackedLayout;

struct DotBackend {
  const char* name;  // "scalar", "avx2", "avxvnni", "avx512"
  DotFn f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k;
  QuantizeFn quantize_q8_0, quantize_q8_k;  // activations
  // Repacked layouts with their batched kernels; null where packing does not pay.
  const PackedLayout* packed_q8_0;
  const PackedLayout* packed_q4_0;
  const PackedLayout* packed_q4_k;
  const PackedLayout* packed_q5_k;
  const PackedLayout* packed_q6_k;
};

const DotBackend& scalar_dot_backend();
// nullptr when not built for x86-64 or the CPU lacks AVX2, FMA or F16C.
const DotBackend* avx2_dot_backend();
// nullptr unless the CPU also has AVX-512 F/BW/VL and VNNI.
const DotBackend* avx512_dot_backend();
// nullptr unless the CPU also has AVX-VNNI (the 256-bit VNNI of CPUs without AVX-512).
const DotBackend* avxvnni_dot_backend();
// The backend used by matmul, chosen once: the widest the CPU has, or the one
// ENTROPIX_KERNELS names (scalar, avx2, avxvnni, avx512); naming one the CPU lacks, or an unknown
// name, is an Error.
const DotBackend& dot_backend();
// The backend ENTROPIX_KERNELS (or its absence) chooses; throws Error as dot_backend does.
const DotBackend& choose_dot_backend(const char* env);
const char* kernel_backend_name();
// The backend's name and its packed layouts, e.g. "avx512 (packed q8_0x32 q4_0x16 q4_kx32 q5_kx16 q6_kx16)".
std::string kernel_path_description();

// The kernel of a weight type; throws Error naming the type when none exists.
DotFn dot_kernel(const DotBackend& backend, GgmlType weight_type);

// The format activations are converted to for a weight type: F32 for the float types,
// Q8_0 for Q8_0/Q4_0, Q8_K for the K-quants.
GgmlType activation_type(GgmlType weight_type);
// Bytes of one activation row of n elements, a multiple of 4. A Q8_0 row is its blocks
// followed by the same scales again as floats ([n/32], see q8_0_act_scales_offset): the
// AVX2 kernels multiply them by the weight scales 8 blocks at a time instead of converting
// two fp16 per block and row (batched decoding is compute-bound there); then -128 times
// each block's quant sum as int32 ([n/32], q8_0_act_bias_offset), where the AVX-512
// kernel starts each block's sum (its weights are stored plus 128). The scalar kernels
// read only the blocks.
size_t activation_row_bytes(GgmlType weight_type, int64_t n);
// The backend's quantizer for that format; nullptr for float activations.
QuantizeFn activation_quantizer(const DotBackend& backend, GgmlType weight_type);

}  // namespace entropix
