#include "runtime/read_bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

namespace entropix {

double measure_read_bandwidth(ThreadPool& pool, size_t bytes, int passes) {
  const size_t words = bytes / sizeof(uint64_t);
  std::vector<uint64_t> buffer(words);
  // Written by the threads that will read them, so each page is mapped near its reader.
  pool.run([&](int i, int n) {
    for (size_t w = words * size_t(i) / size_t(n); w < words * size_t(i + 1) / size_t(n); ++w) buffer[w] = w;
  });
  std::atomic<uint64_t> sink{0};
  double best = 0.0;
  for (int pass = 0; pass < passes; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    pool.run([&](int i, int n) {
      const uint64_t* p = buffer.data() + words * size_t(i) / size_t(n);
      const size_t count = words * size_t(i + 1) / size_t(n) - words * size_t(i) / size_t(n);
      // Eight independent sums, so the loads, not an add chain, set the pace.
      uint64_t acc[8] = {};
      size_t w = 0;
      for (; w + 8 <= count; w += 8) {
        for (int k = 0; k < 8; ++k) acc[k] += p[w + size_t(k)];
      }
      for (; w < count; ++w) acc[0] += p[w];
      uint64_t total = 0;
      for (uint64_t a : acc) total += a;
      sink.fetch_add(total, std::memory_order_relaxed);  // the reads are not optimised away
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (seconds > 0) best = std::max(best, double(words * sizeof(uint64_t)) / seconds / 1e9);
  }
  return best;
}

}  // namespace entropix
