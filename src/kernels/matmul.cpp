#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/quant.h"
#include "kernels/repack.h"

namespace entropix {

namespace {

void check_matrix(const WeightMatrix& w) {
  const auto traits = ggml_type_traits(static_cast<uint32_t>(w.type));
  if (!traits || !traits->supported) {
    throw Error("matmul: weight type " + std::string(ggml_type_name(w.type)) + " (" +
                std::to_string(static_cast<uint32_t>(w.type)) + ") is not supported");
  }
  if (w.n_in <= 0 || w.n_out < 0 || w.n_in % traits->block_elems != 0) {
    throw Error("matmul: " + std::string(traits->name) + " matrix with rows of " + std::to_string(w.n_in) +
                " elements, expected a positive multiple of " + std::to_string(traits->block_elems));
  }
  if (w.row_bytes < ggml_row_bytes(w.type, w.n_in)) {
    throw Error("matmul: row stride " + std::to_string(w.row_bytes) + " bytes is shorter than a " +
                std::string(traits->name) + " row of " + std::to_string(w.n_in) + " elements");
  }
}

// Everything the threads need of one product (run_jobs hands out its chunks of rows).
struct MatmulJob {
  const WeightMatrix* w;
  DotFn dot;
  const PackedLayout* packed;  // with w->packed: rows below packed_rows go through it
  int64_t packed_rows;
  size_t group_bytes;
  const uint8_t* act;  // n_tokens rows of act_row_bytes
  size_t act_row_bytes;
  int64_t n_tokens;
  float* y;
  int64_t chunk_rows;
  int64_t n_chunks;
};

constexpr int kMaxPackedOut = 16 * 16;  // rows x tokens of one packed kernel call

// Rows [r0, r1) for all tokens, a few tokens per kernel call. The row chunk is small enough
// to stay in cache while the token tiles sweep over it. With packed rows, chunks are whole
// groups (see matmul) and the rows past the last group use w.data.
void run_chunk(const MatmulJob& job, int64_t r0, int64_t r1) {
  const WeightMatrix& w = *job.w;
  float out[kMaxPackedOut];
  const int64_t packed_end = std::min(r1, job.packed_rows);
  if (r0 < packed_end) {
    const PackedLayout& layout = *job.packed;
    for (int64_t t0 = 0; t0 < job.n_tokens; t0 += layout.max_tokens) {
      const int n_x = static_cast<int>(std::min<int64_t>(layout.max_tokens, job.n_tokens - t0));
      const uint8_t* xt = job.act + t0 * job.act_row_bytes;
      for (int64_t r = r0; r < packed_end; r += layout.rows) {
        layout.dot(w.n_in, w.packed + static_cast<size_t>(r / layout.rows) * job.group_bytes, xt, job.act_row_bytes,
                   n_x, out);
        for (int j = 0; j < n_x; ++j) std::copy_n(out + j * layout.rows, layout.rows, job.y + (t0 + j) * w.n_out + r);
      }
    }
  }
  for (int64_t t0 = 0; t0 < job.n_tokens; t0 += kMaxDotTile) {
    const int n_x = static_cast<int>(std::min<int64_t>(kMaxDotTile, job.n_tokens - t0));
    const uint8_t* xt = job.act + t0 * job.act_row_bytes;
    for (int64_t r = std::max(r0, packed_end); r < r1; ++r) {
      job.dot(w.n_in, w.data + r * w.row_bytes, xt, job.act_row_bytes, n_x, out);
      for (int j = 0; j < n_x; ++j) job.y[(t0 + j) * w.n_out + r] = out[j];
    }
  }
}

// Per calling thread, grown as needed and then reused.
std::vector<uint8_t>& activation_scratch() {
  thread_local std::vector<uint8_t> scratch;
  return scratch;
}

}  // namespace

namespace {

// Fills everything of the job but its activations; returns the bytes of its quantized
// activations (0 where the kernel reads the floats).
size_t prepare_job(MatmulJob& job, const WeightMatrix& w, int64_t n_tokens, float* y, const DotBackend& backend,
                   int64_t n_threads) {
  job.w = &w;
  job.dot = dot_kernel(backend, w.type);
  const PackedLayout* layout = packed_layout(backend, w.type);
  job.packed = (w.packed && layout && w.packed_layout == layout && packable(w, *layout)) ? layout : nullptr;
  job.packed_rows = job.packed ? w.n_out / layout->rows * layout->rows : 0;
  job.group_bytes = job.packed ? packed_group_bytes(w, *layout) : 0;
  job.n_tokens = n_tokens;
  job.y = y;
  // Many chunks per thread so a thread slowed by the OS is helped by the others and the
  // threads finish together (with several forks a chunk of the output matrix costs
  // milliseconds), but chunks of at least 16 rows so the shared counter is touched rarely.
  job.chunk_rows = std::max<int64_t>(16, (w.n_out + n_threads * 32 - 1) / (n_threads * 32));
  if (job.packed) job.chunk_rows = (job.chunk_rows + layout->rows - 1) / layout->rows * layout->rows;
  job.n_chunks = (w.n_out + job.chunk_rows - 1) / job.chunk_rows;
  if (activation_type(w.type) == GgmlType::F32) {
    job.act_row_bytes = static_cast<size_t>(w.n_in) * sizeof(float);
    return 0;
  }
  job.act_row_bytes = activation_row_bytes(w.type, w.n_in);
  return job.act_row_bytes * static_cast<size_t>(n_tokens);
}

void quantize_activations(MatmulJob& job, const float* x, uint8_t* dst, const DotBackend& backend) {
  const WeightMatrix& w = *job.w;
  const QuantizeFn quantize = activation_quantizer(backend, w.type);
  for (int64_t t = 0; t < job.n_tokens; ++t) quantize(x + t * w.n_in, dst + t * job.act_row_bytes, w.n_in);
  job.act = dst;
}

// Runs the chunks of jobs[0..n) over the pool, taken from one counter in order: chunk c
// belongs to the job j with first_chunk[j] <= c < first_chunk[j + 1]. The task captures
// a single pointer, so the std::function stays in its small buffer and nothing is
// allocated per call.
void run_jobs(const MatmulJob* jobs, const int64_t* first_chunk, size_t n, ThreadPool& pool) {
  struct Shared {
    const MatmulJob* jobs;
    const int64_t* first_chunk;
    int64_t n_chunks;
    std::atomic<int64_t> next{0};
  } shared{jobs, first_chunk, first_chunk[n]};
  if (shared.n_chunks == 0) return;
  Shared* sp = &shared;
  pool.run([sp](int, int) {
    size_t j = 0;
    for (;;) {
      const int64_t c = sp->next.fetch_add(1, std::memory_order_relaxed);
      if (c >= sp->n_chunks) return;
      while (c >= sp->first_chunk[j + 1]) ++j;  // a thread's chunks only grow
      const MatmulJob& job = sp->jobs[j];
      const int64_t r0 = (c - sp->first_chunk[j]) * job.chunk_rows;
      run_chunk(job, r0, std::min(r0 + job.chunk_rows, job.w->n_out));
    }
  });
}

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            const DotBackend& backend) {
  check_matrix(w);
  if (n_tokens <= 0 || w.n_out == 0) return;
  MatmulJob job;
  const size_t act_bytes = prepare_job(job, w, n_tokens, y, backend, pool.size());
  if (act_bytes == 0) {
    job.act = reinterpret_cast<const uint8_t*>(x);
  } else {
    auto& scratch = activation_scratch();
    if (scratch.size() < act_bytes) scratch.resize(act_bytes);
    quantize_activations(job, x, scratch.data(), backend);
  }
  const int64_t first_chunk[2] = {0, job.n_chunks};
  run_jobs(&job, first_chunk, 1, pool);
}

void matmul_many(std::span<const MatmulTask> tasks, ThreadPool& pool) {
  const DotBackend& backend = dot_backend();
  thread_local std::vector<uint8_t> scratch;  // every task's activations, one after another
  std::vector<MatmulJob> jobs(tasks.size());
  std::vector<int64_t> first_chunk(tasks.size() + 1, 0);
  std::vector<size_t> act_offset(tasks.size(), 0);
  size_t act_bytes = 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const MatmulTask& t = tasks[i];
    check_matrix(*t.w);
    const int64_t n = t.w->n_out == 0 ? 0 : std::max<int64_t>(t.n_tokens, 0);
    act_offset[i] = act_bytes;
    act_bytes += prepare_job(jobs[i], *t.w, n, t.y, backend, pool.size());
    if (n == 0) jobs[i].n_chunks = 0;
    first_chunk[i + 1] = first_chunk[i] + jobs[i].n_chunks;
  }
  if (scratch.size() < act_bytes) scratch.resize(act_bytes);
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (jobs[i].n_chunks == 0) continue;
    if (activation_type(tasks[i].w->type) == GgmlType::F32) jobs[i].act = reinterpret_cast<const uint8_t*>(tasks[i].x);
    else quantize_activations(jobs[i], tasks[i].x, scratch.data() + act_offset[i], backend);
  }
  run_jobs(jobs.data(), first_chunk.data(), jobs.size(), pool);
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  matmul(w, x, n_tokens, y, pool, dot_backend());
}

void matmul_reference(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y,
                      ThreadPool& /*pool*/) {
  check_matrix(w);
  std::vector<float> row(static_cast<size_t>(w.n_in));
  for (int64_t r = 0; r < w.n_out; ++r) {
    dequantize_row(w.type, w.data + r * w.row_bytes, row.data(), w.n_in);
    for (int64_t t = 0; t < n_tokens; ++t) {
      double sum = 0;
      for (int64_t i = 0; i < w.n_in; ++i) sum += static_cast<double>(row[i]) * x[t * w.n_in + i];
      y[t * w.n_out + r] = static_cast<float>(sum);
    }
  }
}

}  // namespace entropix
