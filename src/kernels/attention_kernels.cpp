#include "kernels/attention_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/dot.h"

namespace entropix {

namespace {

float dot_f32(const float* a, const float* b, int64_t n) {
  // Eight partial sums let the compiler vectorise without -ffast-math.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  }
  float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// y[i] += a * x[i]
void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void scores_scalar(const float* q, int32_t n_q, const float* k, size_t k_stride, int32_t n_rows, int32_t hd, float scale,
                   float* scores, size_t stride) {
  for (int32_t i = 0; i < n_rows; ++i)
    for (int32_t g = 0; g < n_q; ++g)
      scores[size_t(g) * stride + size_t(i)] = dot_f32(q + size_t(g) * size_t(hd), k + size_t(i) * k_stride, hd) * scale;
}

void values_scalar(const float* p, size_t stride, int32_t n_q, const float* v, size_t v_stride, int32_t n_rows,
                   int32_t hd, float* out) {
  for (int32_t i = 0; i < n_rows; ++i)
    for (int32_t g = 0; g < n_q; ++g) axpy(p[size_t(g) * stride + size_t(i)], v + size_t(i) * v_stride, out + size_t(g) * size_t(hd), hd);
}

void softmax_scalar(float* x, int32_t n) {
  float max = x[0];
  for (int32_t i = 1; i < n; ++i) max = std::max(max, x[i]);
  float sum = 0.0f;
  for (int32_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int32_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace

#if defined(ENTROPIX_HAVE_AVX2_BUILD)
const AttentionKernels& avx2_attention_kernels_table();  // attention_kernels_avx2.cpp
#endif

const AttentionKernels& scalar_attention_kernels() {
  static const AttentionKernels k{"scalar", scores_scalar, values_scalar, softmax_scalar};
  return k;
}

const AttentionKernels* avx2_attention_kernels() {
#if defined(ENTROPIX_HAVE_AVX2_BUILD)
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return supported ? &avx2_attention_kernels_table() : nullptr;
#else
  return nullptr;
#endif
}

const AttentionKernels& attention_kernels() {
  static const AttentionKernels& chosen = [&]() -> const AttentionKernels& {
    const AttentionKernels* avx2 = avx2_attention_kernels();
    return avx2 && std::strcmp(dot_backend().name, "scalar") != 0 ? *avx2 : scalar_attention_kernels();
  }();
  return chosen;
}

}  // namespace entropix
