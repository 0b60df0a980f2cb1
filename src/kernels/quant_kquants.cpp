// K-quant formats (Q4_K, Q5_K, Q6_K): dequantization and a reference quantizer that
// searches each sub-block's scale (and min) by weighted least squares.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/quant_formats.h"

namespace entropix {

namespace {

int round_clamp(float v, int lo, int hi) {
  return std::clamp(static_cast<int>(std::nearbyint(v)), lo, hi);
}

// Fits x[l] ~ scale * q[l] - min, q in 0..nmax, min >= 0, minimizing sum w (error)^2.
// Tries a range of grid spacings around (max - min) / nmax; for each, rounds the quants
// and solves the 2x2 least-squares system for scale and min. Returns scale; min by ref.
float fit_scale_min(const float* x, const float* w, int n, int nmax, uint8_t* q, float& min_out) {
  float lo = x[0], hi = x[0];
  for (int l = 1; l < n; ++l) {
    lo = std::min(lo, x[l]);
    hi = std::max(hi, x[l]);
  }
  lo = std::min(lo, 0.0f);  // the format subtracts a non-negative min
  if (hi <= lo) {
    std::memset(q, 0, static_cast<size_t>(n));
    min_out = -lo;
    return 0.0f;
  }
  float best_scale = (hi - lo) / nmax, best_min = lo, best_err = INFINITY;
  uint8_t trial[32];
  for (int step = -10; step <= 10; ++step) {
    const float iscale = (nmax + 0.1f * step) / (hi - lo);
    float sw = 0, sl = 0, sl2 = 0, sx = 0, sxl = 0;
    for (int l = 0; l < n; ++l) {
      trial[l] = static_cast<uint8_t>(round_clamp(iscale * (x[l] - lo), 0, nmax));
      sw += w[l];
      sl += w[l] * trial[l];
      sl2 += w[l] * trial[l] * trial[l];
      sx += w[l] * x[l];
      sxl += w[l] * x[l] * trial[l];
    }
    const float det = sw * sl2 - sl * sl;
    if (det <= 0) continue;
    float scale = (sw * sxl - sx * sl) / det;
    float offset = (sl2 * sx - sl * sxl) / det;  // the fitted x at q = 0
    if (offset > 0) {  // min must not be negative: refit the scale with offset 0
      offset = 0;
      scale = sxl / sl2;
    }
    float err = 0;
    for (int l = 0; l < n; ++l) {
      const float e = scale * trial[l] + offset - x[l];
      err += w[l] * e * e;
    }
    if (err < best_err) {
      best_err = err;
      best_scale = scale;
      best_min = offset;
      std::memcpy(q, trial, static_cast<size_t>(n));
    }
  }
  if (best_err == INFINITY) {
    for (int l = 0; l < n; ++l) q[l] = static_cast<uint8_t>(round_clamp((x[l] - lo) / best_scale, 0, nmax));
  }
  min_out = -best_min;
  return best_scale;
}

// Fits x[l] ~ scale * q[l], q in -nmax..nmax-1, by trying grid spacings near max|x| / nmax
// and keeping the one whose least-squares scale explains the most weighted energy.
float fit_scale_symmetric(const float* x, const float* w, int n, int nmax) {
  float amax = 0, max = 0;
  for (int l = 0; l < n; ++l) {
    if (std::fabs(x[l]) > amax) {
      amax = std::fabs(x[l]);
      max = x[l];
    }
  }
  if (amax < 1e-30f) return 0.0f;
  float best_scale = max / -nmax, best = -1;
  for (int step = -9; step <= 9; ++step) {
    const float iscale = -(nmax + 0.1f * step) / max;
    float slx = 0, sl2 = 0;
    for (int l = 0; l < n; ++l) {
      const int q = round_clamp(iscale * x[l], -nmax, nmax - 1);
      slx += w[l] * x[l] * q;
      sl2 += w[l] * q * q;
    }
    if (sl2 > 0 && slx * slx / sl2 > best) {
      best = slx * slx / sl2;
      best_scale = slx / sl2;
    }
  }
  return best_scale;
}

// Shared by Q4_K and Q5_K: sub-block scales/mins fitted, then quantized to 6 bits
// against the super-block maxima; the quants are recomputed with the stored scales.
void quantize_k_superblock(const float* x, int nmax, uint16_t& d_out, uint16_t& dmin_out,
                           uint8_t* scales, uint8_t* q /* [256] */) {
  float sq = 0;
  for (int l = 0; l < kQK_K; ++l) sq += x[l] * x[l];
  const float rms = std::sqrt(sq / kQK_K);
  float w[32], scale[8], min[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    // Larger values weigh more: their relative error matters more for the matmul.
    for (int l = 0; l < 32; ++l) w[l] = rms + std::fabs(x[32 * j + l]);
    scale[j] = fit_scale_min(x + 32 * j, w, 32, nmax, q + 32 * j, min[j]);
    max_scale = std::max(max_scale, scale[j]);
    max_min = std::max(max_min, min[j]);
  }
  d_out = f32_to_fp16(max_scale / 63.0f);
  dmin_out = f32_to_fp16(max_min / 63.0f);
  const float d = fp16_to_f32(d_out), dmin = fp16_to_f32(dmin_out);
  const float inv_scale = d > 0 ? 1.0f / d : 0.0f, inv_min = dmin > 0 ? 1.0f / dmin : 0.0f;
  std::memset(scales, 0, 12);
  for (int j = 0; j < 8; ++j) {
    const int ls = round_clamp(inv_scale * scale[j], 0, 63);
    const int lm = round_clamp(inv_min * min[j], 0, 63);
    if (j < 4) {
      scales[j] = static_cast<uint8_t>(ls);
      scales[j + 4] = static_cast<uint8_t>(lm);
    } else {
      scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      scales[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
    const float dj = d * ls, mj = dmin * lm;
    for (int l = 0; l < 32; ++l) {
      q[32 * j + l] = dj > 0 ? static_cast<uint8_t>(round_clamp((x[32 * j + l] + mj) / dj, 0, nmax)) : 0;
    }
  }
}

}  // namespace

void dequantize_row_q4_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
    float* y = dst + i * kQK_K;
    for (int c = 0; c < 4; ++c) {
      uint8_t sc0, m0, sc1, m1;
      k4_scale_min(2 * c, b[i].scales, sc0, m0);
      k4_scale_min(2 * c + 1, b[i].scales, sc1, m1);
      const uint8_t* qs = b[i].qs + 32 * c;
      for (int l = 0; l < 32; ++l) {
        y[64 * c + l] = d * sc0 * (qs[l] & 0xF) - dmin * m0;
        y[64 * c + 32 + l] = d * sc1 * (qs[l] >> 4) - dmin * m1;
      }
    }
  }
}

void dequantize_row_q5_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
    float* y = dst + i * kQK_K;
    for (int c = 0; c < 4; ++c) {
      uint8_t sc0, m0, sc1, m1;
      k4_scale_min(2 * c, b[i].scales, sc0, m0);
      k4_scale_min(2 * c + 1, b[i].scales, sc1, m1);
      const uint8_t* qs = b[i].qs + 32 * c;
      for (int l = 0; l < 32; ++l) {
        const int lo = (qs[l] & 0xF) | (((b[i].qh[l] >> (2 * c)) & 1) << 4);
        const int hi = (qs[l] >> 4) | (((b[i].qh[l] >> (2 * c + 1)) & 1) << 4);
        y[64 * c + l] = d * sc0 * lo - dmin * m0;
        y[64 * c + 32 + l] = d * sc1 * hi - dmin * m1;
      }
    }
  }
}

void dequantize_row_q6_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      const int8_t* sc = b[i].scales + 8 * h;
      float* y = dst + i * kQK_K + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int g = l / 16;
        y[l] = d * sc[g] * (((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
        y[l + 32] = d * sc[g + 2] * (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        y[l + 64] = d * sc[g + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        y[l + 96] = d * sc[g + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
  }
}

void quantize_row_q4_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_K*>(dst);
  uint8_t q[kQK_K];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    quantize_k_superblock(src + i * kQK_K, 15, b[i].d, b[i].dmin, b[i].scales, q);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        b[i].qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
      }
    }
  }
}

void quantize_row_q5_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_K*>(dst);
  uint8_t q[kQK_K];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    quantize_k_superblock(src + i * kQK_K, 31, b[i].d, b[i].dmin, b[i].scales, q);
    std::memset(b[i].qh, 0, sizeof(b[i].qh));
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
        b[i].qs[32 * c + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
        b[i].qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
    }
  }
}

void quantize_row_q6_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ6_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    float w[16], scale[16];
    float max_scale = 0, amax_scale = 0;
    for (int g = 0; g < 16; ++g) {
      for (int l = 0; l < 16; ++l) w[l] = x[16 * g + l] * x[16 * g + l];
      scale[g] = fit_scale_symmetric(x + 16 * g, w, 16, 32);
      if (std::fabs(scale[g]) > amax_scale) {
        amax_scale = std::fabs(scale[g]);
        max_scale = scale[g];
      }
    }
    uint8_t q[kQK_K];
    if (amax_scale == 0) {
      b[i].d = 0;
      std::memset(b[i].scales, 0, sizeof(b[i].scales));
      std::memset(q, 32, sizeof(q));
    } else {
      // The largest-magnitude scale maps to -128, the far end of int8.
      b[i].d = f32_to_fp16(max_scale / -128.0f);
      const float d = fp16_to_f32(b[i].d);
      for (int g = 0; g < 16; ++g) {
        const int s = round_clamp(scale[g] / d, -128, 127);
        b[i].scales[g] = static_cast<int8_t>(s);
        const float dg = d * s;
        for (int l = 0; l < 16; ++l) {
          q[16 * g + l] = dg != 0 ? static_cast<uint8_t>(round_clamp(x[16 * g + l] / dg, -32, 31) + 32) : 32;
        }
      }
    }
    for (int h = 0; h < 2; ++h) {
      const uint8_t* qq = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int q1 = qq[l], q2 = qq[l + 32], q3 = qq[l + 64], q4 = qq[l + 96];
        b[i].ql[64 * h + l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
        b[i].ql[64 * h + l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
        b[i].qh[32 * h + l] =
            static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
      }
    }
  }
}

}  // namespace entropix
