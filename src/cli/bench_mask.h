// `entropix bench --json-object | --grammar FILE | --json-schema FILE`: what the token
// mask of structured output costs against the decode step it gates. Answers are
// generated under the grammar from the model's own logits (standard sampler,
// temperature 1, fixed seeds), or with --mask-answer FILE that text's tokens are
// taken instead of draws (a realistic answer on a random-weight model); the mask
// (SequenceDecoder::constrained: the allowed tokens and the masked logit row) is
// timed apart from Engine::decode. The same answers are generated twice: first from
// an empty mask cache (cold: every grammar state met for the first time walks the
// vocabulary's trie), then again with the masks kept (warm: each state costs lookups only).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "grammar/token_constraint.h"
#include "model/engine.h"

namespace entropix {

// One pass over the answers.
struct MaskPass {
  int32_t steps = 0;                // masks computed, one per generated token
  double mask_seconds = 0;          // in SequenceDecoder::constrained, all steps
  double decode_seconds = 0;        // in Engine::decode of the generated tokens
  int32_t decodes = 0;              // decode calls timed (a finished answer's last step has none)
  uint64_t states_walked = 0;       // grammar stacks whose mask was computed by a trie walk
  int32_t walked_steps = 0;         // steps that walked at least once
  double walked_mask_seconds = 0;   // mask time of those steps
  int32_t answers = 0;              // answers started (one ends at a complete match or end of text)
};

struct MaskBench {
  std::string grammar_name;      // "json_object", or the file's name
  int32_t n_vocab = 0;
  size_t trie_nodes = 0;
  double trie_seconds = 0;       // building the vocabulary's trie (once per loaded model)
  double compile_seconds = 0;    // parsing the grammar and preparing it for the vocabulary
  MaskPass cold, warm;
};

// Builds the trie of `engine`'s vocabulary (timed: it must not have been built yet),
// compiles the grammar with `compile` (timed), then generates `n_gen` tokens under it
// twice, or `answer`'s tokens. `compile` returns the constraint for the engine's
// tokenizer. Throws Error when `answer` does not match the grammar.
MaskBench bench_mask(Engine& engine, const std::string& grammar_name,
                     const std::function<std::shared_ptr<const grammar::TokenConstraint>()>& compile, int32_t n_gen,
                     const std::optional<std::string>& answer);

// The report: rows of bench's table, or one JSON object of bench --json.
void print_mask_bench(const MaskBench& b, int n_threads);
nlohmann::json mask_bench_json(const MaskBench& b, int n_threads);

}  // namespace entropix
