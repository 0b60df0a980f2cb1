#include "model/engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fmt/core.h>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "core/error.h"
#include "gguf/gguf.h"
#include "kernels/attention_kernels.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "model/arch/arch.h"
#include "model/kv_cache.h"
#include "model/ops.h"
#include "model/weights.h"
#include "runtime/thread_pool.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

struct Engine::Impl {
  std::unique_ptr<GgufFile> file;
  ModelConfig cfg;
  ModelWeights w;
  std::unique_ptr<Tokenizer> tokenizer;
  EngineOptions opt;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<KvCache> kv;
  std::vector<float> inv_freq;  // [n_rot/2] rope frequency per rotated pair

  // Scratch for one chunk of at most max_batch tokens, allocated once.
  std::vector<float> x, xn, q, k, v, att, gate, up, tmp;  // [B][width]
  std::vector<float> rope_cos, rope_sin;                 // [B][n_rot/2]
  std::vector<int32_t> slot, pos, logit_row;             // [B]
  std::vector<int32_t> tile_start;                       // attention tiles of the chunk, then B
  // Per thread: attention scores [kMaxTileRows][score_stride], then a tile's queries and
  // outputs, [kMaxTileRows][head_dim] each.
  std::vector<float> thread_scratch;
  size_t score_stride = 0;  // n_ctx rounded up to whole key pages

  // Outputs of the last decode().
  std::vector<float> logits;  // [n_rows][n_vocab]
  size_t n_rows = 0;
  std::vector<float> kept_scores;           // concatenated [n_head][n_pos] blocks
  std::vector<size_t> kept_offset;          // [n_rows]
  std::vector<int32_t> kept_npos;           // [n_rows]

  void forward_chunk(std::span<const BatchToken> chunk, size_t first_row);
  void attention(int32_t layer, std::span<const BatchToken> chunk);
  void check_capacity(std::span<const BatchToken> batch) const;
};

namespace {

// Query rows (tokens of one sequence times heads of one KV head) that share each pass over
// a key or value page.
constexpr int32_t kMaxTileRows = 16;

// MemAvailable of /proc/meminfo in bytes; nullopt where there is none.
std::optional<uint64_t> available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return std::nullopt;
}

std::string gib(uint64_t bytes) { return fmt::format("{:.1f} GiB", double(bytes) / double(1ull << 30)); }

}  // namespace

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::load(const std::string& path, const EngineOptions& options) {
  auto m = std::make_unique<Impl>();
  m->file = GgufFile::open(path);
  m->opt = options;
  ModelConfig& c = m->cfg;
  c.arch = m->file->get_string("general.architecture");
  c.name = m->file->get_string("general.name", "");
  const ArchSpec* spec = find_arch(c.arch);
  if (!spec) {
    throw Error(path + ": architecture \"" + c.arch + "\" is not supported (supported: " +
                std::string(supported_arch_names()) + ")");
  }
  spec->configure(*m->file, c);
  m->tokenizer = Tokenizer::from_gguf(*m->file);
  c.n_vocab = m->tokenizer->n_vocab();
  m->w = load_weights(*m->file, c);

  if (m->opt.n_threads <= 0) m->opt.n_threads = std::max(1u, std::thread::hardware_concurrency());
  if (m->opt.max_batch <= 0) m->opt.max_batch = 256;
  if (m->opt.n_ctx <= 0) m->opt.n_ctx = std::min(c.n_ctx_train, 4096);
  if (m->opt.attention_layer < 0) m->opt.attention_layer = c.n_layer - 1;
  if (m->opt.attention_layer >= c.n_layer) {
    throw Error("attention layer " + std::to_string(m->opt.attention_layer) + " does not exist (the model has " +
                std::to_string(c.n_layer) + " layers)");
  }
  // The context's keys and values (and the per-thread attention scores) are checked
  // against the memory there is before anything is allocated: an allocation the system
  // overcommits would otherwise end the process later, with no word of why.
  m->score_stride = (size_t(m->opt.n_ctx) + KvCache::kPageSize - 1) / KvCache::kPageSize * KvCache::kPageSize;
  const size_t scratch_per_thread = size_t(kMaxTileRows) * (m->score_stride + 2 * size_t(c.head_dim));
  const uint64_t context_bytes = KvCache::bytes_for(c.n_layer, c.n_head_kv * c.head_dim, m->opt.n_ctx, m->opt.cache_type) +
                                 uint64_t(m->opt.n_threads) * scratch_per_thread * sizeof(float);
  const std::string context_needs = "a context of " + std::to_string(m->opt.n_ctx) + " positions needs " +
                                    gib(context_bytes) + " for its keys and values";
  if (const auto available = available_memory_bytes(); available && context_bytes > *available)
    throw Error(context_needs + ", and " + gib(*available) + " of memory is available: give a smaller context size (-c)");
  m->pool = std::make_unique<ThreadPool>(m->opt.n_threads);
  if (m->opt.packed_weights) pack_weights(m->w, *m->file, *m->pool, dot_backend());
  try {
    m->kv = std::make_unique<KvCache>(c.n_layer, c.n_head_kv * c.head_dim, m->opt.n_ctx, m->opt.cache_type);
    m->thread_scratch.resize(size_t(m->opt.n_threads) * scratch_per_thread);
  } catch (const std::bad_alloc&) {
    throw Error(context_needs + ", which could not be allocated: give a smaller context size (-c)");
  }

  const int32_t half = c.n_rot / 2;
  m->inv_freq.resize(static_cast<size_t>(half));
  for (int32_t i = 0; i < half; ++i) {
    double f = std::pow(double(c.rope_base), -2.0 * i / c.n_rot) * c.rope_freq_scale;
    if (!m->w.rope_factors.empty()) f /= m->w.rope_factors[static_cast<size_t>(i)];
    m->inv_freq[static_cast<size_t>(i)] = static_cast<float>(f);
  }

  const size_t B = static_cast<size_t>(m->opt.max_batch);
  const size_t q_dim = size_t(c.n_head) * c.head_dim, kv_dim = size_t(c.n_head_kv) * c.head_dim;
  m->x.resize(B * c.n_embd);
  m->xn.resize(B * c.n_embd);
  m->tmp.resize(B * c.n_embd);
  m->q.resize(B * q_dim);
  m->att.resize(B * q_dim);
  m->k.resize(B * kv_dim);
  m->v.resize(B * kv_dim);
  m->gate.resize(B * c.n_ff);
  m->up.resize(B * c.n_ff);
  m->rope_cos.resize(B * half);
  m->rope_sin.resize(B * half);
  m->slot.resize(B);
  m->pos.resize(B);
  m->logit_row.resize(B);
  return std::unique_ptr<Engine>(new Engine(std::move(m)));
}

const ModelConfig& Engine::config() const { return impl_->cfg; }
const Tokenizer& Engine::tokenizer() const { return *impl_->tokenizer; }
const GgufFile& Engine::file() const { return *impl_->file; }
std::optional<std::string> Engine::chat_template() const {
  constexpr const char* kKey = "tokenizer.chat_template";
  if (!impl_->file->has(kKey)) return std::nullopt;
  return impl_->file->get_string(kKey);
}
const EngineOptions& Engine::options() const { return impl_->opt; }
int32_t Engine::n_ctx() const { return impl_->kv->capacity(); }

SeqId Engine::new_sequence() { return impl_->kv->new_sequence(); }
SeqId Engine::fork(SeqId parent) { return impl_->kv->fork(parent); }
void Engine::free_sequence(SeqId seq) { impl_->kv->free_sequence(seq); }
int32_t Engine::seq_length(SeqId seq) const { return impl_->kv->length(seq); }
void Engine::truncate(SeqId seq, int32_t length) { impl_->kv->truncate(seq, length); }
int32_t Engine::free_positions() const { return impl_->kv->free_positions(); }
size_t Engine::kv_bytes_in_use() const { return impl_->kv->bytes_in_use(); }
KvCache& Engine::kv_cache() { return *impl_->kv; }

std::span<const float> Engine::logits(size_t i) const {
  if (i >= impl_->n_rows) throw Error("logit row " + std::to_string(i) + " was not computed");
  const size_t n = static_cast<size_t>(impl_->cfg.n_vocab);
  return {impl_->logits.data() + i * n, n};
}

size_t Engine::n_logit_rows() const { return impl_->n_rows; }

AttentionScores Engine::attention_scores(size_t i) const {
  if (!impl_->opt.attention_scores) throw Error("attention scores were not enabled for this engine");
  if (i >= impl_->n_rows) throw Error("logit row " + std::to_string(i) + " was not computed");
  return {impl_->kept_scores.data() + impl_->kept_offset[i], impl_->cfg.n_head, impl_->kept_npos[i]};
}

size_t Engine::weight_bytes() const {
  auto bytes = [](const WeightMatrix& m) { return m.row_bytes * static_cast<size_t>(m.n_out); };
  size_t total = bytes(impl_->w.output);
  for (const auto& l : impl_->w.layers) {
    total += bytes(l.wq) + bytes(l.wk) + bytes(l.wv) + bytes(l.wo) + bytes(l.w_gate) + bytes(l.w_up) + bytes(l.w_down);
  }
  return total;
}

void Engine::Impl::check_capacity(std::span<const BatchToken> batch) const {
  std::unordered_map<SeqId, int32_t> added;
  for (const auto& t : batch) {
    if (!kv->is_live(t.seq)) throw Error("sequence " + std::to_string(t.seq) + " does not exist");
    if (t.token < 0 || t.token >= cfg.n_vocab) {
      throw Error("token id " + std::to_string(t.token) + " is outside the vocabulary (0.." +
                  std::to_string(cfg.n_vocab - 1) + ")");
    }
    ++added[t.seq];
  }
  int64_t pages_needed = 0;
  for (const auto& [seq, n] : added) {
    int32_t len = kv->length(seq);
    if (int64_t{len} + n > kv->capacity()) {
      throw Error("sequence of " + std::to_string(len + n) + " tokens exceeds the context size of " +
                  std::to_string(kv->capacity()) + " (raise it with -c)");
    }
    pages_needed += kv->pages_to_append(seq, n);
  }
  if (pages_needed * KvCache::kPageSize > kv->free_positions()) {
    throw Error("KV cache is full: " + std::to_string(kv->free_positions()) + " free positions for " +
                std::to_string(batch.size()) + " new tokens (raise the context size with -c)");
  }
}

void Engine::decode(std::span<const BatchToken> batch) {
  Impl& m = *impl_;
  m.check_capacity(batch);
  const size_t n_rows = static_cast<size_t>(std::count_if(batch.begin(), batch.end(), [](const BatchToken& t) {
    return t.want_logits;
  }));
  m.n_rows = 0;
  if (m.logits.size() < n_rows * m.cfg.n_vocab) m.logits.resize(n_rows * m.cfg.n_vocab);
  m.kept_scores.clear();
  m.kept_offset.assign(n_rows, 0);
  m.kept_npos.assign(n_rows, 0);
  size_t row = 0;
  for (size_t start = 0; start < batch.size(); start += static_cast<size_t>(m.opt.max_batch)) {
    auto chunk = batch.subspan(start, std::min(batch.size() - start, static_cast<size_t>(m.opt.max_batch)));
    m.forward_chunk(chunk, row);
    for (const auto& t : chunk) row += t.want_logits ? 1 : 0;
  }
  m.n_rows = n_rows;
}

void Engine::Impl::forward_chunk(std::span<const BatchToken> chunk, size_t first_row) {
  const ModelConfig& c = cfg;
  const int64_t B = static_cast<int64_t>(chunk.size());
  const int64_t d = c.n_embd, hd = c.head_dim;
  const int64_t q_dim = int64_t{c.n_head} * hd, kv_dim = int64_t{c.n_head_kv} * hd;
  const int32_t half = c.n_rot / 2;

  // Positions, cache slots, rope angles and the embeddings of the chunk.
  size_t row = first_row;
  for (int64_t t = 0; t < B; ++t) {
    const BatchToken& bt = chunk[static_cast<size_t>(t)];
    pos[t] = kv->length(bt.seq);
    slot[t] = kv->append(bt.seq);
    logit_row[t] = bt.want_logits ? static_cast<int32_t>(row++) : -1;
    for (int32_t i = 0; i < half; ++i) {
      float angle = static_cast<float>(pos[t]) * inv_freq[static_cast<size_t>(i)];
      rope_cos[t * half + i] = std::cos(angle);
      rope_sin[t * half + i] = std::sin(angle);
    }
    dequantize_row(w.token_embd.type, w.token_embd.data + size_t(bt.token) * w.token_embd.row_bytes, &x[t * d], d);
    if (opt.attention_scores && bt.want_logits) {
      kept_offset[static_cast<size_t>(logit_row[t])] = kept_scores.size();
      kept_npos[static_cast<size_t>(logit_row[t])] = pos[t] + 1;
      kept_scores.resize(kept_scores.size() + size_t(c.n_head) * (pos[t] + 1));
    }
  }

  for (int32_t l = 0; l < c.n_layer; ++l) {
    const LayerWeights& L = w.layers[static_cast<size_t>(l)];
    for (int64_t t = 0; t < B; ++t) rms_norm(&x[t * d], L.attn_norm.data(), &xn[t * d], d, c.rms_eps);
    matmul(L.wq, xn.data(), B, q.data(), *pool);
    matmul(L.wk, xn.data(), B, k.data(), *pool);
    matmul(L.wv, xn.data(), B, v.data(), *pool);
    for (int64_t t = 0; t < B; ++t) {
      float* qt = &q[t * q_dim];
      float* kt = &k[t * kv_dim];
      float* vt = &v[t * kv_dim];
      if (c.qkv_bias) {
        add_inplace(qt, L.bq.data(), q_dim);
        add_inplace(kt, L.bk.data(), kv_dim);
        add_inplace(vt, L.bv.data(), kv_dim);
      }
      const float* cs = &rope_cos[t * half];
      const float* sn = &rope_sin[t * half];
      for (int32_t h = 0; h < c.n_head; ++h) {
        float* head = qt + h * hd;
        if (c.qk_norm) rms_norm(head, L.q_norm.data(), head, hd, c.rms_eps);
        if (c.rope_style == RopeStyle::Interleaved) rope_interleaved(head, cs, sn, c.n_rot);
        else rope_half_split(head, cs, sn, c.n_rot);
      }
      for (int32_t h = 0; h < c.n_head_kv; ++h) {
        float* head = kt + h * hd;
        if (c.qk_norm) rms_norm(head, L.k_norm.data(), head, hd, c.rms_eps);
        if (c.rope_style == RopeStyle::Interleaved) rope_interleaved(head, cs, sn, c.n_rot);
        else rope_half_split(head, cs, sn, c.n_rot);
      }
      kv->write_key(l, slot[t], kt);
      kv->write_value(l, slot[t], vt);
    }
    attention(l, chunk);
    matmul(L.wo, att.data(), B, tmp.data(), *pool);
    for (int64_t t = 0; t < B; ++t) add_inplace(&x[t * d], &tmp[t * d], d);

    for (int64_t t = 0; t < B; ++t) rms_norm(&x[t * d], L.ffn_norm.data(), &xn[t * d], d, c.rms_eps);
    matmul(L.w_gate, xn.data(), B, gate.data(), *pool);
    matmul(L.w_up, xn.data(), B, up.data(), *pool);
    // Element-wise over all rows at once, split across the threads, as its cost grows with
    // the forks. Capturing only [this, n_act] keeps the task allocation-free.
    const int64_t n_act = B * c.n_ff;
    pool->run([this, n_act](int thread, int n_threads) {
      const int64_t begin = n_act * thread / n_threads, end = n_act * (thread + 1) / n_threads;
      swiglu_inplace(&gate[begin], &up[begin], end - begin);
    });
    matmul(L.w_down, gate.data(), B, tmp.data(), *pool);
    for (int64_t t = 0; t < B; ++t) add_inplace(&x[t * d], &tmp[t * d], d);
  }

  // Only the rows that asked for logits go through the output projection.
  int64_t n_sel = 0;
  for (int64_t t = 0; t < B; ++t) {
    if (logit_row[t] < 0) continue;
    rms_norm(&x[t * d], w.output_norm.data(), &xn[n_sel * d], d, c.rms_eps);
    ++n_sel;
  }
  if (n_sel > 0) matmul(w.output, xn.data(), n_sel, logits.data() + first_row * c.n_vocab, *pool);
}

void Engine::Impl::attention(int32_t layer, std::span<const BatchToken> chunk) {
  const ModelConfig& c = cfg;
  const int64_t B = static_cast<int64_t>(chunk.size());
  const int32_t hd = c.head_dim, group = c.n_head / c.n_head_kv;
  const int64_t q_dim = int64_t{c.n_head} * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const bool keep = opt.attention_scores && layer == opt.attention_layer;
  const int32_t kv_dim = kv->kv_dim();
  const bool f16 = kv->type() == KvType::F16;
  const auto* V32 = static_cast<const float*>(kv->values(layer));
  const auto* V16 = static_cast<const uint16_t*>(kv->values(layer));
  // A task is a tile of consecutive tokens of one sequence and a few query heads of one
  // KV head: each key and value page is read once for all its rows (grouped-query
  // attention shares them, and so do the tokens of a prompt). The heads of a group are
  // split when that leaves a thread idle. Every row's sums run in the same order
  // whatever tile it is in, so a token's output does not depend on the batch or the
  // thread count.
  int32_t per_task = std::min(group, kMaxTileRows);
  while (per_task > 1 && ((per_task % 2 == 0 && B * c.n_head / per_task < pool->size()) || group % per_task != 0)) {
    per_task /= 2;
  }
  const int32_t tasks_per_tile = c.n_head / per_task;
  const int32_t tile_tokens = std::max(1, kMaxTileRows / per_task);
  tile_start.clear();
  for (int64_t t = 0; t < B; ++t) {
    const bool continues = t > 0 && chunk[size_t(t)].seq == chunk[size_t(t - 1)].seq && pos[t] == pos[t - 1] + 1 &&
                           t - tile_start.back() < tile_tokens;
    if (!continues) tile_start.push_back(static_cast<int32_t>(t));
  }
  const int64_t n_tiles = static_cast<int64_t>(tile_start.size());
  tile_start.push_back(static_cast<int32_t>(B));
  const int64_t n_tasks = n_tiles * tasks_per_tile;
  const AttentionKernels& kernels = attention_kernels();
  const size_t scratch_per_thread = size_t(kMaxTileRows) * (score_stride + 2 * size_t(hd));

  // Striped over the threads. Passed by reference, so the pool's std::function holds no
  // copy of the many captures and allocates nothing per layer.
  const auto tiles = [&](int thread, int n_threads) {
    float* scores = &thread_scratch[size_t(thread) * scratch_per_thread];
    float* qtile = scores + size_t(kMaxTileRows) * score_stride;
    float* otile = qtile + size_t(kMaxTileRows) * size_t(hd);
    for (int64_t task = thread; task < n_tasks; task += n_threads) {
      const int64_t tile = task / tasks_per_tile;
      const int32_t h0 = static_cast<int32_t>(task % tasks_per_tile) * per_task;
      const int32_t kvh = h0 / group;
      const int64_t t0 = tile_start[size_t(tile)], n_tok = tile_start[size_t(tile) + 1] - t0;
      const int32_t rows = static_cast<int32_t>(n_tok) * per_task;
      const std::span<const int32_t> pages = kv->pages(chunk[static_cast<size_t>(t0)].seq);
      const int32_t n_pos_max = pos[t0 + n_tok - 1] + 1;  // the tile's last token sees the most
      // Row r is token t0 + r / per_task, head h0 + r % per_task.
      for (int64_t i = 0; i < n_tok; ++i) {
        std::memcpy(qtile + size_t(i) * per_task * hd, &q[(t0 + i) * q_dim + int64_t{h0} * hd], size_t(per_task) * hd * sizeof(float));
      }
      for (int32_t j0 = 0; j0 < n_pos_max; j0 += KvCache::kPageSize) {
        const int32_t page = pages[static_cast<size_t>(j0 / KvCache::kPageSize)];
        const size_t head = size_t(kvh) * hd * KvCache::kPageSize;
        if (f16) {
          kernels.scores_f16(qtile, rows, static_cast<const uint16_t*>(kv->key_page(layer, page)) + head, hd, scale,
                             scores + j0, score_stride);
        } else {
          kernels.scores(qtile, rows, static_cast<const float*>(kv->key_page(layer, page)) + head, hd, scale, scores + j0,
                         score_stride);
        }
      }
      for (int32_t r = 0; r < rows; ++r) {
        const int64_t t = t0 + r / per_task;
        const int32_t n_pos = pos[t] + 1;
        float* sr = scores + size_t(r) * score_stride;
        if (keep && logit_row[t] >= 0) {
          float* dst = &kept_scores[kept_offset[static_cast<size_t>(logit_row[t])] + size_t(h0 + r % per_task) * n_pos];
          std::memcpy(dst, sr, size_t(n_pos) * sizeof(float));
        }
        kernels.softmax(sr, n_pos);
        // Earlier tokens of the tile do not see the later positions: their weights are 0.
        std::fill(sr + n_pos, sr + n_pos_max, 0.0f);
      }
      std::fill(otile, otile + size_t(rows) * hd, 0.0f);
      for (int32_t j0 = 0; j0 < n_pos_max; j0 += KvCache::kPageSize) {
        const size_t base = size_t(pages[static_cast<size_t>(j0 / KvCache::kPageSize)]) * KvCache::kPageSize;
        const size_t offset = base * kv_dim + size_t(kvh) * hd;
        const int32_t n_rows = std::min(KvCache::kPageSize, n_pos_max - j0);
        if (f16) {
          kernels.values_f16(scores + j0, score_stride, rows, V16 + offset, kv_dim, n_rows, hd, otile);
        } else {
          kernels.values(scores + j0, score_stride, rows, V32 + offset, kv_dim, n_rows, hd, otile);
        }
      }
      for (int64_t i = 0; i < n_tok; ++i) {
        std::memcpy(&att[(t0 + i) * q_dim + int64_t{h0} * hd], otile + size_t(i) * per_task * hd, size_t(per_task) * hd * sizeof(float));
      }
    }
  };
  pool->run(std::cref(tiles));
}

}  // namespace entropix
