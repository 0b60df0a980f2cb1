// Conversion of tensor rows between float and the GGML storage types we support
// (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, plus the activation type Q8_K).
#pragma once

#include <cstdint>

#include "core/ggml_type.h"

namespace entropix {

// dst[0..n) = the values of the row at src; n a multiple of the type's block size.
// Throws Error naming the type when it is not supported.
void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);

// Reference quantizer (scale search for the K-quants), used to build test models and for
// activations; not meant for the per-token path except Q8_0/Q8_K activations.
void quantize_row(GgmlType type, const float* src, void* dst, int64_t n);

}  // namespace entropix
