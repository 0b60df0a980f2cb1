// Portable dot kernels: the reference the AVX2 kernels are tested against. Integer sums
// per block, one float multiply-add per block, as the fast paths do.
#include "kernels/blocks.h"
#include "kernels/dot.h"
#include "kernels/fp16.h"
#include "kernels/quant_formats.h"

namespace entropix {

namespace {

// out[j] = row_dot(X_j) for each activation row.
template <typename Act, typename F>
void for_each_x(const void* x, size_t x_stride, int n_x, float* out, F&& row_dot) {
  for (int j = 0; j < n_x; ++j) {
    out[j] = row_dot(reinterpret_cast<const Act*>(static_cast<const uint8_t*>(x) + j * x_stride));
  }
}

template <float (*Convert)(uint16_t)>
void dot_half(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) {
  const auto* wh = static_cast<const uint16_t*>(w);
  for_each_x<float>(x, x_stride, n_x, out, [&](const float* xf) {
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += Convert(wh[i]) * xf[i];
    return sum;
  });
}

void dot_f32(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) {
  const auto* wf = static_cast<const float*>(w);
  for_each_x<float>(x, x_stride, n_x, out, [&](const float* xf) {
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += wf[i] * xf[i];
    return sum;
  });
}

void dot_q8_0(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) {
  const auto* wb = static_cast<const BlockQ8_0*>(w);
  for_each_x<BlockQ8_0>(x, x_stride, n_x, out, [&](const BlockQ8_0* xb) {
    float sum = 0;
    for (int64_t b = 0; b < n / kQK8_0; ++b) {
      int s = 0;
      for (int l = 0; l < kQK8_0; ++l) s += wb[b].qs[l] * xb[b].qs[l];
      sum += fp16_to_f32(wb[b].d) * fp16_to_f32(xb[b].d) * static_cast<float>(s);
    }
    return sum;
  });
}

void dot_q4_0(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) {
  const auto* wb = static_cast<const BlockQ4_0*>(w);
  for_each_x<BlockQ8_0>(x, x_stride, n_x, out, [&](const BlockQ8_0* xb) {
    float sum = 0;
    for (int64_t b = 0; b < n / kQK8_0; ++b) {
      int s = 0;
      for (int l = 0; l < kQK8_0 / 2; ++l) {
        s += ((wb[b].qs[l] & 0xF) - 8) * xb[b].qs[l];
        s += ((wb[b].qs[l] >> 4) - 8) * xb[b].qs[l + 16];
      }
      sum += fp16_to_f32(wb[b].d) * fp16_to_f32(xb[b].d) * static_cast<float>(s);
    }
    return sum;
  });
}

// Q4_K and Q5_K: sum_j sc[j] * <q_j, y_j> * d - sum_j m[j] * <1, y_j> * dmin, using the
// activation group sums for the second term.
template <bool kFive>
float dot_q45_k_block(const uint16_t d16, const uint16_t dmin16, const uint8_t* scales,
                      const uint8_t* qh, const uint8_t* qs, const BlockQ8_K& y) {
  int sumi = 0, summ = 0;
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    k4_scale_min(j, scales, sc, m);
    const int c = j / 2, shift = (j & 1) * 4;
    int s = 0;
    for (int l = 0; l < 32; ++l) {
      int q = (qs[32 * c + l] >> shift) & 0xF;
      if constexpr (kFive) q |= ((qh[l] >> j) & 1) << 4;
      s += q * y.qs[32 * j + l];
    }
    sumi += sc * s;
    summ += m * (y.bsums[2 * j] + y.bsums[2 * j + 1]);
  }
  return y.d * (fp16_to_f32(d16) * static_cast<float>(sumi) - fp16_to_f32(dmin16) * static_cast<float>(summ));
}

void dot_q4_k(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) {
  const auto* wb = static_cast<const BlockQ4_K*>(w);
  for_each_x<BlockQ8_K>(x, x_stride, n_x, out, [&](const BlockQ8_K* xb) {
    float sum = 0;
    for (int64_t b = 0; b < n / kQK_K; ++b) {
      sum += dot_q45_k_block<false>(wb[b].d, wb[b].dmin, wb[b].scales, nullptr, wb[b].qs, xb[b]);
    }
    return sum;
  });
}

void dot_q5_k(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) {
  const auto* wb = static_cast<const BlockQ5_K*>(w);
  for_each_x<BlockQ8_K>(x, x_stride, n_x, out, [&](const BlockQ8_K* xb) {
    float sum = 0;
    for (int64_t b = 0; b < n / kQK_K; ++b) {
      sum += dot_q45_k_block<true>(wb[b].d, wb[b].dmin, wb[b].scales, wb[b].qh, wb[b].qs, xb[b]);
    }
    return sum;
  });
}

void dot_q6_k(int64_t n, const void* w, const void* x, size_t x_stride, int n_x, float* out) {
  const auto* wb = static_cast<const BlockQ6_K*>(w);
  for_each_x<BlockQ8_K>(x, x_stride, n_x, out, [&](const BlockQ8_K* xb) {
    float sum = 0;
    for (int64_t b = 0; b < n / kQK_K; ++b) {
      const BlockQ6_K& q = wb[b];
      const BlockQ8_K& y = xb[b];
      int sumi = 0;
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = q.ql + 64 * h;
        const uint8_t* qh = q.qh + 32 * h;
        const int8_t* yq = y.qs + 128 * h;
        int s[8] = {};  // per group of 16 within this half
        for (int l = 0; l < 32; ++l) {
          const int g = l / 16;
          s[g] += (((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32) * yq[l];
          s[g + 2] += (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * yq[l + 32];
          s[g + 4] += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * yq[l + 64];
          s[g + 6] += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * yq[l + 96];
        }
        for (int g = 0; g < 8; ++g) sumi += q.scales[8 * h + g] * s[g];
      }
      sum += fp16_to_f32(q.d) * y.d * static_cast<float>(sumi);
    }
    return sum;
  });
}

// quantize_row's blocks, then their scales again as floats and -128 times their sums
// (see activation_row_bytes).
void quantize_q8_0(const float* x, void* dst, int64_t n) {
  quantize_row_q8_0(x, dst, n);
  const auto* blocks = static_cast<const BlockQ8_0*>(dst);
  auto* scales = reinterpret_cast<float*>(static_cast<uint8_t*>(dst) + q8_0_act_scales_offset(n));
  auto* bias = reinterpret_cast<int32_t*>(static_cast<uint8_t*>(dst) + q8_0_act_bias_offset(n));
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    scales[b] = fp16_to_f32(blocks[b].d);
    int32_t sum = 0;
    for (int8_t q : blocks[b].qs) sum += q;
    bias[b] = -128 * sum;
  }
}

}  // namespace

const DotBackend& scalar_dot_backend() {
  static const DotBackend backend{"scalar",
                                  dot_f32,
                                  dot_half<fp16_to_f32>,
                                  dot_half<bf16_to_f32>,
                                  dot_q8_0,
                                  dot_q4_0,
                                  dot_q4_k,
                                  dot_q5_k,
                                  dot_q6_k,
                                  quantize_q8_0,
                                  quantize_row_q8_k,
                                  nullptr,
                                  nullptr,
                                  nullptr,
                                  nullptr,
                                  nullptr};
  return backend;
}

}  // namespace entropix
