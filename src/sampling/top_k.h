// Partial selection of the k largest logits without sorting the vocabulary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace entropix {

struct Candidate {
  int32_t id;   // token id
  float logit;  // raw logit (NaN read as -inf)
};

// Order of candidates everywhere: larger logit first, then lower id.
inline bool candidate_before(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// Replaces `out` with the min(k, n) candidates of highest logit, sorted by
// candidate_before. One pass with a k-entry heap: O(n + k log k log(n/k)) typical;
// `out` keeps its capacity, so it does not allocate after warm-up.
void select_top_k(std::span<const float> logits, size_t k, std::vector<Candidate>& out);

}  // namespace entropix
