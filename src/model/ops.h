// Element-wise and per-row operations of the transformer forward pass, on float rows.
#pragma once

#include <cstdint>

namespace entropix {

// out[i] = x[i] / rms(x) * weight[i]
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);
// x[i] += y[i]
void add_inplace(float* x, const float* y, int64_t n);
// gate[i] = silu(gate[i]) * up[i] (kernels/activation_kernels.h)
void swiglu_inplace(float* gate, const float* up, int64_t n);
// gate[i] = gelu(gate[i]) * up[i], GELU in its tanh approximation
void geglu_tanh_inplace(float* gate, const float* up, int64_t n);
// x[i] = cap * tanh(x[i] / cap): Gemma 2's soft-capping of scores and logits
void soft_cap_inplace(float* x, int64_t n, float cap);

// Rotates the first n_rot dimensions of one head by the angles whose cos/sin are
// given ([n_rot/2] each). Interleaved pairs (2i, 2i+1) or half-split (i, i + n_rot/2).
void rope_interleaved(float* head, const float* cos, const float* sin, int32_t n_rot);
void rope_half_split(float* head, const float* cos, const float* sin, int32_t n_rot);

}  // namespace entropix
