#include "kernels/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/quant_formats.h"

namespace entropix {

namespace {

void check_row(GgmlType type, int64_t n, int64_t block) {
  if (n < 0 || n % block != 0) {
    throw Error("row of " + std::to_string(n) + " elements is not a multiple of the " +
                std::string(ggml_type_name(type)) + " block size " + std::to_string(block));
  }
}

[[noreturn]] void unsupported(GgmlType type, const char* what) {
  throw Error(std::string(what) + ": tensor type " + std::string(ggml_type_name(type)) + " (" +
              std::to_string(static_cast<uint32_t>(type)) + ") is not supported");
}

}  // namespace

void dequantize_row_q8_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int l = 0; l < kQK8_0; ++l) dst[i * kQK8_0 + l] = d * b[i].qs[l];
  }
}

void dequantize_row_q4_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float d = fp16_to_f32(b[i].d);
    float* y = dst + i * kQK8_0;
    for (int l = 0; l < kQK8_0 / 2; ++l) {
      y[l] = d * ((b[i].qs[l] & 0xF) - 8);
      y[l + 16] = d * ((b[i].qs[l] >> 4) - 8);
    }
  }
}

void dequantize_row_q8_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    for (int l = 0; l < kQK_K; ++l) dst[i * kQK_K + l] = b[i].d * b[i].qs[l];
  }
}

// The scale is rounded to fp16 first and the quants computed with it, so every element is
// within d/2 of its value (what the dot-product error bounds rely on).
void quantize_row_q8_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float* x = src + i * kQK8_0;
    float amax = 0.0f;
    for (int l = 0; l < kQK8_0; ++l) amax = std::max(amax, std::fabs(x[l]));
    b[i].d = f32_to_fp16(amax / 127.0f);
    const float d = fp16_to_f32(b[i].d);
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    for (int l = 0; l < kQK8_0; ++l) {
      b[i].qs[l] = static_cast<int8_t>(std::clamp(std::nearbyint(x[l] * id), -127.0f, 127.0f));
    }
  }
}

// Scale from the value of largest magnitude, which maps to -8 (the asymmetric end), as
// GGML does; the other quants round to nearest.
void quantize_row_q4_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float* x = src + i * kQK8_0;
    float amax = 0.0f, max = 0.0f;
    for (int l = 0; l < kQK8_0; ++l) {
      if (std::fabs(x[l]) > amax) {
        amax = std::fabs(x[l]);
        max = x[l];
      }
    }
    b[i].d = f32_to_fp16(max / -8.0f);
    const float d = fp16_to_f32(b[i].d);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int l = 0; l < kQK8_0 / 2; ++l) {
      const int q0 = static_cast<int>(std::clamp(std::nearbyint(x[l] * id) + 8.0f, 0.0f, 15.0f));
      const int q1 =
          static_cast<int>(std::clamp(std::nearbyint(x[l + 16] * id) + 8.0f, 0.0f, 15.0f));
      b[i].qs[l] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void quantize_row_q8_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    float amax = 0.0f;
    for (int l = 0; l < kQK_K; ++l) amax = std::max(amax, std::fabs(x[l]));
    const float d = amax / 127.0f;
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    b[i].d = d;
    for (int l = 0; l < kQK_K; ++l) {
      b[i].qs[l] = static_cast<int8_t>(std::clamp(std::nearbyint(x[l] * id), -127.0f, 127.0f));
    }
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += b[i].qs[g * 16 + l];
      b[i].bsums[g] = static_cast<int16_t>(sum);
    }
  }
}

void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case GgmlType::F32:
      check_row(type, n, 1);
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::F16: {
      check_row(type, n, 1);
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(h[i]);
      return;
    }
    case GgmlType::BF16: {
      check_row(type, n, 1);
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
      return;
    }
    case GgmlType::Q8_0: check_row(type, n, kQK8_0); return dequantize_row_q8_0(src, dst, n);
    case GgmlType::Q4_0: check_row(type, n, kQK8_0); return dequantize_row_q4_0(src, dst, n);
    case GgmlType::Q4_K: check_row(type, n, kQK_K); return dequantize_row_q4_k(src, dst, n);
    case GgmlType::Q5_K: check_row(type, n, kQK_K); return dequantize_row_q5_k(src, dst, n);
    case GgmlType::Q6_K: check_row(type, n, kQK_K); return dequantize_row_q6_k(src, dst, n);
    case GgmlType::Q8_K: check_row(type, n, kQK_K); return dequantize_row_q8_k(src, dst, n);
    default: unsupported(type, "dequantize_row");
  }
}

void quantize_row(GgmlType type, const float* src, void* dst, int64_t n) {
  switch (type) {
    case GgmlType::F32:
      check_row(type, n, 1);
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::F16: {
      check_row(type, n, 1);
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = f32_to_fp16(src[i]);
      return;
    }
    case GgmlType::BF16: {
      check_row(type, n, 1);
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
      return;
    }
    case GgmlType::Q8_0: check_row(type, n, kQK8_0); return quantize_row_q8_0(src, dst, n);
    case GgmlType::Q4_0: check_row(type, n, kQK8_0); return quantize_row_q4_0(src, dst, n);
    case GgmlType::Q4_K: check_row(type, n, kQK_K); return quantize_row_q4_k(src, dst, n);
    case GgmlType::Q5_K: check_row(type, n, kQK_K); return quantize_row_q5_k(src, dst, n);
    case GgmlType::Q6_K: check_row(type, n, kQK_K); return quantize_row_q6_k(src, dst, n);
    case GgmlType::Q8_K: check_row(type, n, kQK_K); return quantize_row_q8_k(src, dst, n);
    default: unsupported(type, "quantize_row");
  }
}

}  // namespace entropix
