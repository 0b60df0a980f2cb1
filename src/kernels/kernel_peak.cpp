#include "kernels/kernel_peak.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/repack.h"

namespace entropix {

double packed_kernel_peak_macs(const DotBackend& backend, GgmlType type, ThreadPool& pool) {
  const PackedLayout* layout = packed_layout(backend, type);
  if (!layout) return 0.0;
  // A row as long as a 1B model's (2,048): one group's weights take tens of KiB, which
  // the cache holds however often they are read.
  const int64_t n_in = 2048, n_out = layout->rows, n_x = layout->max_tokens;
  std::mt19937 rng(17);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> row(static_cast<size_t>(n_in));
  const size_t row_bytes = ggml_row_bytes(type, n_in);
  std::vector<uint8_t> rows(row_bytes * static_cast<size_t>(n_out));
  for (int64_t r = 0; r < n_out; ++r) {
    for (float& v : row) v = normal(rng);
    quantize_row(type, row.data(), rows.data() + size_t(r) * row_bytes, n_in);
  }
  const WeightMatrix w{type, n_in, n_out, rows.data(), row_bytes};
  std::vector<uint8_t> packed(packed_bytes(w, *layout));
  layout->pack(w, packed.data(), 0, 1);
  const size_t x_bytes = activation_row_bytes(type, n_in);
  std::vector<uint8_t> x(x_bytes * static_cast<size_t>(n_x));
  for (int64_t j = 0; j < n_x; ++j) {
    for (float& v : row) v = normal(rng);
    activation_quantizer(backend, type)(row.data(), x.data() + size_t(j) * x_bytes, n_in);
  }
  std::vector<float> out(static_cast<size_t>(pool.size() * n_out * n_x));
  const auto calls = [&](int64_t count) {
    pool.run([&](int thread, int) {
      float* o = out.data() + size_t(thread) * size_t(n_out * n_x);
      for (int64_t c = 0; c < count; ++c) layout->dot(n_in, packed.data(), x.data(), x_bytes, static_cast<int>(n_x), o);
    });
  };
  // Calls per thread for about 40 ms, from a first timing; then the best of 5 rounds (this
  // shared machine's speed moves from one moment to the next).
  using clock = std::chrono::steady_clock;
  const auto seconds = [](clock::time_point since) { return std::chrono::duration<double>(clock::now() - since).count(); };
  auto start = clock::now();
  calls(16);
  const double per_call = std::max(seconds(start) / 16, 1e-9);
  const int64_t count = std::clamp<int64_t>(static_cast<int64_t>(0.04 / per_call), 16, 1 << 20);
  double best = 0.0;
  for (int round = 0; round < 5; ++round) {
    start = clock::now();
    calls(count);
    const double s = seconds(start);
    if (s > 0) best = std::max(best, double(count) * double(pool.size()) * double(n_in * n_out * n_x) / s);
  }
  return std::isfinite(best) ? best : 0.0;
}

}  // namespace entropix
