#include "entropix/metrics.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "core/error.h"
#include "kernels/logit_kernels.h"

namespace entropix {

namespace {

LogitMetrics logit_metrics_with(const LogitKernels& k, std::span<const float> logits) {
  if (logits.empty()) throw Error("logit metrics: expected at least one logit, found an empty row");
  const LogitTop2 t = k.top2(logits.data(), logits.size());
  if (t.top1 < 0 || !std::isfinite(t.top1_logit))
    throw Error("logit metrics: expected a finite maximum logit over " + std::to_string(logits.size()) +
                " entries, found " + (t.top1 < 0 ? std::string("only NaN") : std::to_string(t.top1_logit)));
  const ExpMoments s = k.exp_moments(logits.data(), logits.size(), t.top1_logit);
  LogitMetrics m;
  m.top1 = t.top1;
  m.max_logit = t.top1_logit;
  // s0 = 1 + (the other terms): log1p keeps the precision of nearly one-hot rows.
  m.log_z = std::log1p(s.s0 - 1.0);
  const double mean_d = s.s1 / s.s0;  // E[logit - max], nats
  const double h_nats = m.log_z - mean_d;
  const double v_nats = std::max(0.0, s.s2 / s.s0 - mean_d * mean_d);
  m.entropy = std::max(0.0, h_nats) / std::numbers::ln2;
  m.varentropy = v_nats / (std::numbers::ln2 * std::numbers::ln2);
  m.top1_prob = std::exp(-m.log_z);
  if (t.top2 >= 0) {
    m.top2 = t.top2;
    m.top2_prob = std::exp(static_cast<double>(t.top2_logit - t.top1_logit) - m.log_z);
  }
  return m;
}

// sum_j |a[j] - b[j]| (b null: sum_j |a[j]|), with independent accumulators.
double sum_abs_diff(const float* a, const float* b, size_t n) {
  double acc[4] = {0, 0, 0, 0};
  size_t j = 0;
  for (; j + 4 <= n; j += 4)
    for (size_t u = 0; u < 4; ++u) acc[u] += std::fabs(static_cast<double>(a[j + u]) - (b ? b[j + u] : 0.0));
  for (; j < n; ++j) acc[0] += std::fabs(static_cast<double>(a[j]) - (b ? b[j] : 0.0));
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

}  // namespace

double LogitMetrics::logprob(std::span<const float> logits, int32_t id) const {
  return static_cast<double>(logits[static_cast<size_t>(id)] - max_logit) - log_z;
}

LogitMetrics compute_logit_metrics(std::span<const float> logits) {
  return logit_metrics_with(logit_kernels(), logits);
}

LogitMetrics compute_logit_metrics_scalar(std::span<const float> logits) {
  return logit_metrics_with(logit_kernels_scalar(), logits);
}

TokenMetrics make_token_metrics(const LogitMetrics& l, const AttentionMetrics* a) {
  TokenMetrics m;
  m.entropy = l.entropy;
  m.varentropy = l.varentropy;
  m.top1 = l.top1;
  m.top2 = l.top2;
  m.top1_prob = l.top1_prob;
  m.top2_prob = l.top2_prob;
  if (a) {
    m.has_attention = true;
    m.attn_entropy = a->entropy;
    m.attn_varentropy = a->varentropy;
    m.agreement = a->agreement;
    m.interaction = a->interaction;
  }
  return m;
}

AttentionAnalyzer::AttentionAnalyzer(size_t max_heads_times_positions) {
  probs_.reserve(max_heads_times_positions);
  mean_p_.reserve(max_heads_times_positions);
}

AttentionMetrics AttentionAnalyzer::compute(const float* scores, int n_head, int n_pos) {
  if (n_head <= 0 || n_pos <= 0)
    throw Error("attention metrics: expected n_head > 0 and n_pos > 0, found n_head=" + std::to_string(n_head) +
                " n_pos=" + std::to_string(n_pos));
  const size_t nh = static_cast<size_t>(n_head), np = static_cast<size_t>(n_pos);
  if (probs_.size() < nh * np) probs_.resize(nh * np);
  if (mean_p_.size() < np) mean_p_.resize(np);
  if (head_entropy_.size() < nh) head_entropy_.resize(nh);
  const LogitKernels& k = logit_kernels();

  double abs_sum = 0;
  std::fill_n(mean_p_.begin(), np, 0.0f);
  for (size_t h = 0; h < nh; ++h) {
    const float* s = scores + h * np;
    float* p = probs_.data() + h * np;
    const LogitTop2 t = k.top2(s, np);
    if (t.top1 < 0 || !std::isfinite(t.top1_logit))
      throw Error("attention metrics: expected finite scores, head " + std::to_string(h) + " has maximum " +
                  std::to_string(t.top1_logit));
    k.exp_sum(s, np, t.top1_logit, 1.0f, p);
    const ExpMoments mo = k.exp_moments(s, np, t.top1_logit);
    const double z = mo.s0, ed = mo.s1;
    abs_sum += sum_abs_diff(s, nullptr, np);
    const float inv_z = static_cast<float>(1.0 / z);
    for (size_t j = 0; j < np; ++j) {
      p[j] *= inv_z;
      mean_p_[j] += p[j];
    }
    head_entropy_[h] = std::max(0.0, std::log(z) - ed / z) / std::numbers::ln2;
  }
  const float inv_nh = 1.0f / static_cast<float>(nh);
  for (size_t j = 0; j < np; ++j) mean_p_[j] *= inv_nh;
  double dev = 0;
  for (size_t h = 0; h < nh; ++h) dev += sum_abs_diff(probs_.data() + h * np, mean_p_.data(), np);
  double mean_h = 0;
  for (size_t h = 0; h < nh; ++h) mean_h += head_entropy_[h];
  mean_h /= static_cast<double>(nh);
  double var_h = 0;
  for (size_t h = 0; h < nh; ++h) var_h += (head_entropy_[h] - mean_h) * (head_entropy_[h] - mean_h);

  AttentionMetrics r;
  r.entropy = mean_h;
  r.varentropy = var_h / static_cast<double>(nh);
  r.agreement = dev / static_cast<double>(nh * np);
  r.interaction = abs_sum / static_cast<double>(nh * np);
  return r;
}

}  // namespace entropix
