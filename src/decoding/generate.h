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
#include "model/prefix_cache.h"

namespace entropix {

struct GenerationStats {
  int32_t n_prompt = 0;
  int32_t n_cached = 0;              // of them, read from the prefix cache
  int32_t n_generated = 0;
  int32_t n_inserted = 0;            // thinking insertions
  double prompt_seconds = 0;
  double generation_seconds = 0;
  std::array<int32_t, 5> state_counts{};  // by State
  FinishReason finish = FinishReason::None;
};

// Called after each step with the event and the newly released text; return false to stop.
using TokenCallback = std::function<bool(const TokenEvent& event, std::string_view text)>;

// With a prefix cache, the prompt's longest cached prefix is taken from it and the
// answer's sequence is left in it at the end; the tokens are the same either way.
GenerationStats generate(Engine& engine, std::span<const int32_t> prompt, const DecodeOptions& options,
                         const TokenCallback& on_token, PrefixCache* cache = nullptr);

// Reads a prompt into a new sequence: its longest cached prefix from `cache` when given
// (all but the last token at most), the rest in one decode(), whose logits row 0 is then
// the last prompt token's. Throws Error for an empty prompt or one the context cannot hold.
PrefixMatch read_prompt(Engine& engine, std::span<const int32_t> prompt, PrefixCache* cache);

}  // namespace entropix
