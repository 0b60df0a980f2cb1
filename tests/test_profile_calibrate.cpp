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

// A confident model: most tokens have H and V near 0. Over all tokens V's quartiles
// sit below every uncertain token's V (no HELV); over the uncertain tokens they are
// that group's percentiles, so a quarter of them is HELV and a tenth HEHV.
TEST(Calibrate, VarentropyOverTheUncertainTokensSplitsThem) {
  std::mt19937 gen(5);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<TokenMetrics> s(8000);
  for (size_t i = 0; i < s.size(); ++i) {
    const bool uncertain = i % 8 == 0;  // 1000 tokens
    s[i].entropy = uncertain ? 1.0 + u(gen) : 0.01 * u(gen);
    s[i].varentropy = uncertain ? 0.2 + 0.8 * u(gen) : 0.001 * u(gen);  // uniform on [0.2, 1] when uncertain
  }
  CalibrationOptions all;
  all.high_percentile = 90;  // entropy_high inside the uncertain eighth: its 20th percentile, 1.2
  const Profile p_all = calibrate_profile(s, Profile{}, all);
  int helv_all = 0;
  for (const auto& m : s) helv_all += classify(m, p_all) == State::HELV;
  EXPECT_EQ(helv_all, 0);

  CalibrationOptions unc = all;
  unc.varentropy_over = VarentropyOver::Uncertain;
  const Profile p = calibrate_profile(s, Profile{}, unc);
  EXPECT_EQ(p.thresholds.entropy_low, p_all.thresholds.entropy_low);
  EXPECT_EQ(p.thresholds.entropy_high, p_all.thresholds.entropy_high);
  EXPECT_NEAR(p.thresholds.varentropy_low, 0.2 + 0.8 * 0.25, 0.03);
  EXPECT_NEAR(p.thresholds.entropy_high, 1.2, 0.03);
  EXPECT_NEAR(p.thresholds.varentropy_high, 0.2 + 0.8 * 0.90, 0.03);
  int helv = 0, hehv = 0, n_unc = 0;
  for (const auto& m : s) {
    if (m.entropy <= p.thresholds.entropy_high) continue;
    ++n_unc;
    helv += classify(m, p) == State::HELV;
    hehv += classify(m, p) == State::HEHV;
  }
  EXPECT_NEAR(n_unc, 800, 2);
  EXPECT_NEAR(static_cast<double>(helv) / n_unc, 0.25, 0.03);
  EXPECT_NEAR(static_cast<double>(hehv) / n_unc, 0.10, 0.03);
  EXPECT_NE(p.description.find("varentropy over the"), std::string::npos) << p.description;

  // Too few uncertain tokens to take percentiles over is an error, not a guess.
  std::vector<TokenMetrics> few(s.begin(), s.begin() + 200);  // 25 uncertain
  EXPECT_THROW(calibrate_profile(few, Profile{}, unc), Error);
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
