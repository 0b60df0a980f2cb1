#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "kernels/logit_kernels.h"

namespace entropix {

Sampler::Sampler(size_t n_vocab) {
  full_w_.reserve(n_vocab);
  cand_.reserve(std::min<size_t>(n_vocab, 4096));
  cum_.reserve(std::min<size_t>(n_vocab, 4096));
}

size_t Sampler::prepare(std::span<const float> logits, const SamplingParams& params) {
  struct {
    float temperature, top_p, min_p;
    int32_t top_k;
  } const p{static_cast<float>(params.temperature), static_cast<float>(params.top_p), static_cast<float>(params.min_p),
            params.top_k};
  const size_t n = logits.size();
  if (n == 0) throw Error("sampler: expected at least one logit, found an empty row");
  const LogitKernels& k = logit_kernels();
  const LogitTop2 t = k.top2(logits.data(), n);
  if (t.top1 < 0 || !std::isfinite(t.top1_logit))
    throw Error("sampler: expected a finite maximum logit over " + std::to_string(n) + " entries");
  logits_ = logits;
  full_ = false;
  cand_.clear();
  cum_.clear();
  const float m = t.top1_logit;

  if (!(p.temperature > 0) || p.top_k == 1) {
    cand_.push_back({t.top1, m});
    cum_.push_back(1.0);
    return 1;
  }
  const float inv_t = 1.0f / p.temperature;
  const bool use_k = p.top_k > 0 && static_cast<size_t>(p.top_k) < n;
  const bool use_p = p.top_p < 1.0f;
  const bool use_min = p.min_p > 0.0f;
  auto weight = [&](float logit) { return std::exp(static_cast<double>((logit - m) * inv_t)); };

  double z;  // the normaliser top-p measures mass against
  if (use_k) {
    select_top_k(logits, static_cast<size_t>(p.top_k), cand_);
    z = 0;
    for (const Candidate& c : cand_) z += weight(c.logit);
  } else if (!use_p && !use_min) {
    if (full_w_.size() < n) full_w_.resize(n);
    full_total_ = k.exp_sum(logits.data(), n, m, inv_t, full_w_.data());
    full_ = true;
    return n;
  } else {
    z = k.exp_sum(logits.data(), n, m, inv_t, nullptr);
    if (use_min) {
      // p_i >= min_p * p_max  <=>  (l_i - max) / T >= log(min_p); gather with a
      // small margin, the exact test on the weights follows.
      const float thr = m + p.temperature * std::log(p.min_p) - 1e-3f * (1.0f + std::fabs(m));
      const float* l = logits.data();
      for (size_t i = 0; i < n; ++i)
        if (l[i] >= thr) cand_.push_back({static_cast<int32_t>(i), l[i]});
      std::sort(cand_.begin(), cand_.end(), candidate_before);
    } else {
      return prepare_nucleus(m, inv_t, static_cast<double>(p.top_p));
    }
  }

  // cand_ is sorted by descending probability; top-p and min-p keep prefixes of it.
  size_t keep = cand_.size();
  double cum = 0;
  cum_.resize(cand_.size());
  for (size_t i = 0; i < cand_.size(); ++i) {
    const double w = weight(cand_[i].logit);
    if (w <= 0 || (use_min && w < static_cast<double>(p.min_p))) {
      keep = i;
      break;
    }
    cum += w;
    cum_[i] = cum;
    if (use_p && cum >= static_cast<double>(p.top_p) * z) {
      keep = i + 1;
      break;
    }
  }
  keep = std::max<size_t>(keep, 1);  // the argmax always survives
  cand_.resize(keep);
  cum_.resize(keep);
  return keep;
}

// Top-p alone over the whole vocabulary, without sorting it: bucket the tokens
// by scaled distance to the maximum, keep every bucket before the one where the
// cumulative mass reaches top_p, and sort only that bucket to find the cut.
size_t Sampler::prepare_nucleus(float m, float inv_t, double top_p) {
  const size_t n = logits_.size();
  if (full_w_.size() < n) full_w_.resize(n);
  if (bucket_.size() < n) bucket_.resize(n);
  const double z = logit_kernels().exp_sum(logits_.data(), n, m, inv_t, full_w_.data());
  const double target = top_p * z;
  std::fill(bucket_mass_.begin(), bucket_mass_.end(), 0.0);
  constexpr float kScale = static_cast<float>(kBuckets) / -kExpArgFloor;
  const float* l = logits_.data();
  for (size_t i = 0; i < n; ++i) {
    const float d = (m - l[i]) * inv_t * kScale;  // NaN and -inf go to the last bucket (weight 0)
    const uint16_t b = d < static_cast<float>(kBuckets - 1) ? static_cast<uint16_t>(d) : kBuckets - 1;
    bucket_[i] = b;
    bucket_mass_[b] += full_w_[i];
  }
  size_t cross = 0;
  double below = 0;
  while (cross + 1 < kBuckets && below + bucket_mass_[cross] < target) below += bucket_mass_[cross++];
  cand_.clear();
  for (size_t i = 0; i < n; ++i)
    if (bucket_[i] < cross && full_w_[i] > 0) cand_.push_back({static_cast<int32_t>(i), l[i]});
  const size_t whole = cand_.size();
  for (size_t i = 0; i < n; ++i)
    if (bucket_[i] == cross && full_w_[i] > 0) cand_.push_back({static_cast<int32_t>(i), l[i]});
  std::sort(cand_.begin() + static_cast<std::ptrdiff_t>(whole), cand_.end(), candidate_before);
  cum_.resize(cand_.size());
  double cum = 0;
  size_t keep = cand_.size();
  for (size_t i = 0; i < cand_.size(); ++i) {
    cum += full_w_[static_cast<size_t>(cand_[i].id)];
    cum_[i] = cum;
    if (i >= whole && cum >= target) {
      keep = i + 1;
      break;
    }
  }
  keep = std::max<size_t>(keep, 1);
  cand_.resize(keep);
  cum_.resize(keep);
  return keep;
}

int32_t Sampler::draw(Rng& rng) const {
  if (full_) {
    const double u = rng.uniform() * full_total_;
    double acc = 0;
    int32_t last = -1;
    for (size_t i = 0; i < full_w_.size() && i < logits_.size(); ++i) {
      if (full_w_[i] <= 0) continue;
      acc += full_w_[i];
      last = static_cast<int32_t>(i);
      if (acc > u) return last;
    }
    return last;
  }
  if (cand_.empty()) throw Error("sampler: draw() called before prepare()");
  if (cand_.size() == 1) return cand_[0].id;
  const double u = rng.uniform() * cum_.back();
  const auto it = std::upper_bound(cum_.begin(), cum_.end(), u);
  return cand_[it == cum_.end() ? cand_.size() - 1 : static_cast<size_t>(it - cum_.begin())].id;
}

int32_t Sampler::sample(std::span<const float> logits, const SamplingParams& params, Rng& rng) {
  prepare(logits, params);
  return draw(rng);
}

std::vector<std::pair<int32_t, double>> Sampler::distribution() const {
  std::vector<std::pair<int32_t, double>> out;
  if (full_) {
    for (size_t i = 0; i < logits_.size(); ++i)
      if (full_w_[i] > 0) out.emplace_back(static_cast<int32_t>(i), full_w_[i] / full_total_);
  } else {
    double prev = 0;
    for (size_t i = 0; i < cand_.size(); ++i) {
      out.emplace_back(cand_[i].id, (cum_[i] - prev) / cum_.back());
      prev = cum_[i];
    }
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
  return out;
}

void Sampler::probabilities(std::span<const int32_t> ids, std::span<double> out) const {
  if (out.size() != ids.size()) throw Error("sampler: probabilities() needs one output per id");
  std::fill(out.begin(), out.end(), 0.0);
  if (full_) {
    for (size_t j = 0; j < ids.size(); ++j) {
      const int32_t id = ids[j];
      if (id >= 0 && static_cast<size_t>(id) < full_w_.size() && static_cast<size_t>(id) < logits_.size())
        out[j] = full_w_[static_cast<size_t>(id)] / full_total_;
    }
    return;
  }
  if (cand_.empty()) throw Error("sampler: probabilities() called before prepare()");
  double prev = 0;
  for (size_t i = 0; i < cand_.size(); ++i) {
    for (size_t j = 0; j < ids.size(); ++j)
      if (ids[j] == cand_[i].id) out[j] = (cum_[i] - prev) / cum_.back();
    prev = cum_[i];
  }
}

}  // namespace entropix
