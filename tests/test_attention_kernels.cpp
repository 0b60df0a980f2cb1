// The attention loops of every backend the machine has against a double-precision
// reference: scores q_g . k_i * scale against a transposed key page and value sums, for
// 1 to 16 query rows per pass, head dimensions with and without a multiple of 8 and 16,
// and short and whole pages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/attention_kernels.h"
#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/quant.h"

using namespace entropix;

namespace {

std::vector<const AttentionKernels*> backends() {
  std::vector<const AttentionKernels*> b{&scalar_attention_kernels()};
  if (const AttentionKernels* avx2 = avx2_attention_kernels()) b.push_back(avx2);
  if (const AttentionKernels* avx512 = avx512_attention_kernels()) b.push_back(avx512);
  return b;
}

TEST(AttentionKernels, ScoresAndValuesMatchADoubleReferenceOnEveryBackend) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int32_t P = kKeyPageRows;
  for (const AttentionKernels* k : backends()) {
    for (int32_t hd : {64, 128, 40, 24}) {
      for (int32_t n_q : {1, 2, 3, 4, 5, 8, 13, 16}) {
        for (int32_t n_rows : {1, 7, 16}) {
          for (bool f16 : {false, true}) {
            SCOPED_TRACE(std::string(k->name) + (f16 ? " f16" : " f32") + " hd " + std::to_string(hd) + " rows " +
                         std::to_string(n_q) + " keys " + std::to_string(n_rows));
            const size_t row_stride = size_t(hd) * 3 + 8;  // value rows of a KV page: other heads between them
            std::vector<float> q(size_t(n_q) * hd), kt(size_t(hd) * P), v(size_t(n_rows) * row_stride);
            for (float& x : q) x = normal(rng);
            for (float& x : kt) x = normal(rng);
            for (float& x : v) x = normal(rng);
            // The fp16 loops read the same keys and values rounded to fp16; the reference
            // then takes the rounded values.
            std::vector<uint16_t> kt16(kt.size()), v16(v.size());
            if (f16) {
              for (size_t i = 0; i < kt.size(); ++i) kt[i] = fp16_to_f32(kt16[i] = f32_to_fp16(kt[i]));
              for (size_t i = 0; i < v.size(); ++i) v[i] = fp16_to_f32(v16[i] = f32_to_fp16(v[i]));
            }
            const size_t stride = 40;
            std::vector<float> scores(size_t(n_q) * stride, -1.0f);
            if (f16) {
              k->scores_f16(q.data(), n_q, kt16.data(), hd, 0.125f, scores.data(), stride);
            } else {
              k->scores(q.data(), n_q, kt.data(), hd, 0.125f, scores.data(), stride);
            }
            std::vector<float> out(size_t(n_q) * hd, 0.5f);
            for (int32_t g = 0; g < n_q; ++g) {
              for (int32_t i = 0; i < P; ++i) {
                double dot = 0;
                for (int32_t d = 0; d < hd; ++d) dot += double(q[size_t(g) * hd + d]) * kt[size_t(d) * P + i];
                EXPECT_NEAR(scores[size_t(g) * stride + i], 0.125 * dot, 1e-5 * hd) << g << " " << i;
              }
              EXPECT_EQ(scores[size_t(g) * stride + P], -1.0f) << "wrote past the page";
            }
            if (f16) {
              k->values_f16(scores.data(), stride, n_q, v16.data(), row_stride, n_rows, hd, out.data());
            } else {
              k->values(scores.data(), stride, n_q, v.data(), row_stride, n_rows, hd, out.data());
            }
            for (int32_t g = 0; g < n_q; ++g)
              for (int32_t d = 0; d < hd; ++d) {
                double sum = 0.5;
                for (int32_t i = 0; i < n_rows; ++i) sum += double(scores[size_t(g) * stride + i]) * v[size_t(i) * row_stride + d];
                EXPECT_NEAR(out[size_t(g) * hd + d], sum, 1e-4) << g << " " << d;
              }
          }
        }
      }
    }
  }
}

// A run of pages gives what the one-page loops give page by page, bit for bit, on every
// backend: 1-16 rows, 1-16 pages, a last page of 1-16 rows, head sizes with and without
// a multiple of 16 or 8 (the AVX2 runs' chunk tails and their fallback, the AVX-512 runs'
// chunks of 64 columns and their tail).
TEST(AttentionKernels, ARunOfPagesGivesTheOnePageFiguresBitForBit) {
  std::mt19937 rng(21);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int32_t P = kKeyPageRows;
  for (const AttentionKernels* k : backends()) {
    for (int32_t hd : {64, 128, 80, 256, 40, 24, 12}) {
      for (int32_t n_q : {1, 3, 4, 5, 16}) {
        for (int32_t n_pages : {1, 2, 3, 7, 16}) {
          for (int32_t n_last : {1, 9, 16}) {
            for (bool f16 : {false, true}) {
              SCOPED_TRACE(std::string(k->name) + (f16 ? " f16" : " f32") + " hd " + std::to_string(hd) + " rows " +
                           std::to_string(n_q) + " pages " + std::to_string(n_pages) + " last " + std::to_string(n_last));
              const size_t v_stride = size_t(hd) + 8;
              std::vector<float> q(size_t(n_q) * hd), kt(size_t(n_pages) * hd * P), v(size_t(n_pages) * P * v_stride);
              for (float& x : q) x = normal(rng);
              for (float& x : kt) x = normal(rng);
              for (float& x : v) x = normal(rng);
              std::vector<uint16_t> kt16(kt.size()), v16(v.size());
              for (size_t i = 0; i < kt.size(); ++i) kt16[i] = f32_to_fp16(kt[i]);
              for (size_t i = 0; i < v.size(); ++i) v16[i] = f32_to_fp16(v[i]);
              std::vector<const void*> keys, values;
              for (int32_t j = 0; j < n_pages; ++j) {
                keys.push_back(f16 ? static_cast<const void*>(kt16.data() + size_t(j) * hd * P)
                                   : static_cast<const void*>(kt.data() + size_t(j) * hd * P));
                values.push_back(f16 ? static_cast<const void*>(v16.data() + size_t(j) * P * v_stride)
                                     : static_cast<const void*>(v.data() + size_t(j) * P * v_stride));
              }
              const size_t stride = size_t(n_pages) * P + 3;
              std::vector<float> run(size_t(n_q) * stride, -1.0f), one(run);
              // The pages to ask memory for while on these: any pages of the same form.
              const std::vector<const void*> keys_ahead(keys.rbegin(), keys.rend()), values_ahead(values.rbegin(), values.rend());
              (f16 ? k->scores_pages_f16 : k->scores_pages)(q.data(), n_q, keys.data(), keys_ahead.data(), n_pages, hd, 0.125f,
                                                            run.data(), stride);
              for (int32_t j = 0; j < n_pages; ++j) {
                if (f16) {
                  k->scores_f16(q.data(), n_q, kt16.data() + size_t(j) * hd * P, hd, 0.125f, one.data() + size_t(j) * P, stride);
                } else {
                  k->scores(q.data(), n_q, kt.data() + size_t(j) * hd * P, hd, 0.125f, one.data() + size_t(j) * P, stride);
                }
              }
              ASSERT_EQ(run, one);
              std::vector<float> out_run(size_t(n_q) * hd, 0.25f), out_one(out_run);
              (f16 ? k->values_pages_f16 : k->values_pages)(run.data(), stride, n_q, values.data(), values_ahead.data(), n_pages,
                                                            n_last, v_stride,
                                                            hd, out_run.data());
              for (int32_t j = 0; j < n_pages; ++j) {
                const int32_t rows = j + 1 < n_pages ? P : n_last;
                if (f16) {
                  k->values_f16(run.data() + size_t(j) * P, stride, n_q, v16.data() + size_t(j) * P * v_stride, v_stride, rows,
                                hd, out_one.data());
                } else {
                  k->values(run.data() + size_t(j) * P, stride, n_q, v.data() + size_t(j) * P * v_stride, v_stride, rows, hd,
                            out_one.data());
                }
              }
              ASSERT_EQ(out_run, out_one);
            }
          }
        }
      }
    }
  }
}

// Q8_0 keys and values: the kernels' figures against double precision on the dequantized
// elements, and a row's bits the same alone or in a group.
TEST(AttentionKernels, Q8_0KeysAndValuesMatchADoubleReferenceOnEveryBackend) {
  std::mt19937 rng(12);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int32_t P = kKeyPageRows;
  for (const AttentionKernels* k : backends()) {
    for (int32_t hd : {32, 64, 128}) {
      for (int32_t n_q : {1, 2, 3, 4, 7, 8, 16}) {
        for (int32_t n_rows : {1, 9, 16}) {
          SCOPED_TRACE(std::string(k->name) + " hd " + std::to_string(hd) + " rows " + std::to_string(n_q) + " keys " +
                       std::to_string(n_rows));
          const int32_t nb = hd / kQK8_0;
          std::vector<float> q(size_t(n_q) * hd);
          for (float& x : q) x = normal(rng);
          // Keys: P keys of hd elements, quantized per key and block as the cache does.
          std::vector<int8_t> kt(size_t(hd) * P);
          std::vector<uint16_t> ks(size_t(nb) * P);
          std::vector<float> key(size_t(hd) * P);  // dequantized, [d][i]
          for (int32_t i = 0; i < P; ++i) {
            std::vector<float> row(static_cast<size_t>(hd));
            for (float& x : row) x = normal(rng) * (i % 3 == 0 ? 10.0f : 1.0f);
            std::vector<BlockQ8_0> blocks(static_cast<size_t>(nb));
            quantize_row(GgmlType::Q8_0, row.data(), blocks.data(), hd);
            for (int32_t b = 0; b < nb; ++b) {
              ks[size_t(b) * P + i] = blocks[size_t(b)].d;
              for (int32_t l = 0; l < kQK8_0; ++l) {
                const int32_t d = b * kQK8_0 + l;
                kt[size_t(d) * P + i] = blocks[size_t(b)].qs[l];
                key[size_t(d) * P + i] = float(blocks[size_t(b)].qs[l]) * fp16_to_f32(blocks[size_t(b)].d);
              }
            }
          }
          // Value rows: hd elements of a head within longer rows (other heads around them).
          const size_t row_stride = size_t(hd + 2 * kQK8_0) / kQK8_0 * sizeof(BlockQ8_0);
          std::vector<uint8_t> v(size_t(n_rows) * row_stride);
          std::vector<float> value(size_t(n_rows) * hd);
          for (int32_t i = 0; i < n_rows; ++i) {
            std::vector<float> row(size_t(hd) + 2 * kQK8_0);
            for (float& x : row) x = normal(rng);
            quantize_row(GgmlType::Q8_0, row.data(), v.data() + size_t(i) * row_stride, int64_t(row.size()));
            const auto* blocks = reinterpret_cast<const BlockQ8_0*>(v.data() + size_t(i) * row_stride) + 1;
            for (int32_t d = 0; d < hd; ++d) {
              const BlockQ8_0& block = blocks[d / kQK8_0];
              value[size_t(i) * hd + size_t(d)] = float(block.qs[d % kQK8_0]) * fp16_to_f32(block.d);
            }
          }
          const uint8_t* head_values = v.data() + sizeof(BlockQ8_0);  // the head starts one block in
          const size_t stride = 40;
          std::vector<float> scores(size_t(n_q) * stride, -1.0f);
          k->scores_q8(q.data(), n_q, kt.data(), ks.data(), hd, 0.125f, scores.data(), stride);
          for (int32_t g = 0; g < n_q; ++g) {
            for (int32_t i = 0; i < P; ++i) {
              double dot = 0;
              for (int32_t d = 0; d < hd; ++d) dot += double(q[size_t(g) * hd + d]) * key[size_t(d) * P + i];
              EXPECT_NEAR(scores[size_t(g) * stride + i], 0.125 * dot, 1e-5 * hd * (i % 3 == 0 ? 10 : 1)) << g << " " << i;
            }
            EXPECT_EQ(scores[size_t(g) * stride + P], -1.0f) << "wrote past the page";
          }
          std::vector<float> out(size_t(n_q) * hd, 0.5f);
          k->values_q8(scores.data(), stride, n_q, head_values, row_stride, n_rows, hd, out.data());
          for (int32_t g = 0; g < n_q; ++g) {
            for (int32_t d = 0; d < hd; ++d) {
              double sum = 0.5;
              for (int32_t i = 0; i < n_rows; ++i) sum += double(scores[size_t(g) * stride + i]) * value[size_t(i) * hd + d];
              EXPECT_NEAR(out[size_t(g) * hd + d], sum, 1e-4 * hd) << g << " " << d;
            }
          }
          // Each row alone gives the bits it gave in the group.
          for (int32_t g = 0; g < n_q; ++g) {
            std::vector<float> one(P), out_one(size_t(hd), 0.5f);
            k->scores_q8(q.data() + size_t(g) * hd, 1, kt.data(), ks.data(), hd, 0.125f, one.data(), P);
            EXPECT_EQ(std::vector<float>(scores.begin() + g * stride, scores.begin() + g * stride + P), one) << g;
            k->values_q8(scores.data() + size_t(g) * stride, stride, 1, head_values, row_stride, n_rows, hd, out_one.data());
            EXPECT_EQ(std::vector<float>(out.begin() + g * hd, out.begin() + (g + 1) * hd), out_one) << g;
          }
        }
      }
    }
  }
}

// A row's figures do not depend on how many rows share the pass (the engine groups heads
// and tokens by tile and thread count): bit for bit.
TEST(AttentionKernels, ARowGivesTheSameBitsAloneOrInAGroup) {
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int32_t hd = 64, n_rows = kKeyPageRows, n_q = 16;
  std::vector<float> q(size_t(n_q) * hd), kt(size_t(hd) * kKeyPageRows), v(size_t(n_rows) * hd);
  for (float& x : q) x = normal(rng);
  for (float& x : kt) x = normal(rng);
  for (float& x : v) x = normal(rng);
  for (const AttentionKernels* k : backends()) {
    std::vector<float> group(size_t(n_q) * n_rows), one(n_rows), out_group(size_t(n_q) * hd, 0.0f), out_one(hd, 0.0f);
    k->scores(q.data(), n_q, kt.data(), hd, 0.125f, group.data(), n_rows);
    k->values(group.data(), n_rows, n_q, v.data(), size_t(hd), n_rows, hd, out_group.data());
    for (int32_t g = 0; g < n_q; ++g) {
      k->scores(q.data() + size_t(g) * hd, 1, kt.data(), hd, 0.125f, one.data(), n_rows);
      EXPECT_EQ(std::vector<float>(group.begin() + g * n_rows, group.begin() + (g + 1) * n_rows), one) << k->name << " " << g;
      std::fill(out_one.begin(), out_one.end(), 0.0f);
      k->values(one.data(), n_rows, 1, v.data(), size_t(hd), n_rows, hd, out_one.data());
      EXPECT_EQ(std::vector<float>(out_group.begin() + g * hd, out_group.begin() + (g + 1) * hd), out_one) << k->name << " " << g;
    }
  }
}

}  // namespace

namespace {

// A block's exponentials as attention meets them (short, long, with a tail past a
// multiple of 8, spread from -100 to 30): the largest entry exactly, each exp(x - max)
// within 1e-6 relative of double precision (of the difference as a float, which every
// implementation rounds alike), never negative, and their sum.
TEST(AttentionKernels, ExponentiateMatchesADoubleReferenceOnEveryBackend) {
  std::mt19937 rng(2);
  for (const AttentionKernels* k : backends()) {
    for (int32_t n : {1, 5, 8, 13, 64, 256, 1000}) {
      for (float spread : {1.0f, 10.0f, 40.0f}) {
        std::normal_distribution<float> normal(0.0f, spread);
        std::vector<float> x(static_cast<size_t>(n), 0.0f);
        for (float& v : x) v = std::clamp(normal(rng), -100.0f, 30.0f);
        const float want_max = *std::max_element(x.begin(), x.end());
        std::vector<double> want(x.size());
        double want_sum = 0;
        for (size_t i = 0; i < x.size(); ++i) want_sum += (want[i] = std::exp(double(x[i] - want_max)));
        float max = -1.0f;
        const float sum = k->exponentiate(x.data(), n, &max);
        EXPECT_EQ(max, want_max) << k->name << " n " << n;
        for (int32_t i = 0; i < n; ++i) {
          EXPECT_NEAR(x[size_t(i)], want[size_t(i)], 1e-6 * std::max(want[size_t(i)], 1e-30)) << k->name << " n " << n << " at " << i;
          EXPECT_GE(x[size_t(i)], 0.0f);
        }
        EXPECT_NEAR(sum, want_sum, 1e-6 * want_sum) << k->name << " n " << n;
      }
    }
  }
}

}  // namespace
