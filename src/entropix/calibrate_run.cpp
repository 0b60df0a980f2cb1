#include "entropix/calibrate_run.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

EngineOptions calibration_engine_options(int32_t window, const Profile& base, int32_t n_threads) {
  EngineOptions eo;
  eo.n_threads = n_threads;
  eo.n_ctx = window + 1;
  eo.max_batch = 64;
  eo.attention_scores = true;
  eo.attention_layer = base.attention_layer;
  return eo;
}

std::vector<TokenMetrics> measure_text_metrics(Engine& engine, std::span<const int32_t> tokens, int32_t window,
                                               const CalibrationProgress& progress) {
  if (window < 2) throw Error("calibration window: expected at least 2 tokens, found " + std::to_string(window));
  const size_t per_window = static_cast<size_t>(window - 1);
  const int32_t bos = engine.tokenizer().bos();
  const bool attention = engine.options().attention_scores;
  std::vector<TokenMetrics> samples;
  samples.reserve(tokens.size() + (bos >= 0 ? tokens.size() / per_window + 1 : 0));
  std::vector<BatchToken> batch;
  AttentionAnalyzer analyzer;
  for (size_t start = 0; start < tokens.size(); start += per_window) {
    const size_t end = std::min(tokens.size(), start + per_window);
    const SeqId seq = engine.new_sequence();
    batch.clear();
    if (bos >= 0) batch.push_back({seq, bos, true});
    for (size_t i = start; i < end; ++i) batch.push_back({seq, tokens[i], true});
    engine.decode(batch);
    for (size_t r = 0; r < engine.n_logit_rows(); ++r) {
      const LogitMetrics logit = compute_logit_metrics(engine.logits(r));
      if (attention) {
        const AttentionScores s = engine.attention_scores(r);
        const AttentionMetrics attn = analyzer.compute(s.scores, s.n_head, s.n_pos);
        samples.push_back(make_token_metrics(logit, &attn));
      } else {
        samples.push_back(make_token_metrics(logit, nullptr));
      }
    }
    engine.free_sequence(seq);
    if (progress) progress(end, tokens.size());
  }
  return samples;
}

}  // namespace entropix
