// What the decoding strategies share about their paths: the sequences they hold,
// forks that take another token at a step, and a path's summary in the result.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "decoding/paths.h"
#include "decoding/strategy.h"
#include "model/prefix_cache.h"

namespace entropix {

// Adds a path's states and thinking insertions to the result's counts (not those it
// inherited from the path it forked from).
void count_path(StrategyResult& r, const Path& p);

// A path's text after its fork point, its extracted answer, the score and its length.
PathSummary summarize_path(const Path& p, const AnswerExtractor& ex, double score);

// The probability of the path's tokens under the model (inserted thinking text
// counts as certain): how sure one answer is of itself.
double path_confidence(const Path& p);

// The tokens a path's sequence holds: the prompt, then what the path decoded.
std::vector<int32_t> kv_tokens(std::span<const int32_t> prompt, const Path& p);

// Frees the sequences it holds when it goes, also when a step throws; at the end of a
// strategy the finished paths go to the prefix cache instead.
struct SequenceReleaser {
  Engine& engine;
  std::vector<SeqId> seqs;
  ~SequenceReleaser();
  void retire(PrefixCache& cache, std::span<const int32_t> prompt, const Path& p);
};

// Reads the prompt (its longest cached prefix from `cache`) into the sequence the
// strategy's paths fork from, which `release` frees at the end; r.n_cached counts what
// the cache gave.
SeqId read_root(Engine& engine, std::span<const int32_t> prompt, PrefixCache* cache, StrategyResult& r,
                SequenceReleaser& release);

// A fork of `from` made before it takes `draw` (DrawCallback): the same sequence and
// decoder state, its own random stream, taking `token` (one of draw's alternatives,
// of probability `prob`) instead. The fork keeps `from`'s recorded tokens when
// `keep_history` (its summary then covers the whole answer), else starts its text there.
Path fork_taking(Engine& engine, const Path& from, const SampleOutcome& draw, int32_t token, double prob,
                 uint64_t stream, bool keep_history);

// New answers for a prompt whose KV `root` holds, at any time: each forks the root and
// takes its first step on the prompt's last row, kept when this is made (right after
// the prompt was read), since later batches overwrite the engine's rows.
class PromptForks {
 public:
  PromptForks(Engine& engine, SeqId root, const DecodeOptions& options);
  // A new path forked from the root, decoding with `options`, its first step taken.
  Path start(const DecodeOptions& options);

 private:
  Engine& engine_;
  SeqId root_;
  std::vector<float> logits_;
  std::optional<AttentionMetrics> attention_;
};

// The seed of the i-th sampled answer to a prompt (self-consistency's streams).
uint64_t sample_seed(uint64_t seed, int32_t i);

}  // namespace entropix
