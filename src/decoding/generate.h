// Generation of one answer for one prompt on an engine: the prompt in batches,
// then token by token through a SequenceDecoder, with a callback per token.
#pragma once

#include <array>
#include <functional>
#include <span>
#include <string_view>

#include "decoding/decode_options.h"
#include "decoding/sequence_decoder.h"
#include "model/engine.h"

namespace entropix {

struct GenerationStats {
  int32_t n_prompt = 0;
  int32_t n_generated = 0;
  int32_t n_inserted = 0;            // thinking insertions
  double prompt_seconds = 0;
  double generation_seconds = 0;
  std::array<int32_t, 5> state_counts{};  // by State
  FinishReason finish = FinishReason::None;
};

// Called after each step with the event and the newly released text; return false to stop.
using TokenCallback = std::function<bool(const TokenEvent& event, std::string_view text)>;

GenerationStats generate(Engine& engine, std::span<const int32_t> prompt, const DecodeOptions& options,
                         const TokenCallback& on_token);

}  // namespace entropix
