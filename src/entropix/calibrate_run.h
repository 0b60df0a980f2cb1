// The calibration run: the model over a reference text, window by window, and the
// uncertainty metrics at every position it scores; calibrate_profile
// (entropix/calibrate.h) turns them into thresholds. Kept apart from the
// calibration math, which needs no engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "entropix/metrics.h"
#include "entropix/profile.h"
#include "model/engine.h"

namespace entropix {

// Engine options for measure_text_metrics with windows of `window` tokens: a cache of
// one window (each window is a fresh sequence), attention scores of the base
// profile's layer, batches of 64 tokens.
EngineOptions calibration_engine_options(int32_t window, const Profile& base, int32_t n_threads);

// Called after each window with the text tokens measured so far and their total.
using CalibrationProgress = std::function<void(size_t done, size_t total)>;

// The text is cut into windows of window - 1 tokens; each is decoded in a fresh
// sequence after BOS (when the tokenizer has one), and every row of logits gives a
// sample, in text order: the BOS row and one per text token, so tokens.size()
// samples plus one per window when there is a BOS. Attention metrics come with each
// sample when the engine keeps attention scores. Throws Error for a window under 2
// or one the engine's cache cannot hold.
std::vector<TokenMetrics> measure_text_metrics(Engine& engine, std::span<const int32_t> tokens, int32_t window,
                                               const CalibrationProgress& progress = {});

}  // namespace entropix
