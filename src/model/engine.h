// The inference engine: a loaded model, its KV cache and the batched forward pass.
//
// Usage: Engine::load(path, options); create sequences with new_sequence() or fork();
// append tokens to sequences with decode(batch) and read the logits of the tokens
// that asked for them. Many sequences (forks or unrelated ones) are decoded together
// in one call: one pass over the weights per call.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "model/kv_cache.h"
#include "model/model_config.h"

namespace entropix {

class GgufFile;
class KvCache;
class Tokenizer;

using SeqId = int32_t;

struct EngineOptions {
  int32_t n_ctx = 0;         // KV cache capacity in positions, all sequences together (0: min(training context, 4096))
  int32_t n_threads = 0;     // 0: hardware concurrency
  int32_t max_batch = 256;   // tokens per forward pass; longer batches are split
  bool attention_scores = false;  // keep scaled pre-softmax scores of logit rows (for attention metrics)
  int32_t attention_layer = -1;   // layer the scores come from (-1: last)
  // Matrices repacked at load for the backend's batched kernels (kernels/repack.h): the
  // file's pages of packed rows are released, so memory holds each matrix about once.
  bool packed_weights = true;
  // How the KV cache stores keys and values (model/kv_cache.h).
  KvType cache_type = KvType::F16;
};

struct BatchToken {
  SeqId seq = 0;
  int32_t token = 0;
  bool want_logits = false;  // the token's output row is computed and kept
};

// Scaled pre-softmax attention scores q_h . k_j / sqrt(d) of one logit row, over
// the causally valid positions 0..pos of its own sequence.
struct AttentionScores {
  const float* scores = nullptr;  // [n_head][n_pos]
  int32_t n_head = 0;
  int32_t n_pos = 0;
};

class Engine {
 public:
  static std::unique_ptr<Engine> load(const std::string& path, const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const ModelConfig& config() const;
  const Tokenizer& tokenizer() const;
  const GgufFile& file() const;
  // The model's chat template (tokenizer.chat_template, Jinja source); nullopt when the file has none.
  std::optional<std::string> chat_template() const;
  const EngineOptions& options() const;
  int32_t n_ctx() const;  // cache capacity in positions

  // Sequences. A fork shares every cached position of its parent without copying.
  SeqId new_sequence();
  SeqId fork(SeqId parent);
  void free_sequence(SeqId seq);  // releases the positions no other sequence shares
  int32_t seq_length(SeqId seq) const;
  void truncate(SeqId seq, int32_t length);  // drops positions >= length
  int32_t free_positions() const;  // positions the cache can still hold (upper bound), reclaimable pages included
  size_t kv_bytes_in_use() const;  // keys and values of the pages in use; a shared page counts once
  // The paged cache itself, for a prefix cache over it (model/prefix_cache.h).
  KvCache& kv_cache();

  // Appends each token at the next position of its sequence (tokens of one sequence
  // in order) and runs the model. Throws Error when a sequence would exceed the cache.
  void decode(std::span<const BatchToken> batch);
  // Logits of the i-th row that asked for them in the last decode(), [n_vocab].
  std::span<const float> logits(size_t i) const;
  size_t n_logit_rows() const;
  // Attention scores of the i-th logit row (only when options().attention_scores).
  AttentionScores attention_scores(size_t i) const;

  // Bytes of weights read per generated token (for bandwidth reporting); for a mixture of
  // experts, the experts one token uses.
  size_t weight_bytes() const;

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace entropix
