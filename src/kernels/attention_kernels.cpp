#include "kernels/attention_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/dot.h"
#include "kernels/fp16.h"

namespace entropix {

namespace {

inline float to_float(float x) { return x; }
inline float to_float(uint16_t h) { return fp16_to_f32(h); }

// y[i] += a * x[i]
template <typename T>
void axpy(float a, const T* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * to_float(x[i]);
}

// One element of every key at a time: the 16 sums side by side (the compiler vectorises
// them without -ffast-math, as each is its own chain).
template <typename T>
void scores_scalar(const float* q, int32_t n_q, const T* kt, int32_t hd, float scale, float* scores, size_t stride) {
  for (int32_t g = 0; g < n_q; ++g) {
    float acc[kKeyPageRows] = {};
    const float* qg = q + size_t(g) * size_t(hd);
    for (int32_t d = 0; d < hd; ++d) {
      for (int32_t i = 0; i < kKeyPageRows; ++i) acc[i] += qg[d] * to_float(kt[size_t(d) * kKeyPageRows + size_t(i)]);
    }
    for (int32_t i = 0; i < kKeyPageRows; ++i) scores[size_t(g) * stride + size_t(i)] = acc[i] * scale;
  }
}

template <typename T>
void values_scalar(const float* p, size_t stride, int32_t n_q, const T* v, size_t v_stride, int32_t n_rows, int32_t hd,
                   float* out) {
  for (int32_t i = 0; i < n_rows; ++i)
    for (int32_t g = 0; g < n_q; ++g) axpy(p[size_t(g) * stride + size_t(i)], v + size_t(i) * v_stride, out + size_t(g) * size_t(hd), hd);
}

void scores_q8_scalar(const float* q, int32_t n_q, const int8_t* kt, const uint16_t* ks, int32_t hd, float scale,
                      float* scores, size_t stride) {
  for (int32_t g = 0; g < n_q; ++g) {
    float acc[kKeyPageRows] = {};
    const float* qg = q + size_t(g) * size_t(hd);
    for (int32_t b = 0; b < hd / kQK8_0; ++b) {
      float block[kKeyPageRows] = {};
      for (int32_t d = b * kQK8_0; d < (b + 1) * kQK8_0; ++d) {
        for (int32_t i = 0; i < kKeyPageRows; ++i) block[i] += qg[d] * float(kt[size_t(d) * kKeyPageRows + size_t(i)]);
      }
      for (int32_t i = 0; i < kKeyPageRows; ++i) acc[i] += block[i] * fp16_to_f32(ks[size_t(b) * kKeyPageRows + size_t(i)]);
    }
    for (int32_t i = 0; i < kKeyPageRows; ++i) scores[size_t(g) * stride + size_t(i)] = acc[i] * scale;
  }
}

void values_q8_scalar(const float* p, size_t stride, int32_t n_q, const uint8_t* v, size_t v_stride, int32_t n_rows,
                      int32_t hd, float* out) {
  for (int32_t i = 0; i < n_rows; ++i) {
    const auto* blocks = reinterpret_cast<const BlockQ8_0*>(v + size_t(i) * v_stride);
    for (int32_t g = 0; g < n_q; ++g) {
      const float a = p[size_t(g) * stride + size_t(i)];
      float* o = out + size_t(g) * size_t(hd);
      for (int32_t b = 0; b < hd / kQK8_0; ++b) {
        const float d = fp16_to_f32(blocks[b].d);
        for (int32_t l = 0; l < kQK8_0; ++l) o[b * kQK8_0 + l] += a * (float(blocks[b].qs[l]) * d);
      }
    }
  }
}

float exponentiate_scalar(float* x, int32_t n, float* max_out) {
  float max = x[0];
  for (int32_t i = 1; i < n; ++i) max = std::max(max, x[i]);
  float sum = 0.0f;
  for (int32_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  *max_out = max;
  return sum;
}

}  // namespace

#if defined(ENTROPIX_HAVE_AVX2_BUILD)
const AttentionKernels& avx2_attention_kernels_table();    // attention_kernels_avx2.cpp
const AttentionKernels& avx512_attention_kernels_table();  // attention_kernels_avx512.cpp
#endif

const AttentionKernels& scalar_attention_kernels() {
  static const AttentionKernels k{"scalar",
                                  scores_scalar<float>,
                                  values_scalar<float>,
                                  scores_scalar<uint16_t>,
                                  values_scalar<uint16_t>,
                                  scores_page_by_page<float, scores_scalar<float>>,
                                  values_page_by_page<float, values_scalar<float>>,
                                  scores_page_by_page<uint16_t, scores_scalar<uint16_t>>,
                                  values_page_by_page<uint16_t, values_scalar<uint16_t>>,
                                  scores_q8_scalar,
                                  values_q8_scalar,
                                  exponentiate_scalar};
  return k;
}

const AttentionKernels* avx2_attention_kernels() {
#if defined(ENTROPIX_HAVE_AVX2_BUILD)
  static const bool supported =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return supported ? &avx2_attention_kernels_table() : nullptr;
#else
  return nullptr;
#endif
}

const AttentionKernels* avx512_attention_kernels() {
#if defined(ENTROPIX_HAVE_AVX2_BUILD)
  static const bool supported = avx2_attention_kernels() && __builtin_cpu_supports("avx512f");
  return supported ? &avx512_attention_kernels_table() : nullptr;
#else
  return nullptr;
#endif
}

const AttentionKernels& attention_kernels() {
  static const AttentionKernels& chosen = [&]() -> const AttentionKernels& {
    const char* dots = dot_backend().name;
    const AttentionKernels* avx2 = avx2_attention_kernels();
    const AttentionKernels* avx512 = avx512_attention_kernels();
    if (avx512 && std::strcmp(dots, "avx512") == 0) return *avx512;
    if (avx2 && std::strcmp(dots, "scalar") != 0) return *avx2;
    return scalar_attention_kernels();
  }();
  return chosen;
}

}  // namespace entropix
