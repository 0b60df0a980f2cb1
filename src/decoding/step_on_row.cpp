#include "decoding/step_on_row.h"

#include "core/error.h"

namespace entropix {

TokenEvent step_on_row(Engine& engine, size_t row, SequenceDecoder& decoder, AttentionAnalyzer& analyzer) {
  if (!decoder.wants_attention()) return decoder.step(engine.logits(row), nullptr);
  if (!engine.options().attention_scores)
    throw Error("attention metrics were asked for but the engine was loaded without attention scores");
  const AttentionScores s = engine.attention_scores(row);
  const AttentionMetrics attn = analyzer.compute(s.scores, s.n_head, s.n_pos);
  return decoder.step(engine.logits(row), &attn);
}

}  // namespace entropix
