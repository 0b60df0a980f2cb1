// Element-wise and per-row operations of the transformer forward pass, on float rows.
#pragma once

#include <cstdint>

namespace entropix {

// out[i] = x[i] / rms(x) * weight[i]
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);
// x[i] += y[i]
void add_inplace(float* x, const float* y, int64_t n);
// gate[i] = silu(gate[i]) * up[i]
void swiglu_inplace(float* gate, const float* up, int64_t n);

// Rotates the first n_rot dimensions of one head by the angles whose cos/sin are
// given ([n_rot/2] each). Interleaved pairs (2i, 2i+1) or half-split (i, i + n_rot/2).
void rope_interleaved(float* head, const float* cos, const float* sin, int32_t n_rot);
void rope_half_split(float* head, const float* cos, const float* sin, int32_t n_rot);

}  // namespace entropix
