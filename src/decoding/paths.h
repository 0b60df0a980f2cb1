// Several sequences of one prompt decoded together: each path has its own KV
// sequence (forks share the prompt's cache) and its own decoder; every step
// appends the pending tokens of all unfinished paths in one engine.decode().
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "decoding/sequence_decoder.h"
#include "entropix/metrics.h"
#include "model/engine.h"

namespace entropix {

// What is kept of each generated token of a path (for scoring).
struct PathToken {
  int32_t id = -1;         // -1 for inserted thinking text
  double logprob = 0;      // natural log, raw distribution
  double margin = 0;       // p_top1 - p_top2 of the step that produced it
  double entropy = 0;      // bits
  double varentropy = 0;   // bits^2
  State state = State::Adaptive;
  size_t text_end = 0;     // bytes of the path's text after this token
};

struct Path {
  SeqId seq = -1;
  std::unique_ptr<SequenceDecoder> decoder;
  std::vector<int32_t> pending;  // appended at the next step; the last one's logits are read
  std::vector<int32_t> decoded;  // appended so far: the sequence holds the prompt, then these
  std::vector<PathToken> tokens;
  size_t text_start = 0;         // bytes of the decoder's text that came before this path forked
  size_t n_inherited = 0;        // of `tokens`, those copied from the path it forked from
  int32_t inserted_inherited = 0;  // thinking insertions among them

  bool finished() const { return decoder->finished(); }
  double mean_logprob() const;
  // Mean margin over the tokens whose text overlaps [begin, end) of the decoder's text.
  double mean_margin(size_t begin, size_t end) const;
};

// Called after every step of a path; return false to finish that path (cancelled).
using PathCallback = std::function<bool(Path& path, const TokenEvent& event)>;
// Called with a path's draw before the path takes it: a fork of the path made there
// starts from before the step, and may take another token (SequenceDecoder::accept).
using DrawCallback = std::function<void(Path& path, const SampleOutcome& draw)>;

class PathRunner {
 public:
  // `stop`, when given, is asked before each batch: true ends the work with an Error
  // (a client that went away).
  explicit PathRunner(Engine& engine, std::function<bool()> stop = {});
  // Runs every unfinished path until all are finished or `max_steps` steps were made.
  // Paths whose decoder finished keep their sequence (the caller frees it).
  void run(std::vector<Path*>& paths, int32_t max_steps, const PathCallback& on_event = {});
  // One step for every unfinished path with pending tokens: records it in the path
  // (record_step) and calls on_event.
  void step(std::vector<Path*>& paths, const PathCallback& on_event = {});
  // Feeds the pending tokens of the unfinished paths to the engine in one batch (a
  // path whose context is full finishes instead); returns the paths fed, the r-th
  // reading row r of the batch's logits.
  std::vector<Path*> feed(const std::vector<Path*>& paths);
  // Decodes the pending tokens of the paths and steps their decoders without
  // recording; returns (path, event) for each path that advanced. `before_take`, when
  // given, sees each draw before its path takes it.
  std::vector<std::pair<Path*, TokenEvent>> advance(const std::vector<Path*>& paths,
                                                    const DrawCallback& before_take = {});
  int64_t tokens_decoded() const { return tokens_decoded_; }

 private:
  Engine& engine_;
  std::function<bool()> stop_;
  AttentionAnalyzer analyzer_;
  std::vector<BatchToken> batch_;
  int64_t tokens_decoded_ = 0;
};

// Records a step of a path (the token kept for scoring) and queues its tokens.
void record_step(Path& path, const TokenEvent& event);
// The step of `path` on row `row` of the engine's last batch; `before_take` (when
// given) sees the draw before the path takes it.
TokenEvent step_path(Engine& engine, size_t row, Path& path, AttentionAnalyzer& analyzer,
                     const DrawCallback& before_take);

}  // namespace entropix
