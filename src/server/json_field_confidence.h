// How sure the model was of each field of a JSON answer. The answer's token pieces
// are read as JSON byte by byte; each token counts for every leaf value (string,
// number, true, false, null) that one of its bytes belongs to, and each leaf gets
// figures over its tokens: the lowest probability, the mean entropy, the entropix
// states and, under a grammar, the lowest probability among the allowed tokens and
// how many tokens the grammar forced. A leaf's bytes are its value's only: a
// string's with its quotes, never its key, the ':' or the ',' after it.
#pragma once

#include <nlohmann/json.hpp>
#include <span>

#include "server/inference_loop.h"

namespace entropix::server {

// Arrays and objects nest this deep at most; deeper text is read as not JSON.
constexpr int kFieldMaxDepth = 128;

// {pointer: figures} over the leaves of the JSON text the tokens' pieces spell, in
// document order, each keyed by its RFC 6901 pointer ("" for a root leaf, "/items/0/
// price", '~' and '/' in keys written ~0 and ~1). A key given twice keeps its last
// value, as JSON parsers read it. Figures of one leaf:
//   "min_prob":     exp of the lowest TokenInfo::logprob (the model's own distribution)
//   "mean_entropy": mean TokenInfo::entropy, bits
//   "states":       the entropix states' names, each once, in the order first seen
//   "tokens":       tokens counted
//   "constrained":  {"min_prob": exp of the lowest constrained.logprob, "forced": tokens
//                   with constrained.n_allowed == 1}, over the tokens drawn under a
//                   grammar (absent when none was)
//   "complete":     false on the leaf the text stops inside (absent on the others)
// Text that is not JSON (cut short, or bytes no JSON text continues with: a bad
// escape, bytes that are not UTF-8 in a string, a second value) is read up to where
// it stops being JSON: the leaves finished before, and the one it stops inside.
// Whitespace before and after the value is allowed. Never throws on any bytes.
nlohmann::ordered_json json_field_confidence(std::span<const TokenInfo> tokens);

}  // namespace entropix::server
