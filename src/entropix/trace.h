// One JSON record per generated token (a JSONL trace): the token and its text,
// raw log-probability, top alternatives and remaining mass, every metric, the
// state, the action and the sampling parameters actually used.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "entropix/policy.h"
#include "entropix/profile.h"
#include "entropix/token_sampler.h"

namespace entropix {

// Fields: "index", "id" (null when thinking text was inserted), "piece", "logprob",
// "alternatives" [{"id","prob"}], "rest_mass", "metrics" {entropy, varentropy,
// top1, top1_prob, top2, top2_prob, and attention: {entropy, varentropy,
// agreement, interaction} or null}, "state", "action", "params" {temperature,
// top_k, top_p, min_p}, "n_candidates", "branch", and "thinking_text" when inserted.
nlohmann::json trace_record(const SampleOutcome& o, std::string_view piece, int64_t index);

// The record as one line (no newline); bytes of `piece` that are not valid
// UTF-8 are replaced by U+FFFD.
std::string trace_line(const nlohmann::json& record);

// The metrics stored in a record (throws entropix::Error naming the missing field).
TokenMetrics metrics_from_trace(const nlohmann::json& record);
// Re-derives the state of a record from its metrics and `profile`.
State state_from_trace(const nlohmann::json& record, const Profile& profile);

}  // namespace entropix
