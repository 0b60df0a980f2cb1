// matmul throughput per weight type, shape, thread count and batch size, reported as
// GB/s of weight bytes read (generation is bound by that bandwidth) and tokens/s.
// ENTROPIX_KERNELS=scalar runs the portable kernels for comparison.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/quant.h"

namespace {

using entropix::GgmlType;

struct Case {
  GgmlType type;
  int64_t n_out, n_in;
  std::vector<uint8_t> data;
};

// Random weights quantized once per (type, shape), shared by the runs.
const Case& weights(GgmlType type, int64_t n_out, int64_t n_in) {
  static std::vector<std::unique_ptr<Case>> cache;
  for (const auto& c : cache) {
    if (c->type == type && c->n_out == n_out && c->n_in == n_in) return *c;
  }
  auto c = std::make_unique<Case>(Case{type, n_out, n_in, {}});
  const size_t row_bytes = entropix::ggml_row_bytes(type, n_in);
  c->data.resize(row_bytes * static_cast<size_t>(n_out));
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<float> row(static_cast<size_t>(n_in));
  for (int64_t r = 0; r < n_out; ++r) {
    for (auto& v : row) v = dist(rng);
    entropix::quantize_row(type, row.data(), c->data.data() + r * row_bytes, n_in);
  }
  cache.push_back(std::move(c));
  return *cache.back();
}

void BM_matmul(benchmark::State& state, GgmlType type, int64_t n_out, int64_t n_in) {
  const int threads = static_cast<int>(state.range(0));
  const int64_t n_tokens = state.range(1);
  const Case& c = weights(type, n_out, n_in);
  const entropix::WeightMatrix w{type, n_in, n_out, c.data.data(), entropix::ggml_row_bytes(type, n_in)};
  std::vector<float> x(static_cast<size_t>(n_in * n_tokens)), y(static_cast<size_t>(n_out * n_tokens));
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (auto& v : x) v = dist(rng);
  entropix::ThreadPool pool(threads);
  for (auto _ : state) {
    entropix::matmul(w, x.data(), n_tokens, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  const double bytes = static_cast<double>(c.data.size()) * static_cast<double>(state.iterations());
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsRate);
  state.counters["tok/s"] =
      benchmark::Counter(static_cast<double>(n_tokens * state.iterations()), benchmark::Counter::kIsRate);
  state.SetLabel(entropix::kernel_backend_name());
}

void register_all() {
  const GgmlType types[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0,
                            GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};
  const int64_t shapes[][2] = {{2048, 2048}, {8192, 2048}};  // {n_out, n_in}
  for (GgmlType type : types) {
    for (const auto& s : shapes) {
      const std::string name = "matmul/" + std::string(entropix::ggml_type_name(type)) + "/" +
                               std::to_string(s[0]) + "x" + std::to_string(s[1]);
      benchmark::RegisterBenchmark(name.c_str(), BM_matmul, type, s[0], s[1])
          ->ArgNames({"threads", "tokens"})
          ->ArgsProduct({{1, 2}, {1, 32}})
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
