#include "sampling/top_k.h"

#include <algorithm>
#include <limits>

namespace entropix {

void select_top_k(std::span<const float> logits, size_t k, std::vector<Candidate>& out) {
  const size_t n = logits.size();
  k = std::min(k, n);
  out.clear();
  if (k == 0) return;
  const float ninf = -std::numeric_limits<float>::infinity();
  auto read = [&](size_t i) {
    const float x = logits[i];
    return Candidate{static_cast<int32_t>(i), x == x ? x : ninf};
  };
  for (size_t i = 0; i < k; ++i) out.push_back(read(i));
  // Min-heap under candidate_before: out.front() is the worst kept candidate.
  std::make_heap(out.begin(), out.end(), candidate_before);
  float worst = out.front().logit;
  const float* l = logits.data();
  for (size_t i = k; i < n; ++i) {
    // Later ids lose ties, so only a strictly larger logit can enter.
    if (l[i] > worst) {
      std::pop_heap(out.begin(), out.end(), candidate_before);
      out.back() = Candidate{static_cast<int32_t>(i), l[i]};
      std::push_heap(out.begin(), out.end(), candidate_before);
      worst = out.front().logit;
    }
  }
  std::sort_heap(out.begin(), out.end(), candidate_before);
}

}  // namespace entropix
