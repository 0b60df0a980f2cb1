// Uncertainty metrics against the float64 reference vectors
// (shared/testdata/entropix-vectors.json) and fast path vs scalar reference.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "kernels/logit_kernels.h"
#include "entropix/metrics.h"
#include "entropix/policy.h"
#include "entropix/token_sampler.h"
#include "sampling/sampler.h"
#include "support.h"

using namespace entropix;

namespace {

// Tolerance for float32 inputs against the float64 reference: relative 1e-5,
// plus an absolute floor of 1e-12 for quantities that are (near) zero.
void expect_close(double got, double want, const std::string& what) {
  EXPECT_LE(std::fabs(got - want), 1e-5 * std::fabs(want) + 1e-12) << what << ": got " << got << " want " << want;
}

nlohmann::json vectors() {
  return nlohmann::json::parse(entropix::testing::read_file(entropix::testing::testdata_dir() / "entropix-vectors.json"));
}

float to_float(const nlohmann::json& v) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "-inf") return -std::numeric_limits<float>::infinity();
    if (s == "inf") return std::numeric_limits<float>::infinity();
    return std::numeric_limits<float>::quiet_NaN();
  }
  return v.get<float>();
}

std::vector<float> read_f32(const std::filesystem::path& p) {
  const std::string bytes = entropix::testing::read_file(p);
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

std::vector<const LogitKernels*> all_kernels() {
  std::vector<const LogitKernels*> k{&logit_kernels_scalar()};
  if (logit_kernels_avx2()) k.push_back(logit_kernels_avx2());
  return k;
}

LogitMetrics metrics_with(const LogitKernels* k, std::span<const float> l) {
  return k == &logit_kernels_scalar() ? compute_logit_metrics_scalar(l) : compute_logit_metrics(l);
}

void check_logit_case(const nlohmann::json& c, std::span<const float> logits) {
  for (const LogitKernels* k : all_kernels()) {
    if (k != &logit_kernels_scalar() && &logit_kernels() != k) continue;
    const std::string what = c["name"].get<std::string>() + " [" + k->name + "]";
    const LogitMetrics m = metrics_with(k, logits);
    expect_close(m.entropy, c["entropy"].get<double>(), what + " entropy");
    expect_close(m.varentropy, c["varentropy"].get<double>(), what + " varentropy");
    EXPECT_EQ(m.top1, c["top1"].get<int32_t>()) << what;
    expect_close(m.top1_prob, c["top1_prob"].get<double>(), what + " top1_prob");
    expect_close(m.top2_prob, c["top2_prob"].get<double>(), what + " top2_prob");
    EXPECT_FALSE(std::isnan(m.entropy) || std::isnan(m.varentropy)) << what;
  }
}

}  // namespace

TEST(Metrics, LogitCasesMatchReferenceVectors) {
  ENTROPIX_REQUIRE_TESTDATA();
  const auto v = vectors();
  ASSERT_EQ(v["logit_cases"].size(), 10u);
  for (const auto& c : v["logit_cases"]) {
    std::vector<float> logits;
    for (const auto& x : c["logits"]) logits.push_back(to_float(x));
    check_logit_case(c, logits);
  }
}

TEST(Metrics, Vocab128256FileMatchesReference) {
  ENTROPIX_REQUIRE_TESTDATA();
  const auto v = vectors();
  for (const auto& c : v["logit_file_cases"]) {
    const auto logits = read_f32(entropix::testing::testdata_dir() / c["file"].get<std::string>());
    ASSERT_EQ(logits.size(), 128256u);
    check_logit_case(c, logits);
  }
}

TEST(Metrics, AttentionCasesMatchReferenceVectors) {
  ENTROPIX_REQUIRE_TESTDATA();
  const auto v = vectors();
  ASSERT_EQ(v["attention_cases"].size(), 5u);
  AttentionAnalyzer an;
  for (const auto& c : v["attention_cases"]) {
    const int nh = c["n_head"], np = c["n_pos"];
    std::vector<float> s;
    for (const auto& row : c["scores"]) {
      ASSERT_EQ(row.size(), static_cast<size_t>(np));
      for (const auto& x : row) s.push_back(x.get<float>());
    }
    ASSERT_EQ(s.size(), static_cast<size_t>(nh * np));
    const AttentionMetrics a = an.compute(s.data(), nh, np);
    const std::string name = c["name"];
    expect_close(a.entropy, c["attn_entropy"].get<double>(), name + " attn_entropy");
    expect_close(a.varentropy, c["attn_varentropy"].get<double>(), name + " attn_varentropy");
    expect_close(a.agreement, c["agreement"].get<double>(), name + " agreement");
    expect_close(a.interaction, c["interaction_strength"].get<double>(), name + " interaction");
  }
}

TEST(Metrics, AttentionOfOneHeadHasNoVarentropyAndNoDisagreement) {
  // One head: the variance across heads is over a single value (the original
  // produced NaN there) and every position equals its head mean.
  const std::vector<float> s{0.5f, -1.0f, 2.0f, 0.0f};
  AttentionAnalyzer an;
  const AttentionMetrics a = an.compute(s.data(), 1, 4);
  EXPECT_EQ(a.varentropy, 0.0);
  EXPECT_EQ(a.agreement, 0.0);
  EXPECT_GT(a.entropy, 0.0);
  EXPECT_NEAR(a.interaction, (0.5 + 1.0 + 2.0 + 0.0) / 4, 1e-12);
  EXPECT_THROW(an.compute(s.data(), 0, 4), Error);
}

TEST(Metrics, FastKernelsAgreeWithScalarOnRandomRows) {
  const LogitKernels* fast = logit_kernels_avx2();
  if (!fast) GTEST_SKIP() << "no AVX2 kernels on this build or CPU";
  const LogitKernels& ref = logit_kernels_scalar();
  std::mt19937 gen(7);
  for (size_t n : {1u, 2u, 7u, 8u, 9u, 15u, 16u, 17u, 33u, 100u, 1000u, 32001u}) {
    for (float scale : {0.1f, 2.0f, 30.0f}) {
      std::normal_distribution<float> d(0.0f, scale);
      std::vector<float> l(n);
      for (auto& x : l) x = d(gen);
      if (n > 4) {
        l[n / 2] = -std::numeric_limits<float>::infinity();
        l[n / 3] = l[1];  // a tie
      }
      const LogitTop2 a = fast->top2(l.data(), n), b = ref.top2(l.data(), n);
      EXPECT_EQ(a.top1, b.top1) << n;
      EXPECT_EQ(a.top2, b.top2) << n;
      const ExpMoments ma = fast->exp_moments(l.data(), n, b.top1_logit);
      const ExpMoments mb = ref.exp_moments(l.data(), n, b.top1_logit);
      EXPECT_NEAR(ma.s0, mb.s0, 1e-6 * mb.s0);
      EXPECT_NEAR(ma.s1, mb.s1, 1e-6 * std::fabs(mb.s1) + 1e-12);
      EXPECT_NEAR(ma.s2, mb.s2, 1e-6 * std::fabs(mb.s2) + 1e-12);
      std::vector<float> wa(n), wb(n);
      const double za = fast->exp_sum(l.data(), n, b.top1_logit, 1.5f, wa.data());
      const double zb = ref.exp_sum(l.data(), n, b.top1_logit, 1.5f, wb.data());
      EXPECT_NEAR(za, zb, 1e-6 * zb);
      for (size_t i = 0; i < n; ++i) ASSERT_NEAR(wa[i], wb[i], 2e-7f * wb[i] + std::numeric_limits<float>::min()) << i;  // below the normal range: 0 allowed
    }
  }
}

TEST(Metrics, TopTwoTiesGoToLowestIdsAndMinusInfRowsWork) {
  for (const LogitKernels* k : all_kernels()) {
    std::vector<float> l(20, -std::numeric_limits<float>::infinity());
    l[13] = 1.0f;
    LogitTop2 t = k->top2(l.data(), l.size());
    EXPECT_EQ(t.top1, 13) << k->name;
    EXPECT_EQ(t.top2, 0) << k->name;  // the lowest id among the -inf rest
    l[3] = 1.0f;
    l[17] = 1.0f;
    t = k->top2(l.data(), l.size());
    EXPECT_EQ(t.top1, 3) << k->name;
    EXPECT_EQ(t.top2, 13) << k->name;
  }
}

TEST(Metrics, MinusInfAndNaNContributeNothing) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const std::vector<float> a{2.0f, 1.0f, 0.5f};
  const std::vector<float> b{ninf, 2.0f, ninf, 1.0f, std::nanf(""), 0.5f, ninf, ninf, ninf, ninf};
  const LogitMetrics ma = compute_logit_metrics(a), mb = compute_logit_metrics(b);
  const LogitMetrics sb = compute_logit_metrics_scalar(b);
  for (const LogitMetrics* m : {&mb, &sb}) {
    EXPECT_NEAR(m->entropy, ma.entropy, 1e-6);
    EXPECT_NEAR(m->varentropy, ma.varentropy, 1e-6);
    EXPECT_EQ(m->top1, 1);
    EXPECT_EQ(m->top2, 3);
    EXPECT_NEAR(m->logprob(b, 5), ma.logprob(a, 2), 1e-6);
  }
  EXPECT_EQ(mb.logprob(b, 0), -std::numeric_limits<double>::infinity());
  EXPECT_THROW(compute_logit_metrics(std::vector<float>(9, ninf)), Error);
  EXPECT_THROW(compute_logit_metrics(std::vector<float>{}), Error);
}

TEST(Metrics, LogprobIsLogSoftmaxAndShiftInvariant) {
  std::vector<float> l{0.3f, -1.2f, 4.0f, 2.5f, 2.5f};
  double z = 0;
  for (float x : l) z += std::exp(static_cast<double>(x));
  const LogitMetrics m = compute_logit_metrics(l);
  for (int32_t i = 0; i < 5; ++i) EXPECT_NEAR(m.logprob(l, i), l[static_cast<size_t>(i)] - std::log(z), 1e-6);
  EXPECT_EQ(m.top2, 3);
  std::vector<float> shifted = l;
  for (auto& x : shifted) x += 1000.0f;
  const LogitMetrics s = compute_logit_metrics(shifted);
  EXPECT_NEAR(s.entropy, m.entropy, 1e-5);
  EXPECT_NEAR(s.varentropy, m.varentropy, 1e-4);
}

// Cost at a 128256-token vocabulary; prints, never asserts a time.
TEST(MetricsBenchmark, PrintsMicrosecondsPerToken) {
  std::mt19937 gen(1);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> l(128256);
  for (auto& x : l) x = d(gen);
  auto time_us = [](auto&& fn) {
    for (int i = 0; i < 5; ++i) fn();
    const int reps = 200;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) fn();
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / reps;
  };
  volatile double sink = 0;
  const double fast = time_us([&] { sink = sink + compute_logit_metrics(l).entropy; });
  const double scalar = time_us([&] { sink = sink + compute_logit_metrics_scalar(l).entropy; });
  EntropixSampler es{Profile{}};
  Rng rng(3);
  const double step = time_us([&] { sink = sink + es.step(l, nullptr, rng).logprob; });
  std::vector<float> scores(32 * 4096);
  for (auto& x : scores) x = d(gen);
  AttentionAnalyzer an(scores.size());
  const double attn = time_us([&] { sink = sink + an.compute(scores.data(), 32, 4096).entropy; });
  Sampler sampler(l.size());
  const double top_k = time_us([&] { sink = sink + sampler.sample(l, {0.7f, 27, 0.9f, 0.03f}, rng); });
  const double top_p = time_us([&] { sink = sink + sampler.sample(l, {1.0f, 0, 0.9f, 0.0f}, rng); });
  const double plain = time_us([&] { sink = sink + sampler.sample(l, {1.0f, 0, 1.0f, 0.0f}, rng); });
  std::printf("[bench] n_vocab=128256 kernels=%s: logit metrics %.1f us (scalar %.1f us); "
              "entropix step (metrics + alternatives + policy + draw) %.1f us; "
              "attention metrics 32 heads x 4096 positions %.1f us; "
              "sampler top-k 27 %.1f us, top-p 0.9 alone %.1f us, no truncation %.1f us\n",
              logit_kernels().name, fast, scalar, step, attn, top_k, top_p, plain);
  EXPECT_GT(fast, 0.0);
}
