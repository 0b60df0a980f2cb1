// Kernels against independent expectations: fp16/bf16 conversions (exhaustive), block
// layouts from hand-built blocks, quantization error bounds, dot products of every type
// on every backend, and matmul against the dequantize-and-dot reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/blocks.h"
#include "kernels/dot.h"
#include "kernels/fp16.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/kernel_peak.h"
#include "kernels/repack.h"

namespace entropix {
namespace {

// ---- fp16 / bf16 --------------------------------------------------------------------

// Value of an IEEE half from its fields, computed in double.
double half_value(uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int exp = (h >> 10) & 0x1F;
  const int mant = h & 0x3FF;
  if (exp == 31) return mant ? NAN : sign * INFINITY;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  return sign * std::ldexp(1024 + mant, exp - 25);
}

TEST(Fp16, DecodesEveryValue) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const double want = half_value(static_cast<uint16_t>(h));
    const float got = fp16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << h;
    } else {
      ASSERT_EQ(static_cast<double>(got), want) << h;
      ASSERT_EQ(std::signbit(got), (h >> 15) != 0) << h;
    }
  }
}

TEST(Fp16, RoundTripsEveryValue) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t back = f32_to_fp16(fp16_to_f32(static_cast<uint16_t>(h)));
    if (((h >> 10) & 0x1F) == 31 && (h & 0x3FF)) {
      ASSERT_EQ(back & 0x7C00, 0x7C00) << h;
      ASSERT_NE(back & 0x3FF, 0) << h;  // still NaN
    } else {
      ASSERT_EQ(back, h);
    }
  }
}

// Nearest half by search over the two neighbours of the truncated value; ties to even.
uint16_t nearest_half(float f) {
  if (std::isnan(f)) return 0x7E00;
  const double v = f;
  uint16_t best = 0;
  double best_err = INFINITY;
  for (uint32_t h = (v < 0 ? 0x8000u : 0u); h < (v < 0 ? 0x10000u : 0x8000u); ++h) {
    if (((h >> 10) & 0x1F) == 31 && (h & 0x3FF)) continue;
    double hv = half_value(static_cast<uint16_t>(h));
    if (std::isinf(hv)) hv = std::copysign(65536.0, hv);  // inf acts as the next step
    const double err = std::fabs(hv - v);
    if (err < best_err || (err == best_err && (h & 1) == 0)) {
      best = static_cast<uint16_t>(h);
      best_err = err;
    }
  }
  return best;
}

TEST(Fp16, RoundsToNearestEven) {
  struct Case {
    float in;
    uint16_t want;
  };
  const Case cases[] = {
      {1.0f, 0x3C00},
      {1.0f + 0x1p-11f, 0x3C00},       // tie between 1 and 1 + 2^-10: even is 1
      {1.0f + 3 * 0x1p-11f, 0x3C02},   // tie between odd 0x3C01 and even 0x3C02
      {1.0f + 0x1p-11f + 0x1p-20f, 0x3C01},
      {-2.0f, 0xC000},
      {65504.0f, 0x7BFF},
      {65519.99f, 0x7BFF},
      {65520.0f, 0x7C00},  // tie with the step past the max: overflows to infinity
      {1e10f, 0x7C00},
      {-INFINITY, 0xFC00},
      {0x1p-24f, 0x0001},
      {0x1p-25f, 0x0000},       // tie between 0 and the smallest subnormal
      {3 * 0x1p-25f, 0x0002},   // tie between 1 and 2 subnormal steps
      {0x1p-14f - 0x1p-26f, 0x0400},  // rounds up into the normal range
      {-0.0f, 0x8000},
  };
  for (const auto& c : cases) EXPECT_EQ(f32_to_fp16(c.in), c.want) << c.in;
  const uint16_t nan = f32_to_fp16(std::bit_cast<float>(0x7F800001u));
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x3FF, 0);

  std::mt19937 rng(1);
  std::uniform_int_distribution<uint32_t> bits(0x30000000u, 0x47FFFFFFu);  // 2^-31 .. 2^16
  for (int i = 0; i < 300; ++i) {
    float f = std::bit_cast<float>(bits(rng) | (i & 1 ? 0x80000000u : 0u));
    ASSERT_EQ(f32_to_fp16(f), nearest_half(f)) << f;
  }
}

TEST(Bf16, RoundTripsEveryValueAndRoundsToNearestEven) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    ASSERT_EQ(std::bit_cast<uint32_t>(f), h << 16);
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f)))) << h;
    } else {
      ASSERT_EQ(f32_to_bf16(f), h);
    }
  }
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f), 0x3F80);      // tie: even
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3F82);  // tie: even upward
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3F81);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x7F7FFFFFu)), 0x7F80);  // FLT_MAX overflows
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::bit_cast<float>(0x7F800001u)))));
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::bit_cast<float>(0xFF800001u)))));
  // Random floats against the nearer of the two bf16 neighbours (ties to even).
  std::mt19937 rng(2);
  for (int i = 0; i < 100000; ++i) {
    const uint32_t x = rng() & 0xFF7FFFFFu;  // finite
    const float f = std::bit_cast<float>(x);
    const uint16_t lo = static_cast<uint16_t>(x >> 16), hi = static_cast<uint16_t>(lo + 1);
    const double elo = std::fabs(static_cast<double>(bf16_to_f32(lo)) - f);
    const double hv = hi == 0x7F80 ? 0x1p128 : bf16_to_f32(hi);  // inf acts as the next step
    const double ehi = std::fabs(hv - f);
    const uint16_t want = elo < ehi ? lo : ehi < elo ? hi : ((lo & 1) ? hi : lo);
    ASSERT_EQ(f32_to_bf16(f), want) << x;
  }
}

// ---- helpers ------------------------------------------------------------------------

const GgmlType kTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0,
                           GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

std::vector<float> gaussian(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<uint8_t> quantized(GgmlType type, const std::vector<float>& x) {
  std::vector<uint8_t> q(ggml_row_bytes(type, static_cast<int64_t>(x.size())));
  quantize_row(type, x.data(), q.data(), static_cast<int64_t>(x.size()));
  return q;
}

std::vector<float> dequantized(GgmlType type, const void* q, int64_t n) {
  std::vector<float> x(static_cast<size_t>(n));
  dequantize_row(type, q, x.data(), n);
  return x;
}

// One activation row for a weight type as matmul builds it: the floats, or the scalar
// backend's quantizer (whose blocks are quantize_row's, a test below checks).
std::vector<uint8_t> activation_row(GgmlType weight_type, const float* x, int64_t n) {
  std::vector<uint8_t> row(activation_row_bytes(weight_type, n));
  if (const QuantizeFn quantize = activation_quantizer(scalar_dot_backend(), weight_type)) {
    quantize(x, row.data(), n);
  } else {
    std::memcpy(row.data(), x, row.size());
  }
  return row;
}

std::vector<const DotBackend*> backends() {
  std::vector<const DotBackend*> b{&scalar_dot_backend()};
  if (avx2_dot_backend()) b.push_back(avx2_dot_backend());
  if (avxvnni_dot_backend()) b.push_back(avxvnni_dot_backend());
  if (avx512_dot_backend()) b.push_back(avx512_dot_backend());
  return b;
}

// ---- dequantization of hand-built blocks --------------------------------------------

TEST(Dequantize, Q8_0Block) {
  BlockQ8_0 b;
  b.d = f32_to_fp16(0.5f);
  for (int i = 0; i < 32; ++i) b.qs[i] = static_cast<int8_t>(i * 8 - 127);
  const auto y = dequantized(GgmlType::Q8_0, &b, 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], 0.5f * (i * 8 - 127)) << i;
}

TEST(Dequantize, Q4_0Block) {
  // Element i holds value (i % 16); byte l has element l low, element l + 16 high.
  BlockQ4_0 b;
  b.d = f32_to_fp16(0.25f);
  for (int l = 0; l < 16; ++l) b.qs[l] = static_cast<uint8_t>((l % 16) | ((15 - l) << 4));
  const auto y = dequantized(GgmlType::Q4_0, &b, 32);
  for (int l = 0; l < 16; ++l) {
    EXPECT_EQ(y[l], 0.25f * (l - 8));
    EXPECT_EQ(y[l + 16], 0.25f * (15 - l - 8));
  }
}

// Builds a Q4_K/Q5_K scale block: sub-block j gets scale sc[j] and min m[j] (6 bits each).
void pack_k4_scales(const int* sc, const int* m, uint8_t* scales) {
  // Bytes 0-3: scale j low 6 bits, top 2 bits = high bits of scale j+4.
  // Bytes 4-7: min j low 6 bits, top 2 bits = high bits of min j+4.
  // Bytes 8-11: low nibble = scale j+4 low 4 bits, high nibble = min j+4 low 4 bits.
  for (int j = 0; j < 4; ++j) {
    scales[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    scales[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
  }
}

TEST(Dequantize, Q4_KBlock) {
  const int sc[8] = {1, 63, 17, 32, 5, 48, 60, 33}, m[8] = {0, 2, 63, 9, 47, 16, 31, 62};
  BlockQ4_K b;
  b.d = f32_to_fp16(0.125f);
  b.dmin = f32_to_fp16(0.0625f);
  pack_k4_scales(sc, m, b.scales);
  auto q = [](int i) { return (i * 7 + 3) % 16; };  // the quant of element i
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) b.qs[32 * c + l] = static_cast<uint8_t>(q(64 * c + l) | (q(64 * c + 32 + l) << 4));
  }
  const auto y = dequantized(GgmlType::Q4_K, &b, 256);
  for (int i = 0; i < 256; ++i) {
    const int j = i / 32;
    EXPECT_FLOAT_EQ(y[i], 0.125f * sc[j] * q(i) - 0.0625f * m[j]) << i;
  }
}

TEST(Dequantize, Q5_KBlock) {
  const int sc[8] = {63, 1, 2, 40, 16, 31, 59, 7}, m[8] = {63, 0, 5, 20, 32, 15, 1, 45};
  BlockQ5_K b;
  b.d = f32_to_fp16(0.5f);
  b.dmin = f32_to_fp16(0.25f);
  pack_k4_scales(sc, m, b.scales);
  auto q = [](int i) { return (i * 11 + 5) % 32; };
  std::memset(b.qh, 0, sizeof(b.qh));
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int lo = q(64 * c + l), hi = q(64 * c + 32 + l);
      b.qs[32 * c + l] = static_cast<uint8_t>((lo & 15) | ((hi & 15) << 4));
      // Fifth bits: element 64c + l in bit 2c of qh[l], element 64c + 32 + l in bit 2c + 1.
      b.qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
    }
  }
  const auto y = dequantized(GgmlType::Q5_K, &b, 256);
  for (int i = 0; i < 256; ++i) {
    const int j = i / 32;
    EXPECT_FLOAT_EQ(y[i], 0.5f * sc[j] * q(i) - 0.25f * m[j]) << i;
  }
}

TEST(Dequantize, Q6_KBlock) {
  BlockQ6_K b;
  b.d = f32_to_fp16(0.5f);
  for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<int8_t>(g * 17 - 128);
  auto q = [](int i) { return (i * 13 + 1) % 64; };  // unsigned 6-bit quant of element i
  std::memset(b.qh, 0, sizeof(b.qh));
  for (int half = 0; half < 2; ++half) {
    for (int l = 0; l < 32; ++l) {
      const int base = 128 * half;
      const int q1 = q(base + l), q2 = q(base + l + 32), q3 = q(base + l + 64), q4 = q(base + l + 96);
      b.ql[64 * half + l] = static_cast<uint8_t>((q1 & 15) | ((q3 & 15) << 4));
      b.ql[64 * half + l + 32] = static_cast<uint8_t>((q2 & 15) | ((q4 & 15) << 4));
      b.qh[32 * half + l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
  }
  const auto y = dequantized(GgmlType::Q6_K, &b, 256);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], 0.5f * b.scales[i / 16] * (q(i) - 32)) << i;
}

TEST(Dequantize, FloatTypes) {
  const float x[4] = {1.5f, -2.25f, 65504.0f, 0x1p-24f};
  EXPECT_EQ(dequantized(GgmlType::F32, x, 4), std::vector<float>(x, x + 4));
  const uint16_t h[4] = {0x3E00, 0xC080, 0x7BFF, 0x0001};
  EXPECT_EQ(dequantized(GgmlType::F16, h, 4), std::vector<float>(x, x + 4));
  const uint16_t bf[2] = {0x3FC0, 0xC010};
  EXPECT_EQ(dequantized(GgmlType::BF16, bf, 2), (std::vector<float>{1.5f, -2.25f}));
}

TEST(Quant, UnsupportedTypesAndBadLengthsAreErrors) {
  float x[64] = {};
  uint8_t buf[256] = {};
  try {
    dequantize_row(GgmlType::Q4_1, buf, x, 32);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("q4_1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(quantize_row(GgmlType::Q2_K, x, buf, 64), Error);
  EXPECT_THROW(quantize_row(GgmlType::Q8_0, x, buf, 33), Error);
  EXPECT_THROW(dequantize_row(GgmlType::Q4_K, buf, x, 32), Error);
}

// ---- quantization error ---------------------------------------------------------------

// RMS error relative to the data's RMS, on Gaussian data. A uniform grid of step s has
// RMS error s / sqrt(12); the bounds are those expectations for each format's step on
// Gaussian blocks plus margin (a broken search or layout lands far above them).
double relative_rms_bound(GgmlType type) {
  switch (type) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 0x1p-11 / std::sqrt(3.0);
    case GgmlType::BF16: return 0x1p-8 / std::sqrt(3.0);
    case GgmlType::Q8_0: return 0.0075;  // step max|x|/127 over 32 (max ~2.1 sigma): 0.0048
    case GgmlType::Q4_0: return 0.11;    // step max|x|/8: 0.076
    case GgmlType::Q4_K: return 0.085;   // step range/15 over 32 (range ~4.2 sigma): 0.081 before search
    case GgmlType::Q5_K: return 0.042;   // range/31: 0.039 before search
    case GgmlType::Q6_K: return 0.022;   // 2 max/63 over 16 (max ~1.8 sigma): 0.017
    default: return 0;
  }
}

TEST(Quant, RoundTripErrorWithinFormatBound) {
  const int64_t n = 4096;
  const auto x = gaussian(n, 3);
  for (GgmlType type : kTypes) {
    const auto q = quantized(type, x);
    const auto y = dequantized(type, q.data(), n);
    double err = 0, energy = 0;
    for (int64_t i = 0; i < n; ++i) {
      err += (y[i] - x[i]) * (y[i] - x[i]);
      energy += x[i] * x[i];
    }
    const double rel = std::sqrt(err / energy);
    EXPECT_LE(rel, relative_rms_bound(type)) << ggml_type_name(type);
    if (type != GgmlType::F32) {
      EXPECT_GT(rel, 0) << ggml_type_name(type);
    }
    RecordProperty(std::string(ggml_type_name(type)) + "_rel_rms", std::to_string(rel));
  }
}

TEST(Quant, PerElementBoundsOfTheSimpleFormats) {
  const int64_t n = 1024;
  const auto x = gaussian(n, 4);
  const auto q8 = quantized(GgmlType::Q8_0, x);
  const auto y8 = dequantized(GgmlType::Q8_0, q8.data(), n);
  const auto q4 = quantized(GgmlType::Q4_0, x);
  const auto y4 = dequantized(GgmlType::Q4_0, q4.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    const auto& b8 = reinterpret_cast<const BlockQ8_0*>(q8.data())[i / 32];
    const auto& b4 = reinterpret_cast<const BlockQ4_0*>(q4.data())[i / 32];
    // Q8_0 rounds to nearest: half a step. Q4_0 maps the extreme to -8, so the opposite
    // extreme may clamp at +7: one step.
    ASSERT_LE(std::fabs(y8[i] - x[i]), 0.5f * fp16_to_f32(b8.d) * 1.0001f) << i;
    ASSERT_LE(std::fabs(y4[i] - x[i]), std::fabs(fp16_to_f32(b4.d)) * 1.0001f) << i;
  }
}

TEST(Quant, ZeroRowsStayZero) {
  const std::vector<float> zero(512, 0.0f);
  for (GgmlType type : kTypes) {
    const auto y = dequantized(type, quantized(type, zero).data(), 512);
    for (float v : y) ASSERT_EQ(v, 0.0f) << ggml_type_name(type);
  }
}

// ---- dot products ---------------------------------------------------------------------

// Bound on |dot(W, quantized x) - dot(W, x)|: each activation is within half its block's
// step of x (Q8_0: fp16 scale max|x|/127; Q8_K: float scale max|x|/127), so the error is
// at most sum_i |W_i| * step_i / 2; plus float summation error, 1e-5 of sum |W_i x_i|.
double activation_bound(GgmlType act_type, const std::vector<float>& w, const float* x, int64_t n) {
  double bound = 0, mag = 0;
  const int64_t block = act_type == GgmlType::Q8_0 ? 32 : act_type == GgmlType::Q8_K ? 256 : n;
  for (int64_t b0 = 0; b0 < n; b0 += block) {
    double amax = 0, wsum = 0;
    for (int64_t i = b0; i < b0 + block; ++i) {
      amax = std::max(amax, static_cast<double>(std::fabs(x[i])));
      wsum += std::fabs(w[i]);
      mag += std::fabs(static_cast<double>(w[i]) * x[i]);
    }
    // fp16 rounding of the Q8_0 scale can enlarge the step by 2^-11.
    if (act_type != GgmlType::F32) bound += wsum * 0.5 * (amax / 127.0) * (1 + 0x1p-10);
  }
  return bound + 1e-5 * mag;
}

TEST(Dot, EveryTypeOnEveryBackend) {
  const int64_t n = 1024;
  for (GgmlType type : kTypes) {
    const auto wq = quantized(type, gaussian(n, 10));
    const auto w = dequantized(type, wq.data(), n);
    const GgmlType act = activation_type(type);
    const size_t x_bytes = activation_row_bytes(type, n);
    std::vector<std::vector<float>> xs;
    std::vector<uint8_t> xq;
    for (int j = 0; j < kMaxDotTile; ++j) {
      xs.push_back(gaussian(n, 20 + j, 1.0f + j));
      const auto row = activation_row(type, xs[j].data(), n);
      xq.insert(xq.end(), row.begin(), row.end());
    }
    for (const DotBackend* be : backends()) {
      for (int n_x = 1; n_x <= kMaxDotTile; ++n_x) {
        float out[kMaxDotTile];
        dot_kernel(*be, type)(n, wq.data(), xq.data(), x_bytes, n_x, out);
        for (int j = 0; j < n_x; ++j) {
          // Against the float dot with the original activations: activation rounding.
          double want = 0, mag = 0;
          for (int64_t i = 0; i < n; ++i) want += static_cast<double>(w[i]) * xs[j][i];
          EXPECT_NEAR(out[j], want, activation_bound(act, w, xs[j].data(), n))
              << be->name << " " << ggml_type_name(type) << " n_x=" << n_x << " j=" << j;
          // Against the exact dot with the quantized activations: only float rounding.
          const auto xd = dequantized(act, xq.data() + j * x_bytes, n);
          double exact = 0;
          for (int64_t i = 0; i < n; ++i) {
            exact += static_cast<double>(w[i]) * xd[i];
            mag += std::fabs(static_cast<double>(w[i]) * xd[i]);
          }
          EXPECT_NEAR(out[j], exact, 1e-5 * mag) << be->name << " " << ggml_type_name(type);
        }
      }
    }
  }
}

TEST(Dot, BackendActivationQuantizersMatchQuantizeRow) {
  auto x = gaussian(1024, 40);
  std::fill(x.begin() + 256, x.begin() + 512, 0.0f);  // an all-zero block of each format
  x[600] = 1e4f;                                     // one block dominated by one value
  for (GgmlType weight : {GgmlType::Q8_0, GgmlType::Q4_K}) {
    const GgmlType act = activation_type(weight);
    const auto want = quantized(act, x);
    for (const DotBackend* be : backends()) {
      std::vector<uint8_t> got(activation_row_bytes(weight, 1024), 0xCD);
      activation_quantizer(*be, weight)(x.data(), got.data(), 1024);
      EXPECT_EQ(std::vector<uint8_t>(got.begin(), got.begin() + static_cast<ptrdiff_t>(want.size())), want)
          << be->name << " " << ggml_type_name(act);
      if (act != GgmlType::Q8_0) continue;
      // Then the blocks' scales again, as floats, and -128 times their quant sums.
      const auto* blocks = reinterpret_cast<const BlockQ8_0*>(want.data());
      for (int b = 0; b < 1024 / kQK8_0; ++b) {
        float scale;
        std::memcpy(&scale, got.data() + q8_0_act_scales_offset(1024) + b * sizeof(float), sizeof(float));
        EXPECT_EQ(scale, fp16_to_f32(blocks[b].d)) << be->name << " block " << b;
        int32_t bias, sum = 0;
        std::memcpy(&bias, got.data() + q8_0_act_bias_offset(1024) + b * sizeof(int32_t), sizeof(int32_t));
        for (int8_t q : blocks[b].qs) sum += q;
        EXPECT_EQ(bias, -128 * sum) << be->name << " block " << b;
      }
    }
  }
}

// Block counts below, at and past the 8-block step of the AVX2 kernels, for every tile size;
// a row's result is the same whichever tile it is computed in (forks decoded together give
// the logits they would alone).
TEST(Dot, BlockCountsNotAMultipleOfTheUnroll) {
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0}) {
    for (int64_t n : {32, 96, 224, 288, 480}) {
      const auto wq = quantized(type, gaussian(static_cast<size_t>(n), 50));
      const auto w = dequantized(type, wq.data(), n);
      const size_t x_bytes = activation_row_bytes(type, n);
      std::vector<uint8_t> xq;
      for (int j = 0; j < kMaxDotTile; ++j) {
        const auto row = activation_row(type, gaussian(static_cast<size_t>(n), 51 + j).data(), n);
        xq.insert(xq.end(), row.begin(), row.end());
      }
      for (const DotBackend* be : backends()) {
        float alone[kMaxDotTile];
        for (int j = 0; j < kMaxDotTile; ++j) {
          const uint8_t* xj = xq.data() + j * x_bytes;
          dot_kernel(*be, type)(n, wq.data(), xj, 0, 1, &alone[j]);
          const auto xd = dequantized(GgmlType::Q8_0, xj, n);
          double exact = 0, mag = 0;
          for (int64_t i = 0; i < n; ++i) {
            exact += static_cast<double>(w[i]) * xd[i];
            mag += std::fabs(static_cast<double>(w[i]) * xd[i]);
          }
          EXPECT_NEAR(alone[j], exact, 1e-5 * mag) << be->name << " " << ggml_type_name(type) << " n=" << n;
        }
        for (int n_x = 2; n_x <= kMaxDotTile; ++n_x) {
          float out[kMaxDotTile];
          dot_kernel(*be, type)(n, wq.data(), xq.data(), x_bytes, n_x, out);
          for (int j = 0; j < n_x; ++j) {
            EXPECT_EQ(out[j], alone[j]) << be->name << " " << ggml_type_name(type) << " n=" << n << " n_x=" << n_x;
          }
        }
      }
    }
  }
}

TEST(Dot, FloatKernelsHandleTails) {
  const int64_t n = 37;  // not a multiple of the vector width
  const auto w = gaussian(n, 30), x = gaussian(n, 31);
  double want = 0, mag = 0;
  for (int64_t i = 0; i < n; ++i) {
    want += static_cast<double>(w[i]) * x[i];
    mag += std::fabs(static_cast<double>(w[i]) * x[i]);
  }
  for (const DotBackend* be : backends()) {
    float out;
    be->f32(n, w.data(), x.data(), 0, 1, &out);
    EXPECT_NEAR(out, want, 1e-6 * mag) << be->name;
  }
}

TEST(Dot, BackendSelection) {
  const std::string name = kernel_backend_name();
  const char* env = std::getenv("ENTROPIX_KERNELS");
  if (env && *env) {
    EXPECT_EQ(name, env);
  } else {
    EXPECT_EQ(name, avx512_dot_backend()    ? "avx512"
                    : avxvnni_dot_backend() ? "avxvnni"
                    : avx2_dot_backend()    ? "avx2"
                                            : "scalar");
  }
  // Each name gives its backend where the CPU has it and a clear error where not.
  EXPECT_STREQ(choose_dot_backend("scalar").name, "scalar");
  EXPECT_STREQ(choose_dot_backend(nullptr).name, choose_dot_backend("").name);
  for (const auto& [want, available] : {std::pair<std::string, const DotBackend*>{"avx2", avx2_dot_backend()},
                                        {"avxvnni", avxvnni_dot_backend()},
                                        {"avx512", avx512_dot_backend()}}) {
    if (available) {
      EXPECT_EQ(choose_dot_backend(want.c_str()).name, want);
    } else {
      EXPECT_THROW(choose_dot_backend(want.c_str()), Error) << want;
    }
  }
  EXPECT_THROW(choose_dot_backend("amx512"), Error);
  EXPECT_THROW(dot_kernel(scalar_dot_backend(), GgmlType::Q4_1), Error);
}

// ---- matmul ---------------------------------------------------------------------------

struct TestMatrix {
  std::vector<uint8_t> data;
  std::vector<float> rows;  // dequantized, [n_out][n_in]
  WeightMatrix w;
};

TestMatrix make_matrix(GgmlType type, int64_t n_out, int64_t n_in, size_t pad, uint32_t seed) {
  TestMatrix m;
  const size_t row_bytes = ggml_row_bytes(type, n_in) + pad;
  m.data.assign(row_bytes * static_cast<size_t>(n_out), 0xAB);
  m.rows.resize(static_cast<size_t>(n_out * n_in));
  for (int64_t r = 0; r < n_out; ++r) {
    const auto x = gaussian(static_cast<size_t>(n_in), seed + static_cast<uint32_t>(r), 0.05f);
    quantize_row(type, x.data(), m.data.data() + r * row_bytes, n_in);
    dequantize_row(type, m.data.data() + r * row_bytes, m.rows.data() + r * n_in, n_in);
  }
  m.w = WeightMatrix{type, n_in, n_out, m.data.data(), row_bytes};
  return m;
}

TEST(Matmul, MatchesReferenceForTokensThreadsAndBackends) {
  const int64_t n_in = 512, n_out = 37;
  for (GgmlType type : kTypes) {
    const auto m = make_matrix(type, n_out, n_in, type == GgmlType::Q4_K ? 6 : 0, 100);
    for (int64_t n_tokens : {1, 3, 17}) {
      const auto x = gaussian(static_cast<size_t>(n_in * n_tokens), 200 + static_cast<uint32_t>(n_tokens));
      std::vector<float> want(static_cast<size_t>(n_out * n_tokens));
      ThreadPool one(1);
      matmul_reference(m.w, x.data(), n_tokens, want.data(), one);
      for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        for (const DotBackend* be : backends()) {
          std::vector<float> y(want.size(), NAN);
          matmul(m.w, x.data(), n_tokens, y.data(), pool, *be);
          for (int64_t t = 0; t < n_tokens; ++t) {
            for (int64_t r = 0; r < n_out; ++r) {
              const std::vector<float> row(m.rows.begin() + r * n_in, m.rows.begin() + (r + 1) * n_in);
              const double tol = activation_bound(activation_type(type), row, x.data() + t * n_in, n_in);
              ASSERT_NEAR(y[t * n_out + r], want[t * n_out + r], tol)
                  << ggml_type_name(type) << " " << be->name << " tokens=" << n_tokens
                  << " threads=" << threads << " t=" << t << " r=" << r;
            }
          }
        }
      }
    }
  }
}

TEST(Matmul, ReusesScratchAcrossShapesAndRejectsBadMatrices) {
  ThreadPool pool(2);
  const auto big = make_matrix(GgmlType::Q8_0, 64, 1024, 0, 300);
  const auto small = make_matrix(GgmlType::Q6_K, 16, 256, 0, 400);
  const auto xb = gaussian(1024 * 5, 1), xs = gaussian(256, 2);
  std::vector<float> yb(64 * 5), ys(16), want_b(64 * 5), want_s(16);
  matmul_reference(big.w, xb.data(), 5, want_b.data(), pool);
  matmul_reference(small.w, xs.data(), 1, want_s.data(), pool);
  for (int rep = 0; rep < 3; ++rep) {  // alternating sizes reuse the same scratch
    matmul(big.w, xb.data(), 5, yb.data(), pool);
    matmul(small.w, xs.data(), 1, ys.data(), pool);
    for (size_t i = 0; i < yb.size(); ++i) ASSERT_NEAR(yb[i], want_b[i], 0.05 * std::fabs(want_b[i]) + 0.02);
    for (size_t i = 0; i < ys.size(); ++i) ASSERT_NEAR(ys[i], want_s[i], 0.05 * std::fabs(want_s[i]) + 0.02);
  }
  float x[64] = {}, y[4];
  uint8_t data[256] = {};
  EXPECT_THROW(matmul(WeightMatrix{GgmlType::Q2_K, 256, 1, data, 84}, x, 1, y, pool), Error);
  EXPECT_THROW(matmul(WeightMatrix{GgmlType::Q8_0, 48, 1, data, 64}, x, 1, y, pool), Error);
  EXPECT_THROW(matmul(WeightMatrix{GgmlType::Q8_0, 64, 1, data, 34}, x, 1, y, pool), Error);
}

// ---- packed rows ---------------------------------------------------------------------

TEST(Repack, EachGroupHoldsItsRowsBlocksInterleavedByFour) {
  const PackedLayout x8{"q8_0x8", GgmlType::Q8_0, 8, 4, kQK8_0, sizeof(BlockQ8_0x8), pack_q8_0_rows_x8, nullptr};
  const auto m = make_matrix(GgmlType::Q8_0, 20, 96, 0, 500);  // 2 whole groups and 4 rows left
  ASSERT_TRUE(packable(m.w, x8));
  ASSERT_EQ(packed_bytes(m.w, x8), size_t{2} * 3 * sizeof(BlockQ8_0x8));
  std::vector<uint8_t> packed(packed_bytes(m.w, x8));
  pack_q8_0_rows_x8(m.w, packed.data(), 0, 2);
  const auto* groups = reinterpret_cast<const BlockQ8_0x8*>(packed.data());
  for (int g = 0; g < 2; ++g) {
    for (int b = 0; b < 3; ++b) {
      for (int r = 0; r < 8; ++r) {
        const auto* row = reinterpret_cast<const BlockQ8_0*>(m.data.data() + (g * 8 + r) * m.w.row_bytes);
        EXPECT_EQ(groups[g * 3 + b].d[r], row[b].d);
        for (int i = 0; i < 32; ++i) ASSERT_EQ(groups[g * 3 + b].qs[(i / 4) * 32 + r * 4 + i % 4], row[b].qs[i]);
      }
    }
  }
  EXPECT_FALSE(packable(make_matrix(GgmlType::Q8_0, 7, 64, 0, 1).w, x8));  // no whole group
  EXPECT_FALSE(packable(make_matrix(GgmlType::Q4_0, 16, 64, 0, 1).w, x8));
  EXPECT_EQ(packed_bytes(make_matrix(GgmlType::Q6_K, 16, 256, 0, 1).w, x8), 0u);
}

// Every packed layout of every backend the CPU has, and the types each packs.
std::vector<const PackedLayout*> packed_layouts() {
  std::vector<const PackedLayout*> out;
  for (const DotBackend* be : backends()) {
    for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
      if (const PackedLayout* layout = packed_layout(*be, type)) out.push_back(layout);
    }
  }
  return out;
}

const DotBackend& backend_of(const PackedLayout* layout) {
  for (const DotBackend* be : backends()) {
    if (packed_layout(*be, layout->type) == layout) return *be;
  }
  throw Error("no backend");
}

// Each packed kernel against the reference, with rows left over after the last group, and
// each token's row exactly what it is when that token is multiplied alone: forks and
// requests decoded together must not change each other's logits. Weights with extreme
// quants (-128 in Q8_0, 0 and 31 in Q5_K, 0 and 63 in Q6_K, the largest scales) are included.
TEST(Matmul, PackedRowsMatchTheReferenceWhateverTheBatch) {
  const auto layouts = packed_layouts();
  if (layouts.empty()) GTEST_SKIP() << "no backend with packed layouts on this CPU (scalar only)";
  for (const PackedLayout* layout : layouts) {
    const DotBackend& be = backend_of(layout);
    const int64_t block = layout->block_elems;
    for (const auto& [n_out, n_in] : {std::pair<int64_t, int64_t>{37, 2 * block}, {64, block}, {layout->rows, 3 * block}}) {
      auto m = make_matrix(layout->type, n_out, n_in, 0, 600 + static_cast<uint32_t>(n_out));
      // Row 0: extreme quants and scales.
      if (layout->type == GgmlType::Q8_0) {
        auto* blocks = reinterpret_cast<BlockQ8_0*>(m.data.data());
        for (int64_t b = 0; b < n_in / kQK8_0; ++b) {
          for (int i = 0; i < kQK8_0; ++i) blocks[b].qs[i] = static_cast<int8_t>(i % 2 ? -128 : 127);
        }
      } else if (layout->type == GgmlType::Q4_0) {
        auto* blocks = reinterpret_cast<BlockQ4_0*>(m.data.data());
        for (int64_t b = 0; b < n_in / kQK8_0; ++b) {
          for (int i = 0; i < kQK8_0 / 2; ++i) blocks[b].qs[i] = i % 3 ? 0xF0 : 0x0F;  // quants 0 and 15
        }
      } else if (layout->type == GgmlType::Q4_K) {
        auto* blocks = reinterpret_cast<BlockQ4_K*>(m.data.data());
        for (int64_t b = 0; b < n_in / kQK_K; ++b) {
          std::memset(blocks[b].scales, 0xFF, sizeof blocks[b].scales);  // scales and mins 63
          for (int i = 0; i < kQK_K / 2; ++i) blocks[b].qs[i] = i % 3 ? 0xF0 : 0x0F;
        }
      } else if (layout->type == GgmlType::Q5_K) {
        auto* blocks = reinterpret_cast<BlockQ5_K*>(m.data.data());
        for (int64_t b = 0; b < n_in / kQK_K; ++b) {
          std::memset(blocks[b].scales, 0xFF, sizeof blocks[b].scales);  // scales and mins 63
          for (int i = 0; i < kQK_K / 2; ++i) blocks[b].qs[i] = i % 3 ? 0xF0 : 0x0F;
          for (int i = 0; i < kQK_K / 8; ++i) blocks[b].qh[i] = i % 2 ? 0xFF : 0x5A;  // quants 0, 15, 16, 31
        }
      } else if (layout->type == GgmlType::Q6_K) {
        auto* blocks = reinterpret_cast<BlockQ6_K*>(m.data.data());
        for (int64_t b = 0; b < n_in / kQK_K; ++b) {
          std::memset(blocks[b].ql, 0xFF, sizeof blocks[b].ql);
          for (int i = 0; i < kQK_K / 4; ++i) blocks[b].qh[i] = i % 2 ? 0xFF : 0x00;  // quants 63 and 15
          for (int g = 0; g < kQK_K / 16; ++g) blocks[b].scales[g] = static_cast<int8_t>(g % 2 ? -128 : 127);
        }
      }
      dequantize_row(m.w.type, m.data.data(), m.rows.data(), n_in);
      std::vector<uint8_t> packed(packed_bytes(m.w, *layout));
      ASSERT_GT(packed.size(), 0u) << layout->name;
      layout->pack(m.w, packed.data(), 0, n_out / layout->rows);
      WeightMatrix w = m.w;
      w.packed = packed.data();
      w.packed_layout = layout;
      const int64_t max_tokens = 19;
      const auto x = gaussian(static_cast<size_t>(n_in * max_tokens), 700);
      std::vector<float> want(static_cast<size_t>(n_out * max_tokens)), alone(want.size());
      ThreadPool one(1);
      matmul_reference(w, x.data(), max_tokens, want.data(), one);
      for (int64_t t = 0; t < max_tokens; ++t) matmul(w, x.data() + t * n_in, 1, alone.data() + t * n_out, one, be);
      for (int64_t n_tokens : {1, 3, 4, 5, 8, 9, 19}) {
        for (int threads : {1, 2, 3}) {
          ThreadPool pool(threads);
          std::vector<float> y(static_cast<size_t>(n_out * n_tokens), NAN);
          matmul(w, x.data(), n_tokens, y.data(), pool, be);
          for (int64_t t = 0; t < n_tokens; ++t) {
            for (int64_t r = 0; r < n_out; ++r) {
              const std::vector<float> row(m.rows.begin() + r * n_in, m.rows.begin() + (r + 1) * n_in);
              const double tol = activation_bound(activation_type(layout->type), row, x.data() + t * n_in, n_in);
              const size_t i = static_cast<size_t>(t * n_out + r);
              ASSERT_NEAR(y[i], want[i], tol)
                  << layout->name << " n_out=" << n_out << " tokens=" << n_tokens << " t=" << t << " r=" << r;
              ASSERT_EQ(y[i], alone[i]) << layout->name << " n_out=" << n_out << " tokens=" << n_tokens << " t=" << t
                                        << " r=" << r;
            }
          }
        }
      }
    }
  }
}

// Several products in one pass of the pool (a token's experts): each task gets the bits
// matmul() gives it alone, whatever the thread count, with packed rows where this CPU
// has a layout for the type and empty tasks among the rest.
TEST(Matmul, ManyInOnePassGiveEachTheBitsItGetsAlone) {
  std::vector<TestMatrix> ms;
  std::vector<std::vector<uint8_t>> packs;
  const GgmlType types[] = {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F32, GgmlType::Q4_0, GgmlType::Q8_0};
  const int64_t n_outs[] = {48, 37, 64, 5, 33, 16};
  for (size_t i = 0; i < std::size(types); ++i) {
    ms.push_back(make_matrix(types[i], n_outs[i], 512, 0, 900 + static_cast<uint32_t>(i)));
    packs.emplace_back();
    const PackedLayout* layout = packed_layout(dot_backend(), types[i]);
    if (layout && n_outs[i] >= layout->rows && packed_bytes(ms.back().w, *layout) > 0) {
      packs.back().resize(packed_bytes(ms.back().w, *layout));
      layout->pack(ms.back().w, packs.back().data(), 0, n_outs[i] / layout->rows);
      ms.back().w.packed = packs.back().data();
      ms.back().w.packed_layout = layout;
    }
  }
  const int64_t tokens[] = {1, 7, 0, 3, 19, 2};
  const auto x = gaussian(512 * 19, 901);
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<std::vector<float>> alone, together;
    std::vector<MatmulTask> tasks;
    for (size_t i = 0; i < ms.size(); ++i) {
      alone.emplace_back(static_cast<size_t>(n_outs[i] * std::max<int64_t>(tokens[i], 1)), NAN);
      together.emplace_back(alone.back().size(), NAN);
      matmul(ms[i].w, x.data(), tokens[i], alone.back().data(), pool);
      tasks.push_back({&ms[i].w, x.data(), tokens[i], together.back().data()});
    }
    matmul_many(tasks, pool);
    for (size_t i = 0; i < ms.size(); ++i) {
      ASSERT_EQ(std::memcmp(alone[i].data(), together[i].data(), alone[i].size() * sizeof(float)), 0)
          << "task " << i << " (" << ggml_type_name(types[i]) << "), " << threads << " threads";
    }
  }
}

// Every quant and scale at its largest against activations that all quantize to the
// largest magnitude (+127, then -127): whatever a kernel sums in 16 bits must not
// saturate (Q5_K's quants of 31 on AVX2 leave room for only 8 products in a lane).
TEST(Matmul, PackedKernelsDoNotSaturateOnTheLargestQuants) {
  for (const PackedLayout* layout : packed_layouts()) {
    const DotBackend& be = backend_of(layout);
    const int64_t n_in = 2 * layout->block_elems, n_out = layout->rows;
    auto m = make_matrix(layout->type, n_out, n_in, 0, 1000);
    for (int64_t r = 0; r < n_out; ++r) {
      uint8_t* row = m.data.data() + r * m.w.row_bytes;
      for (int64_t b = 0; b < n_in / layout->block_elems; ++b) {
        switch (layout->type) {
          case GgmlType::Q8_0: std::memset(reinterpret_cast<BlockQ8_0*>(row)[b].qs, 127, kQK8_0); break;
          case GgmlType::Q4_0: std::memset(reinterpret_cast<BlockQ4_0*>(row)[b].qs, 0xFF, kQK8_0 / 2); break;
          case GgmlType::Q4_K: {
            auto& k = reinterpret_cast<BlockQ4_K*>(row)[b];
            std::memset(k.qs, 0xFF, sizeof k.qs);
            std::memset(k.scales, 0xFF, sizeof k.scales);
            break;
          }
          case GgmlType::Q5_K: {
            auto& k = reinterpret_cast<BlockQ5_K*>(row)[b];
            std::memset(k.qs, 0xFF, sizeof k.qs);
            std::memset(k.qh, 0xFF, sizeof k.qh);
            std::memset(k.scales, 0xFF, sizeof k.scales);
            break;
          }
          case GgmlType::Q6_K: {
            auto& k = reinterpret_cast<BlockQ6_K*>(row)[b];
            std::memset(k.ql, 0xFF, sizeof k.ql);
            std::memset(k.qh, 0xFF, sizeof k.qh);
            std::memset(k.scales, 127, sizeof k.scales);
            break;
          }
          default: FAIL() << layout->name;
        }
      }
    }
    dequantize_row(m.w.type, m.data.data(), m.rows.data(), n_in * n_out);
    std::vector<uint8_t> packed(packed_bytes(m.w, *layout));
    layout->pack(m.w, packed.data(), 0, 1);
    WeightMatrix w = m.w;
    w.packed = packed.data();
    w.packed_layout = layout;
    ThreadPool one(1);
    for (float sign : {1.0f, -1.0f}) {
      for (int64_t n_tokens : {1, 4}) {
        const std::vector<float> x(static_cast<size_t>(n_in * n_tokens), sign);
        std::vector<float> y(static_cast<size_t>(n_out * n_tokens)), want(y.size());
        matmul_reference(w, x.data(), n_tokens, want.data(), one);
        matmul(w, x.data(), n_tokens, y.data(), one, be);
        for (int64_t t = 0; t < n_tokens; ++t) {
          for (int64_t r = 0; r < n_out; ++r) {
            const std::vector<float> row(m.rows.begin() + r * n_in, m.rows.begin() + (r + 1) * n_in);
            const size_t i = static_cast<size_t>(t * n_out + r);
            ASSERT_NEAR(y[i], want[i], activation_bound(activation_type(layout->type), row, x.data() + t * n_in, n_in))
                << layout->name << " sign " << sign << " tokens " << n_tokens << " r=" << r;
          }
        }
      }
    }
  }
}

// The packed kernels against the backend's own single-row dot on the same quantized
// activations: only float rounding apart (the integer sums are exact in both).
TEST(Matmul, PackedKernelsAgreeWithTheRowKernels) {
  for (const PackedLayout* layout : packed_layouts()) {
    const DotBackend& be = backend_of(layout);
    const int64_t n_in = 4 * layout->block_elems, n_out = layout->rows;
    auto m = make_matrix(layout->type, n_out, n_in, 0, 900);
    std::vector<uint8_t> packed(packed_bytes(m.w, *layout));
    layout->pack(m.w, packed.data(), 0, 1);
    const size_t x_bytes = activation_row_bytes(layout->type, n_in);
    std::vector<uint8_t> xq;
    const int n_x = layout->max_tokens;
    for (int j = 0; j < n_x; ++j) {
      const auto row = activation_row(layout->type, gaussian(static_cast<size_t>(n_in), 910 + j, 1.0f + j).data(), n_in);
      xq.insert(xq.end(), row.begin(), row.end());
    }
    std::vector<float> out(static_cast<size_t>(n_x * layout->rows));
    layout->dot(n_in, packed.data(), xq.data(), x_bytes, n_x, out.data());
    for (int j = 0; j < n_x; ++j) {
      const auto xd = dequantized(activation_type(layout->type), xq.data() + j * x_bytes, n_in);
      for (int r = 0; r < layout->rows; ++r) {
        float single;
        dot_kernel(be, layout->type)(n_in, m.data.data() + r * m.w.row_bytes, xq.data() + j * x_bytes, 0, 1, &single);
        double mag = 0;
        for (int64_t i = 0; i < n_in; ++i) mag += std::fabs(static_cast<double>(m.rows[r * n_in + i]) * xd[i]);
        EXPECT_NEAR(out[j * layout->rows + r], single, 1e-5 * mag) << layout->name << " j=" << j << " r=" << r;
      }
    }
  }
}

// The kernel-peak probe gives a finite, positive rate for every packed layout of every
// backend the CPU has, on 1-3 threads, and 0 where there is no packed kernel (float
// weights, the portable backend).
TEST(KernelPeak, ReportsAFinitePositiveRateWhereAPackedKernelExists) {
  for (const DotBackend* be : backends()) {
    for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K,
                                    GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::F32}) {
      for (int threads : {1, 3}) {
        ThreadPool pool(threads);
        const double macs = packed_kernel_peak_macs(*be, type, pool);
        if (!packed_layout(*be, type)) {
          EXPECT_EQ(macs, 0.0) << be->name << " " << ggml_type_name(type);
          continue;
        }
        EXPECT_GT(macs, 0.0) << be->name << " " << ggml_type_name(type) << " " << threads;
        EXPECT_TRUE(std::isfinite(macs)) << be->name << " " << ggml_type_name(type);
      }
    }
  }
}


}  // namespace
}  // namespace entropix
