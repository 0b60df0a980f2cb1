#include "decoding/step_on_row.h"

#include "core/error.h"

namespace entropix {

namespace {

// Calls `take` with the attention metrics of the row when the decoder reads them.
template <typename Take>
auto with_attention(Engine& engine, size_t row, SequenceDecoder& decoder, AttentionAnalyzer& analyzer, Take take) {
  if (!decoder.wants_attention()) return take(nullptr);
  const AttentionMetrics attn = row_attention(engine, row, analyzer);
  return take(&attn);
}

}  // namespace

AttentionMetrics row_attention(Engine& engine, size_t row, AttentionAnalyzer& analyzer) {
  if (!engine.options().attention_scores)
    throw Error("attention metrics were asked for but the engine was loaded without attention scores");
  const AttentionScores s = engine.attention_scores(row);
  return analyzer.compute(s.scores, s.n_head, s.n_pos);
}

TokenEvent step_on_row(Engine& engine, size_t row, SequenceDecoder& decoder, AttentionAnalyzer& analyzer,
                       int32_t forced) {
  return with_attention(engine, row, decoder, analyzer, [&](const AttentionMetrics* attn) {
    return forced >= 0 ? decoder.force(engine.logits(row), attn, forced) : decoder.step(engine.logits(row), attn);
  });
}

std::optional<SampleOutcome> draw_on_row(Engine& engine, size_t row, SequenceDecoder& decoder,
                                         AttentionAnalyzer& analyzer) {
  return with_attention(engine, row, decoder, analyzer,
                        [&](const AttentionMetrics* attn) { return decoder.draw(engine.logits(row), attn); });
}

}  // namespace entropix
