#include "server/prefill_share.h"

#include <algorithm>

namespace entropix::server {

void share_prefill(std::span<const int64_t> remaining, int64_t per_seq, int64_t total, size_t first,
                   std::span<int64_t> out) {
  const size_t n = remaining.size();
  auto want = [&](size_t i) { return std::max<int64_t>(std::min(remaining[i], per_seq), 0); };
  std::fill(out.begin(), out.end(), 0);
  int64_t left = std::max<int64_t>(total, 0);
  // Equal shares, again and again: each round either fills some sequence up to
  // what it wants (so fewer take part in the next) or leaves fewer tokens than sequences.
  for (;;) {
    int64_t open = 0;
    for (size_t i = 0; i < n; ++i) open += out[i] < want(i) ? 1 : 0;
    if (open == 0 || left == 0) return;
    const int64_t share = left / open;
    if (share == 0) break;
    for (size_t i = 0; i < n; ++i) {
      const int64_t give = std::min(share, want(i) - out[i]);
      out[i] += give;
      left -= give;
    }
  }
  for (size_t k = 0; k < n && left > 0; ++k) {
    const size_t i = (first + k) % n;
    if (out[i] < want(i)) {
      ++out[i];
      --left;
    }
  }
}

}  // namespace entropix::server
