// The calibration run on the demo model: one sample per scored position, the same
// metrics as the engine's logits give position by position, and a profile that
// validates.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "entropix/calibrate.h"
#include "entropix/calibrate_run.h"
#include "model/engine.h"
#include "support.h"
#include "tokenizer/tokenizer.h"

using namespace entropix;

namespace {

constexpr int32_t kWindow = 48;  // 47 text tokens after BOS

std::unique_ptr<Engine> load_demo(bool attention) {
  EngineOptions o = calibration_engine_options(kWindow, Profile{}, 2);
  o.attention_scores = attention;
  return Engine::load((entropix::testing::source_dir() / "models/demo/demo-q8_0.gguf").string(), o);
}

// The first n tokens of the shipped reference text.
std::vector<int32_t> reference_tokens(const Engine& engine, size_t n) {
  const std::string text =
      entropix::testing::read_file(entropix::testing::source_dir() / "data/tasks/calibration.txt");
  std::vector<int32_t> tokens = engine.tokenizer().encode(text.substr(0, 4 * n + 64), false, false);
  EXPECT_GE(tokens.size(), n);
  tokens.resize(n);
  return tokens;
}

TEST(CalibrateRun, OneSamplePerScoredPositionWithProgressPerWindow) {
  auto engine = load_demo(true);
  const int32_t bos = engine->tokenizer().bos();
  ASSERT_GE(bos, 0);  // the demo vocabulary has one: each window scores it too
  const std::vector<int32_t> tokens = reference_tokens(*engine, 200);
  std::vector<std::pair<size_t, size_t>> calls;
  const auto progress = [&](size_t done, size_t total) { calls.push_back({done, total}); };
  const auto samples = measure_text_metrics(*engine, tokens, kWindow, progress);
  const size_t n_windows = (tokens.size() + kWindow - 2) / (kWindow - 1);  // 5: 4 x 47 + 12
  EXPECT_EQ(samples.size(), tokens.size() + n_windows);
  ASSERT_EQ(calls.size(), n_windows);
  for (size_t w = 0; w < n_windows; ++w) {
    EXPECT_EQ(calls[w].first, std::min(tokens.size(), (w + 1) * (kWindow - 1)));
    EXPECT_EQ(calls[w].second, tokens.size());
  }
  for (const TokenMetrics& m : samples) {
    EXPECT_TRUE(m.has_attention);
    EXPECT_TRUE(std::isfinite(m.entropy) && m.entropy >= 0);
    EXPECT_TRUE(std::isfinite(m.varentropy) && m.varentropy >= 0);
    EXPECT_TRUE(std::isfinite(m.attn_entropy) && m.attn_entropy >= 0);
  }
  EXPECT_EQ(engine->kv_bytes_in_use(), 0u);  // every window's sequence freed

  const Profile p = calibrate_profile(samples, Profile{});
  EXPECT_NO_THROW(validate_profile(p, "calibrated"));
  EXPECT_LT(p.thresholds.entropy_low, p.v2.entropy_medium);
  EXPECT_LT(p.v2.entropy_medium, p.thresholds.entropy_high);
  EXPECT_LT(p.thresholds.varentropy_low, p.thresholds.varentropy_high);
  EXPECT_LT(p.v2.agreement_low, p.v2.agreement_high);
  EXPECT_LT(p.v2.interaction_low, p.v2.interaction_high);
}

// Sample k of window w is the metrics of the logits after BOS and that window's first
// k tokens: computed here by feeding the window one token at a time.
TEST(CalibrateRun, SamplesAreTheMetricsOfEachPositionsLogits) {
  auto engine = load_demo(true);
  const int32_t bos = engine->tokenizer().bos();
  const std::vector<int32_t> tokens = reference_tokens(*engine, 120);
  const auto samples = measure_text_metrics(*engine, tokens, kWindow);
  ASSERT_EQ(samples.size(), tokens.size() + 3);

  const size_t w = 1, first = w * (kWindow - 1), offset = w * kWindow;  // the second window
  const SeqId seq = engine->new_sequence();
  AttentionAnalyzer analyzer;
  for (size_t k = 0; k < 12; ++k) {
    BatchToken t{seq, k == 0 ? bos : tokens[first + k - 1], true};
    engine->decode({&t, 1});
    const LogitMetrics logit = compute_logit_metrics(engine->logits(0));
    const AttentionScores s = engine->attention_scores(0);
    const AttentionMetrics attn = analyzer.compute(s.scores, s.n_head, s.n_pos);
    const TokenMetrics& m = samples[offset + k];
    SCOPED_TRACE("position " + std::to_string(k));
    EXPECT_EQ(m.top1, logit.top1);
    EXPECT_NEAR(m.entropy, logit.entropy, 1e-3 + 1e-3 * logit.entropy);
    EXPECT_NEAR(m.varentropy, logit.varentropy, 1e-3 + 1e-2 * logit.varentropy);
    EXPECT_NEAR(m.attn_entropy, attn.entropy, 1e-3);
    EXPECT_NEAR(m.agreement, attn.agreement, 1e-3);
  }
  engine->free_sequence(seq);
}

TEST(CalibrateRun, WithoutAttentionScoresTheSamplesHaveNone) {
  auto engine = load_demo(false);
  const auto samples = measure_text_metrics(*engine, reference_tokens(*engine, 30), kWindow);
  ASSERT_EQ(samples.size(), 31u);
  for (const TokenMetrics& m : samples) EXPECT_FALSE(m.has_attention);
}

TEST(CalibrateRun, RejectsAWindowWithoutRoomForText) {
  auto engine = load_demo(false);
  const std::vector<int32_t> tokens(80, 5);
  EXPECT_THROW(measure_text_metrics(*engine, tokens, 1), Error);
  EXPECT_THROW(measure_text_metrics(*engine, tokens, 2 * kWindow), Error);  // a window the cache cannot hold
}

}  // namespace
