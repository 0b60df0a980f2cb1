// Decoding strategies for one prompt (method section 3): a single answer (greedy,
// standard, entropix, optionally with entropy-triggered branching in LEHV),
// CoT-decoding, self-consistency, best-of-N, adaptive-consistency (samples until the
// vote is settled) and entropy-fork (greedy, forking only at uncertain steps). All
// branches of a prompt share its cached prefix and are decoded together, one pass
// over the weights per step.
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "decoding/answer.h"
#include "decoding/decode_options.h"
#include "decoding/sequence_decoder.h"
#include "model/engine.h"
#include "model/prefix_cache.h"

namespace entropix {

enum class StrategyKind { Single, CotDecoding, SelfConsistency, BestOfN, AdaptiveConsistency, EntropyFork, EntropixVote };

// Entropy-triggered branching in LEHV (entropix sampler with branching on).
struct BranchingOptions {
  int32_t width = 3;         // candidates forked at a branch point
  int32_t horizon = 12;      // rollout tokens at most (also ends at a sentence end or newline)
  int32_t max_forks = 4;     // branch points per answer
  double entropy_weight = 0.1;  // rollout score = mean logprob - weight * mean entropy (bits)
  double clarify_margin = 0.0;  // > 0: ask `clarify` when the best two scores are this close and texts differ
};

// adaptive-consistency: answers drawn `batch` at a time until the Beta rule says the
// majority is settled (vote.h) with at least this probability, or n were drawn.
struct AdaptiveOptions {
  int32_t batch = 2;
  double settled = 0.95;
};

// entropy-fork: the greedy answer, forked at its uncertain steps (entropy or varentropy
// at or above the profile's high thresholds) into the next most probable tokens, each
// continued greedily; the paths vote, ties going to the earlier path (the greedy one first).
struct EntropyForkOptions {
  int32_t k = 4;           // paths from one fork point, the greedy one included
  int32_t max_points = 1;  // fork points per answer, all paths together
};

// entropix-vote (entropix_vote.h): the greedy answer stands when its probability is at
// least `confident`; otherwise sampled answers join it until the vote is settled at
// `settled` (two answers in agreement: 0.875). Both chosen on the demo model's
// validation split (data/tasks/dev.jsonl, docs/results.md).
struct EntropixVoteOptions {
  double confident = 0.5;
  double settled = 0.8;
};

struct BranchChoice {
  std::string text;  // the rollout's text
  double score = 0;
};

struct StrategyOptions {
  StrategyKind kind = StrategyKind::Single;
  std::string name = "entropix";  // as given, for reports
  DecodeOptions decode;           // sampler, limits, seed
  int32_t k = 10;                 // CoT-decoding: first-token branches
  bool aggregate = true;          // CoT-decoding: sum margins per distinct answer (else max path)
  int32_t n = 8;                  // self-consistency / best-of-N samples; adaptive-consistency, entropix-vote: at most
  BranchingOptions branching;
  AdaptiveOptions adaptive;
  EntropyForkOptions fork;
  EntropixVoteOptions vote;
  AnswerExtractor extractor;
  // Asked before each batch of the paths: true stops the strategy with an Error (the
  // server's client went away).
  std::function<bool()> stop;
  // Interactive clarification: returns the index of the rollout to continue.
  std::function<size_t(const std::vector<BranchChoice>&)> clarify;
};

struct PathSummary {
  std::string text;
  std::optional<std::string> answer;
  double score = 0;
  int32_t n_tokens = 0;
  std::vector<int32_t> ids;  // the tokens after the prompt (inserted thinking text's included)
};

struct StrategyResult {
  std::string text;                   // the chosen answer's text
  std::optional<std::string> answer;  // extracted final answer
  int64_t tokens_spent = 0;           // every token decoded for this prompt after the prompt, all branches
  int32_t n_cached = 0;               // prompt tokens read from the prefix cache
  int32_t n_generated = 0;            // tokens of the chosen text
  int32_t n_inserted = 0;             // thinking insertions
  int32_t n_branch_points = 0;        // entropy-triggered forks
  std::array<int32_t, 5> state_counts{};
  std::vector<PathSummary> paths;     // every final path considered
  FinishReason finish = FinishReason::None;
  // How sure the strategy is of its answer, 0..1: the vote share of the winner for
  // the voting strategies, the answer's probability along the path for one path
  // (answer_confidence).
  double confidence = 0;
};

// Text callback for streaming the single-answer strategy (ignored by the others).
using TextCallback = std::function<void(std::string_view text, State state, bool inserted)>;

// With a prefix cache, the prompt's longest cached prefix comes from it (every branch
// forks from that sequence) and the final paths are left in it; the answers are the
// same either way.
StrategyResult run_strategy(Engine& engine, std::span<const int32_t> prompt, const StrategyOptions& options,
                            const TextCallback& on_text = {}, PrefixCache* cache = nullptr);

// Parses "greedy", "standard", "entropix", "entropix-branch", "cot-decoding[:k]",
// "self-consistency[:n]", "best-of-n[:n]", "adaptive-consistency[:max]",
// "entropy-fork[:k]", "entropix-vote[:n]" on top of `base` (its limits and seed).
StrategyOptions parse_strategy(std::string_view spec, const DecodeOptions& base);

}  // namespace entropix
