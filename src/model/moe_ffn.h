// The mixture-of-experts feed-forward (qwen3moe): a router picks a few experts per token,
// and each expert runs once over all the tokens that picked it, so a batch reads an
// expert's rows once however many tokens chose it, and a token reads only its experts'.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/matmul.h"

namespace entropix {

struct LayerWeights;
struct ModelConfig;
class ThreadPool;

class MoeFeedForward {
 public:
  // Scratch for batches of up to max_batch tokens.
  MoeFeedForward(const ModelConfig& config, int32_t max_batch);

  // out[t] = sum over the experts e chosen for token t of w[t][e] * down_e(silu(gate_e x[t]) * up_e x[t]),
  // for the B rows of x ([B][n_embd]); out is [B][n_embd]. A token's sum runs over its
  // experts in ascending order, so its row does not depend on the rest of the batch.
  void run(const LayerWeights& layer, const float* x, int64_t B, float* out, ThreadPool& pool);

 private:
  // The router: the chosen experts of each token and their weights, [B][n_expert_used].
  void route(const float* logits, int64_t B);

  const ModelConfig& cfg_;
  std::vector<float> logits_;                    // [B][n_expert]
  std::vector<int32_t> chosen_;                  // [B][n_expert_used]
  std::vector<float> weight_;                    // [B][n_expert_used]
  std::vector<std::vector<int32_t>> tokens_of_;  // per expert: its tokens, ascending
  std::vector<std::vector<float>> weights_of_;   // per expert: their weights
  std::vector<float> xe_, gate_, up_, ye_;       // every expert's gathered rows and results, experts in turn
  std::vector<int64_t> first_row_;               // per expert: its first row in them
  std::vector<MatmulTask> tasks_;
};

}  // namespace entropix
