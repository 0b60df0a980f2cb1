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
  // Every (token, chosen expert) pair's row, experts one after another.
  const size_t pairs = B * size_t(config.n_expert_used);
  xe_.resize(pairs * d);
  ye_.resize(pairs * d);
  gate_.resize(pairs * ff);
  up_.resize(pairs * ff);
  first_row_.resize(size_t(config.n_expert));
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
  // Each expert's tokens gathered into its own run of rows, experts in ascending order;
  // then every expert's gate and up in one pass of the pool, and every down in another,
  // so a token's few small expert matrices do not each wait for the threads.
  int64_t rows = 0;
  tasks_.clear();
  for (int32_t e = 0; e < cfg_.n_expert; ++e) {
    const std::vector<int32_t>& tokens = tokens_of_[size_t(e)];
    first_row_[size_t(e)] = rows;
    if (tokens.empty()) continue;
    const int64_t n = static_cast<int64_t>(tokens.size());
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(&xe_[size_t((rows + i) * d)], x + tokens[size_t(i)] * d, size_t(d) * sizeof(float));
    }
    tasks_.push_back({&layer.gate_exps[size_t(e)], &xe_[size_t(rows * d)], n, &gate_[size_t(rows * ff)]});
    tasks_.push_back({&layer.up_exps[size_t(e)], &xe_[size_t(rows * d)], n, &up_[size_t(rows * ff)]});
    rows += n;
  }
  matmul_many(tasks_, pool);
  const int64_t n_act = rows * ff;
  float* gate = gate_.data();
  const float* up = up_.data();
  pool.run([gate, up, n_act](int thread, int n_threads) {
    const int64_t begin = n_act * thread / n_threads, end = n_act * (thread + 1) / n_threads;
    swiglu_inplace(gate + begin, up + begin, end - begin);
  });
  tasks_.clear();
  for (int32_t e = 0; e < cfg_.n_expert; ++e) {
    const int64_t n = static_cast<int64_t>(tokens_of_[size_t(e)].size()), r = first_row_[size_t(e)];
    if (n > 0) tasks_.push_back({&layer.down_exps[size_t(e)], &gate_[size_t(r * ff)], n, &ye_[size_t(r * d)]});
  }
  matmul_many(tasks_, pool);
  // Every token's sum over its experts in ascending order, whatever else is in the batch.
  std::fill(out, out + B * d, 0.0f);
  for (int32_t e = 0; e < cfg_.n_expert; ++e) {
    const std::vector<int32_t>& tokens = tokens_of_[size_t(e)];
    const int64_t r = first_row_[size_t(e)];
    for (size_t i = 0; i < tokens.size(); ++i) {
      float* dst = out + tokens[i] * d;
      const float* src = &ye_[size_t((r + int64_t(i)) * d)];
      const float w = weights_of_[size_t(e)][i];
      for (int64_t j = 0; j < d; ++j) dst[j] += w * src[j];
    }
  }
}

}  // namespace entropix
