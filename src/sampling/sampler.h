// The base sampler: a chain of filters (temperature, top-k, top-p, min-p) and one
// final draw from a seeded Rng, over raw logits that it never modifies. Keeps
// its scratch between calls: after warm-up it does not allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "sampling/rng.h"
#include "sampling/sampling_params.h"
#include "sampling/top_k.h"

namespace entropix {

class Sampler {
 public:
  // Reserves scratch for a vocabulary of n_vocab tokens.
  explicit Sampler(size_t n_vocab = 0);

  // Builds the filtered, renormalised distribution of `params` over `logits`
  // (which must outlive the following draws). Returns how many tokens it keeps.
  // Throws entropix::Error for an empty row or one without a finite maximum.
  size_t prepare(std::span<const float> logits, const SamplingParams& params);
  // One draw from the prepared distribution; a single kept token consumes no randomness.
  int32_t draw(Rng& rng) const;
  // prepare + draw.
  int32_t sample(std::span<const float> logits, const SamplingParams& params, Rng& rng);

  // The prepared distribution as (id, probability), in descending probability
  // (all tokens when nothing truncates). For tests and tools; allocates.
  std::vector<std::pair<int32_t, double>> distribution() const;
  // The prepared distribution's probability of each of `ids` (0 for a token the
  // filters ruled out), in one pass over the kept tokens; out.size() == ids.size().
  void probabilities(std::span<const int32_t> ids, std::span<double> out) const;

 private:
  static constexpr size_t kBuckets = 4096;  // top-p buckets over scaled distance [0, 104] nats
  size_t prepare_nucleus(float max_logit, float inv_temp, double top_p);

  std::span<const float> logits_;
  bool full_ = false;            // no truncation: draw over full_w_
  std::vector<float> full_w_;    // [n_vocab] exp((l_i - max) / T) when full_
  double full_total_ = 0;        // sum of full_w_
  std::vector<Candidate> cand_;  // kept tokens when !full_: descending probability, except that
                                 // prepare_nucleus keeps its whole buckets in id order
  std::vector<double> cum_;      // [cand_.size()] cumulative weights of cand_
  std::vector<uint16_t> bucket_;     // [n_vocab] top-p bucket of each token
  std::vector<double> bucket_mass_ = std::vector<double>(kBuckets);  // [kBuckets] weight per bucket
};

}  // namespace entropix
