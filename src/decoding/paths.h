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

  bool finished() const { return decoder->finished(); }
  double mean_logprob() const;
  // Mean margin over the tokens whose text overlaps [begin, end) of the decoder's text.
  double mean_margin(size_t begin, size_t end) const;
};

// Called after every step of a path; return false to finish that path (cancelled).
using PathCallback = std::function<bool(Path& path, const TokenEvent& event)>;

class PathRunner {
 public:
  explicit PathRunner(Engine& engine);
  // Runs every unfinished path until all are finished or `max_steps` steps were made.
  // Paths whose decoder finished keep their sequence (the caller frees it).
  void run(std::vector<Path*>& paths, int32_t max_steps, const PathCallback& on_event = {});
  // One step for every unfinished path with pending tokens: records it in the path
  // (record_step) and calls on_event.
  void step(std::vector<Path*>& paths, const PathCallback& on_event = {});
  // Decodes the pending tokens of the paths and steps their decoders without
  // recording; returns (path, event) for each path that advanced.
  std::vector<std::pair<Path*, TokenEvent>> advance(const std::vector<Path*>& paths);
  int64_t tokens_decoded() const { return tokens_decoded_; }

 private:
  Engine& engine_;
  AttentionAnalyzer analyzer_;
  std::vector<BatchToken> batch_;
  int64_t tokens_decoded_ = 0;
};

// Records a step of a path (the token kept for scoring) and queues its tokens.
void record_step(Path& path, const TokenEvent& event);

}  // namespace entropix
