// Calibration math: thresholds at the documented percentiles of synthetic samples.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "entropix/calibrate.h"
#include "entropix/policy.h"

using namespace entropix;

TEST(Calibrate, PercentileInterpolatesLikeNumpy) {
  std::vector<double> v{5, 1, 4, 2, 3};
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(percentile(v, 25), 2);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 3);
  EXPECT_DOUBLE_EQ(percentile(v, 100), 5);
  std::vector<double> w{10, 20, 30, 40};
  EXPECT_DOUBLE_EQ(percentile(w, 25), 17.5);  // numpy.percentile([10,20,30,40], 25)
  EXPECT_DOUBLE_EQ(percentile(w, 75), 32.5);
  std::vector<double> empty;
  EXPECT_THROW(percentile(empty, 50), Error);
  EXPECT_THROW(percentile(w, 101), Error);
}

TEST(Calibrate, ThresholdsSitAtQuartilesOfSyntheticDistributions) {
  // Entropy uniform on [0, 8], varentropy exponential with mean 2: quartiles known.
  std::mt19937 gen(3);
  std::uniform_real_distribution<double> h(0.0, 8.0);
  std::exponential_distribution<double> v(0.5);
  std::vector<TokenMetrics> s(20000);
  for (auto& m : s) {
    m.entropy = h(gen);
    m.varentropy = v(gen);
  }
  const Profile p = calibrate_profile(s, Profile{});
  EXPECT_NEAR(p.thresholds.entropy_low, 2.0, 0.1);
  EXPECT_NEAR(p.thresholds.entropy_high, 6.0, 0.1);
  EXPECT_NEAR(p.v2.entropy_medium, 4.0, 0.1);
  EXPECT_NEAR(p.thresholds.varentropy_low, -2.0 * std::log(0.75), 0.05);
  EXPECT_NEAR(p.thresholds.varentropy_high, -2.0 * std::log(0.25), 0.1);
  // No attention samples: v2 attention thresholds stay those of the base profile.
  EXPECT_EQ(p.v2.agreement_low, Profile{}.v2.agreement_low);
  EXPECT_NE(p.description.find("20000 tokens"), std::string::npos);
  // By construction about a quarter of the tokens is below each low threshold.
  int lelv = 0;
  for (const auto& m : s) lelv += classify(m, p) == State::LELV;
  EXPECT_NEAR(lelv / 20000.0, 0.25 * 0.25, 0.01);  // independent H and V
}

TEST(Calibrate, AttentionThresholdsFromSamplesThatHaveThem) {
  std::vector<TokenMetrics> s;
  for (int i = 0; i < 101; ++i) {
    TokenMetrics m;
    m.entropy = i * 0.1;
    m.varentropy = i * 0.2;
    if (i % 2 == 0) {
      m.has_attention = true;
      m.attn_entropy = i;              // even i: 0..100
      m.attn_varentropy = i * 0.01;
      m.agreement = i * 0.001;
      m.interaction = 1 + i * 0.05;
    }
    s.push_back(m);
  }
  CalibrationOptions o;
  o.low_percentile = 10;
  o.high_percentile = 90;
  const Profile p = calibrate_profile(s, Profile{}, o);
  EXPECT_NEAR(p.thresholds.entropy_low, 1.0, 1e-9);
  EXPECT_NEAR(p.thresholds.entropy_high, 9.0, 1e-9);
  EXPECT_NEAR(p.thresholds.varentropy_high, 18.0, 1e-9);
  EXPECT_NEAR(p.v2.attn_entropy_low, 10.0, 1e-9);  // 10th percentile of 0, 2, ..., 100
  EXPECT_NEAR(p.v2.attn_entropy_high, 90.0, 1e-9);
  EXPECT_NEAR(p.v2.agreement_high, 0.09, 1e-9);
  EXPECT_NEAR(p.v2.interaction_low, 1.5, 1e-9);
}

TEST(Calibrate, RejectsTooFewOrDegenerateSamples) {
  std::vector<TokenMetrics> s(10);
  EXPECT_THROW(calibrate_profile(s, Profile{}), Error);
  s.resize(100);  // all zero: the quartiles coincide
  try {
    calibrate_profile(s, Profile{});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("percentiles of entropy coincide"), std::string::npos) << e.what();
  }
  for (size_t i = 0; i < s.size(); ++i) s[i].entropy = s[i].varentropy = static_cast<double>(i);
  s[5].varentropy = std::nan("");
  EXPECT_THROW(calibrate_profile(s, Profile{}), Error);
}
