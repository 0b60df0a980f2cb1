// One decoding step of a sequence on its row of the engine's last batch: the
// attention metrics of that row when the decoder reads them, then the step. Every
// decoding loop (generate, forked paths, strategies, the server) steps this way.
#pragma once

#include <cstddef>
#include <optional>

#include "decoding/sequence_decoder.h"
#include "entropix/metrics.h"
#include "model/engine.h"

namespace entropix {

// Throws Error when the decoder reads attention metrics and the engine keeps no
// attention scores (front ends load it with set_engine_needs, which asks for them).
// With `forced` >= 0 the step takes that token instead of its draw (SequenceDecoder::force).
TokenEvent step_on_row(Engine& engine, size_t row, SequenceDecoder& decoder, AttentionAnalyzer& analyzer,
                       int32_t forced = -1);
// The attention metrics of a row of the engine's last batch (throws Error as above).
AttentionMetrics row_attention(Engine& engine, size_t row, AttentionAnalyzer& analyzer);
// The step's draw on that row, not yet taken (SequenceDecoder::draw).
std::optional<SampleOutcome> draw_on_row(Engine& engine, size_t row, SequenceDecoder& decoder,
                                         AttentionAnalyzer& analyzer);

}  // namespace entropix
