#include "model/ops.h"

#include <algorithm>
#include <cmath>

#include "kernels/activation_kernels.h"

namespace entropix {

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += double(x[i]) * x[i];
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum / double(n)) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void add_inplace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void swiglu_inplace(float* gate, const float* up, int64_t n) { activation_kernels().swiglu(gate, up, n); }

void geglu_tanh_inplace(float* gate, const float* up, int64_t n) { activation_kernels().geglu_tanh(gate, up, n); }

void soft_cap_inplace(float* x, int64_t n, float cap) {
  const float inv = 1.0f / cap;
  for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] * inv);
}

void rope_interleaved(float* head, const float* cos, const float* sin, int32_t n_rot) {
  for (int32_t i = 0; i < n_rot / 2; ++i) {
    float x0 = head[2 * i], x1 = head[2 * i + 1];
    head[2 * i] = x0 * cos[i] - x1 * sin[i];
    head[2 * i + 1] = x0 * sin[i] + x1 * cos[i];
  }
}

void rope_half_split(float* head, const float* cos, const float* sin, int32_t n_rot) {
  const int32_t half = n_rot / 2;
  for (int32_t i = 0; i < half; ++i) {
    float x0 = head[i], x1 = head[i + half];
    head[i] = x0 * cos[i] - x1 * sin[i];
    head[i + half] = x0 * sin[i] + x1 * cos[i];
  }
}

}  // namespace entropix
