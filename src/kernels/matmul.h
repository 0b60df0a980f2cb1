// Matrix times a batch of activation rows, the bulk of every forward pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/ggml_type.h"
#include "kernels/dot.h"
#include "runtime/thread_pool.h"

namespace entropix {

// A [n_out x n_in] weight matrix as stored in GGUF (ne[0] = n_in, ne[1] = n_out).
struct WeightMatrix {
  GgmlType type;
  int64_t n_in;      // elements per row, a multiple of the type's block size
  int64_t n_out;     // rows
  const uint8_t* data;  // row r starts at data + r * row_bytes
  size_t row_bytes;
  // Optional copy of the first whole groups of rows in a backend's packed layout
  // (kernels/repack.h), used by that backend; null: data only.
  const uint8_t* packed = nullptr;
  const PackedLayout* packed_layout = nullptr;
};

// y[t * n_out + r] = sum_i W[r][i] * x[t * n_in + i] for t < n_tokens.
// Activations are quantized once per call (Q8_0 for Q8_0/Q4_0 weights, Q8_K for the
// K-quants) into per-thread scratch that is reused; rows are split across the pool and
// each weight block is used for up to kMaxDotTile tokens at once (the packed layout's
// max_tokens for packed rows).
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
// The same with an explicit dot backend (tests compare backends).
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            const DotBackend& backend);

// Several products in one pass of the pool: the rows of every task are split across the
// threads together, so small matrices (a token's experts) do not each wait for the
// threads. Each task's result is the same, bit for bit, as matmul() gives it.
struct MatmulTask {
  const WeightMatrix* w;
  const float* x;
  int64_t n_tokens;
  float* y;
};
void matmul_many(std::span<const MatmulTask> tasks, ThreadPool& pool);

// Single-threaded reference: dequantize_row and a float dot (double accumulation).
void matmul_reference(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y,
                      ThreadPool& pool);

}  // namespace entropix
