#include "model/moe_ffn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "kernels/matmul.h"
#include "model/model_config.h"
#include "model/ops.h"
#include "model/weights.h"
#include "runtime/thread_pool.h"

namespace entropix {

MoeFeedForward::MoeFeedForward(const ModelConfig& config, int32_t max_batch) : cfg_(config) {
  const size_t B = static_cast<size_t>(max_batch), d = static_cast<size_t>(config.n_embd);
  const size_t ff = static_cast<size_t>(config.n_ff_exp);
  logits_.resize(B * size_t(config.n_expert));
  chosen_.resize(B * size_t(config.n_expert_used));
  weight_.resize(B * size_t(config.n_expert_used));
  tokens_of_.resize(size_t(config.n_expert));
  weights_of_.resize(size_t(config.n_expert));
  xe_.resize(B * d);
  ye_.resize(B * d);
  gate_.resize(B * ff);
  up_.resize(B * ff);
}

void MoeFeedForward::route(const float* logits, int64_t B) {
  const int32_t n = cfg_.n_expert, k = cfg_.n_expert_used;
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::vector<float> prob(static_cast<size_t>(n));
  for (auto& v : tokens_of_) v.clear();
  for (auto& v : weights_of_) v.clear();
  for (int64_t t = 0; t < B; ++t) {
    const float* l = logits + t * n;
    const float mx = *std::max_element(l, l + n);
    double sum = 0.0;
    for (int32_t e = 0; e < n; ++e) sum += prob[size_t(e)] = std::exp(l[e] - mx);
    for (int32_t e = 0; e < n; ++e) prob[size_t(e)] = static_cast<float>(prob[size_t(e)] / sum);
    // The k most probable experts; on equal probability the lower index.
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
      return prob[size_t(a)] > prob[size_t(b)] || (prob[size_t(a)] == prob[size_t(b)] && a < b);
    });
    float total = 0.0f;
    for (int32_t i = 0; i < k; ++i) total += prob[size_t(order[size_t(i)])];
    // llama.cpp clamps the sum to the smallest normal fp16 before dividing.
    const float inv = cfg_.expert_weights_norm ? 1.0f / std::max(total, 6.103515625e-5f) : 1.0f;
    for (int32_t i = 0; i < k; ++i) {
      const int32_t e = order[size_t(i)];
      chosen_[size_t(t * k + i)] = e;
      weight_[size_t(t * k + i)] = prob[size_t(e)] * inv;
      tokens_of_[size_t(e)].push_back(static_cast<int32_t>(t));
      weights_of_[size_t(e)].push_back(weight_[size_t(t * k + i)]);
    }
  }
}

void MoeFeedForward::run(const LayerWeights& layer, const float* x, int64_t B, float* out, ThreadPool& pool) {
  const int64_t d = cfg_.n_embd, ff = cfg_.n_ff_exp;
  matmul(layer.ffn_gate_inp, x, B, logits_.data(), pool);
  route(logits_.data(), B);
  std::fill(out, out + B * d, 0.0f);
  // Experts in ascending order, each over its tokens (ascending): every token's sum runs
  // over its own experts in the same order whatever else is in the batch.
  for (int32_t e = 0; e < cfg_.n_expert; ++e) {
    const std::vector<int32_t>& tokens = tokens_of_[size_t(e)];
    if (tokens.empty()) continue;
    const int64_t n = static_cast<int64_t>(tokens.size());
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(&xe_[size_t(i * d)], x + tokens[size_t(i)] * d, size_t(d) * sizeof(float));
    }
    matmul(layer.gate_exps[size_t(e)], xe_.data(), n, gate_.data(), pool);
    matmul(layer.up_exps[size_t(e)], xe_.data(), n, up_.data(), pool);
    swiglu_inplace(gate_.data(), up_.data(), n * ff);
    matmul(layer.down_exps[size_t(e)], gate_.data(), n, ye_.data(), pool);
    for (int64_t i = 0; i < n; ++i) {
      float* dst = out + tokens[size_t(i)] * d;
      const float* src = &ye_[size_t(i * d)];
      const float w = weights_of_[size_t(e)][size_t(i)];
      for (int64_t j = 0; j < d; ++j) dst[j] += w * src[j];
    }
  }
}

}  // namespace entropix
