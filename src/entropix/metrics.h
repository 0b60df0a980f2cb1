// Uncertainty metrics of one decoding step (method section 1): entropy and
// varentropy of the raw next-token distribution, the top-2 candidates, and the
// attention metrics of the newest query token. Pure functions of plain arrays;
// the logits and scores are read, never modified.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace entropix {

// Metrics of the raw distribution softmax(logits) at temperature 1 over the full
// vocabulary. Logits of -inf (and NaN) have probability 0 and contribute nothing.
struct LogitMetrics {
  double entropy = 0;     // bits
  double varentropy = 0;  // bits^2
  int32_t top1 = -1;      // token id of the most probable token (lowest id on ties)
  int32_t top2 = -1;      // runner-up (-1 when the vocabulary has one token)
  double top1_prob = 0;   // probability of top1
  double top2_prob = 0;   // probability of top2 (0 when top2 == -1)
  float max_logit = 0;    // logits[top1]
  double log_z = 0;       // nats: log sum_i exp(logit_i - max_logit)

  // Raw log-probability (natural log) of token `id`: (logits[id] - max) - log_z.
  double logprob(std::span<const float> logits, int32_t id) const;
};

// Attention metrics of the newest query token over its causally valid positions.
struct AttentionMetrics {
  double entropy = 0;      // bits: mean over heads of the per-head attention entropy
  double varentropy = 0;   // bits^2: population variance across heads of those entropies
  double agreement = 0;    // mean over heads and positions of |P[h][j] - mean_h P[h][j]|
  double interaction = 0;  // mean over heads and positions of |S[h][j]|
};

// Everything the policy sees at one step. Attention fields are 0 when
// has_attention is false (the formulas of method section 2 then use 0).
struct TokenMetrics {
  double entropy = 0;        // bits
  double varentropy = 0;     // bits^2
  int32_t top1 = -1;
  int32_t top2 = -1;
  double top1_prob = 0;
  double top2_prob = 0;
  bool has_attention = false;
  double attn_entropy = 0;     // bits
  double attn_varentropy = 0;  // bits^2
  double agreement = 0;
  double interaction = 0;
};

// One pass for the top-2, one vectorised pass for the moments; throws
// entropix::Error for an empty row or one without a finite maximum.
LogitMetrics compute_logit_metrics(std::span<const float> logits);
// The same on the portable scalar kernels (reference for the fast path).
LogitMetrics compute_logit_metrics_scalar(std::span<const float> logits);

TokenMetrics make_token_metrics(const LogitMetrics& logit, const AttentionMetrics* attention);

// Attention metrics from `scores` laid out [n_head][n_pos]: the scaled
// pre-softmax scores q_h.k_j/sqrt(d_head) of the newest token over the n_pos
// positions it may attend to (no masked or empty slots). Keeps a scratch of
// about n_head*n_pos floats that only grows; reserve up front to avoid allocation.
class AttentionAnalyzer {
 public:
  explicit AttentionAnalyzer(size_t max_heads_times_positions = 0);
  AttentionMetrics compute(const float* scores, int n_head, int n_pos);

 private:
  std::vector<float> probs_;          // [n_head][n_pos], softmax over positions
  std::vector<float> mean_p_;         // [n_pos], mean over heads of probs_
  std::vector<double> head_entropy_;  // [n_head], bits
};

}  // namespace entropix
