// The inner loops of attention over a block of cached keys and values (one KV page),
// for the query heads that share one KV head (grouped-query attention reads each key
// and value row once for all of them). Two siblings, portable scalar and AVX2/FMA,
// chosen with the dot products' backend (ENTROPIX_KERNELS=scalar forces the first).
#pragma once

#include <cstddef>
#include <cstdint>

namespace entropix {

struct AttentionKernels {
  const char* name;
  // scores[g * stride + i] = scale * (q_g . k_i) for g < n_q, i < n_rows, where
  // q_g = q + g * hd and k_i = k + i * k_stride (floats).
  void (*scores)(const float* q, int32_t n_q, const float* k, size_t k_stride, int32_t n_rows, int32_t hd, float scale,
                 float* scores, size_t stride);
  // out_g += sum_i p[g * stride + i] * v_i for g < n_q, with out_g = out + g * hd and
  // v_i = v + i * v_stride (floats), rows added in order.
  void (*values)(const float* p, size_t stride, int32_t n_q, const float* v, size_t v_stride, int32_t n_rows,
                 int32_t hd, float* out);
  // x[0..n) (n >= 1) becomes its softmax, in place.
  void (*softmax)(float* x, int32_t n);
};

const AttentionKernels& scalar_attention_kernels();
// nullptr when not built for x86-64 or the CPU lacks AVX2 and FMA.
const AttentionKernels* avx2_attention_kernels();
// AVX2 when the dot products use it, else scalar. Chosen once.
const AttentionKernels& attention_kernels();

}  // namespace entropix
