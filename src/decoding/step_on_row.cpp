#include "decoding/step_on_row.h"

#include "core/error.h"

namespace entropix {

TokenEvent step_on_row(Engine& engine, size_t row, SequenceDecoder& decoder, AttentionAnalyzer& analyzer,
                       int32_t forced) {
  const auto take = [&](const AttentionMetrics* attn) {
    return forced >= 0 ? decoder.force(engine.logits(row), attn, forced) : decoder.step(engine.logits(row), attn);
  };
  if (!decoder.wants_attention()) return take(nullptr);
  if (!engine.options().attention_scores)
    throw Error("attention metrics were asked for but the engine was loaded without attention scores");
  const AttentionScores s = engine.attention_scores(row);
  const AttentionMetrics attn = analyzer.compute(s.scores, s.n_head, s.n_pos);
  return take(&attn);
}

}  // namespace entropix
