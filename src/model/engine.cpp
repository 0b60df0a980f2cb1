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
#include "kernels/blocks.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "model/arch/arch.h"
#include "model/kv_cache.h"
#include "model/moe_ffn.h"
#include "model/ops.h"
#include "model/weights.h"
#include "runtime/thread_pool.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

namespace {

// Positions per attention block. A row's softmax runs over the cache block by block and
// is merged as it goes (online softmax): scratch stays small at any context length, and
// one token's blocks can be spread over the threads. The blocks are fixed positions, so
// a row's arithmetic does not depend on how the work is split.
constexpr int32_t kAttentionBlock = 256;

// Query rows (tokens of one sequence times heads of one KV head) that share each pass over
// a key or value page.
constexpr int32_t kMaxTileRows = 16;

// Floats of one thread's attention scratch.
size_t attention_scratch_floats(int32_t head_dim) {
  return size_t(kMaxTileRows) * (size_t(kAttentionBlock) + 3 * size_t(head_dim) + 4);
}

// How far ahead of the page attention works on it asks for the keys and values of a
// later one: far enough that memory delivers them while the block computes.
constexpr int32_t kKeyPagesAhead = 8, kValuePagesAhead = 4;

// A partial softmax of some query rows over some positions: per row the largest score,
// the sum of exp(score - max), and the value rows weighted by those exponentials.
struct BlockPartial {
  float* values;  // [rows][head_dim]
  float* max;     // [rows]
  float* sum;     // [rows]
};

}  // namespace

struct Engine::Impl {
  std::unique_ptr<GgufFile> file;
  ModelConfig cfg;
  ModelWeights w;
  std::unique_ptr<Tokenizer> tokenizer;
  EngineOptions opt;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<KvCache> kv;
  std::unique_ptr<MoeFeedForward> moe;  // mixture-of-experts models only
  // Rope frequency per rotated pair, [n_rot/2]: of the global layers and of the windowed
  // ones (sliding-window models rotate those with their own base).
  std::vector<float> inv_freq, inv_freq_swa;

  // Scratch for one chunk of at most max_batch tokens, allocated once.
  std::vector<float> x, xn, q, k, v, att, gate, up, tmp;  // [B][width]
  std::vector<float> rope_cos, rope_sin;                 // [B][n_rot/2]
  std::vector<float> rope_cos_swa, rope_sin_swa;         // [B][n_rot/2], windowed layers
  std::vector<int32_t> slot, pos, logit_row;             // [B]
  std::vector<int32_t> kept_first;                       // [B] first kept position of a logit row
  std::vector<int32_t> tile_start;                       // attention tiles of the chunk, then B
  // Per thread: a block's attention scores [kMaxTileRows][kAttentionBlock], a tile's
  // queries [kMaxTileRows][head_dim], then a block's partial softmax and the running one.
  std::vector<float> thread_scratch;
  // Decoding attention split over cache blocks: (task, block) pieces of work and their
  // partial softmaxes, [item][kMaxTileRows][head_dim + 2].
  struct SplitItem {
    int32_t task, block;
  };
  std::vector<SplitItem> split_items;
  std::vector<float> split_partials;
  int32_t attn_per_task = 1, attn_tasks_per_tile = 1;  // query heads per task, tasks per tile

  // Outputs of the last decode().
  std::vector<float> logits;  // [n_rows][n_vocab]
  size_t n_rows = 0;
  std::vector<float> kept_scores;           // concatenated [n_head][n_pos] blocks
  std::vector<size_t> kept_offset;          // [n_rows]
  std::vector<int32_t> kept_npos;           // [n_rows]

  void forward_chunk(std::span<const BatchToken> chunk, size_t first_row);
  void attention(int32_t layer, std::span<const BatchToken> chunk);
  // A tile of tokens and query heads of one KV head; rows are token-major.
  struct AttentionTask {
    int64_t t0 = 0, n_tok = 0;
    int32_t h0 = 0, kvh = 0, rows = 0, n_pos_max = 0;
    SeqId seq = 0;
  };
  AttentionTask attention_task(int64_t task, std::span<const BatchToken> chunk) const;
  // The task's scores against positions [block * kAttentionBlock, ...) up to what its
  // last token sees, exponentiated, and the value rows they weigh: a partial softmax.
  void attention_block(int32_t layer, const AttentionTask& a, int32_t block, const float* qtile, float* scores,
                       BlockPartial out);
  void check_capacity(std::span<const BatchToken> batch) const;
  // Positions a layer's query at `position` attends to start here (the sliding window).
  int32_t first_visible(int32_t layer, int32_t position) const {
    if (cfg.sliding_window <= 0 || !cfg.swa_layer[static_cast<size_t>(layer)]) return 0;
    return std::max(0, position - cfg.sliding_window + 1);
  }
};

namespace {

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
  if (m->opt.attention_layer < 0) {
    // The last layer that sees the whole context (not a sliding window), for attention metrics.
    m->opt.attention_layer = c.n_layer - 1;
    while (c.sliding_window > 0 && m->opt.attention_layer > 0 && c.swa_layer[size_t(m->opt.attention_layer)]) {
      --m->opt.attention_layer;
    }
  }
  if (m->opt.attention_layer >= c.n_layer) {
    throw Error("attention layer " + std::to_string(m->opt.attention_layer) + " does not exist (the model has " +
                std::to_string(c.n_layer) + " layers)");
  }
  // The context's keys and values (and the per-thread attention scores) are checked
  // against the memory there is before anything is allocated: an allocation the system
  // overcommits would otherwise end the process later, with no word of why.
  const size_t scratch_per_thread = attention_scratch_floats(c.head_dim);
  SlidingWindow window;
  if (c.sliding_window > 0) window = {c.sliding_window, {c.swa_layer.begin(), c.swa_layer.end()}};
  const uint64_t context_bytes = KvCache::bytes_for(c.n_layer, c.n_head_kv * c.head_dim, m->opt.n_ctx,
                                                    m->opt.cache_type, window, m->opt.max_batch) +
                                 uint64_t(m->opt.n_threads) * scratch_per_thread * sizeof(float);
  const std::string context_needs = "a context of " + std::to_string(m->opt.n_ctx) + " positions needs " +
                                    gib(context_bytes) + " for its keys and values";
  if (const auto available = available_memory_bytes(); available && context_bytes > *available)
    throw Error(context_needs + ", and " + gib(*available) + " of memory is available: give a smaller context size (-c)");
  if (m->opt.cache_type == KvType::Q8_0 && c.head_dim % kQK8_0 != 0) {
    throw Error("a q8_0 KV cache needs a head size in multiples of 32, and this model's is " +
                std::to_string(c.head_dim) + ": use --cache-type f16");
  }
  m->pool = std::make_unique<ThreadPool>(m->opt.n_threads);
  if (m->opt.packed_weights) pack_weights(m->w, *m->file, *m->pool, dot_backend());
  try {
    m->kv = std::make_unique<KvCache>(c.n_layer, c.n_head_kv * c.head_dim, m->opt.n_ctx, m->opt.cache_type, window,
                                      c.n_head_kv);
    m->thread_scratch.resize(size_t(m->opt.n_threads) * scratch_per_thread);
  } catch (const std::bad_alloc&) {
    throw Error(context_needs + ", which could not be allocated: give a smaller context size (-c)");
  }

  const int32_t half = c.n_rot / 2;
  // phi3's long-rope divisors: the long ones when the context exceeds the original one,
  // as llama.cpp chooses them.
  const FloatVec& factors = !c.rope_long_short           ? m->w.rope_factors
                            : m->opt.n_ctx > c.rope_orig_ctx ? m->w.rope_factors_long
                                                             : m->w.rope_factors_short;
  const auto frequencies = [&](float base, float scale, const FloatVec& divisors) {
    std::vector<float> out(static_cast<size_t>(half));
    for (int32_t i = 0; i < half; ++i) {
      double f = std::pow(double(base), -2.0 * i / c.n_rot) * scale;
      if (!divisors.empty()) f /= divisors[static_cast<size_t>(i)];
      out[static_cast<size_t>(i)] = static_cast<float>(f);
    }
    return out;
  };
  m->inv_freq = frequencies(c.rope_base, c.rope_freq_scale, factors);
  if (c.sliding_window > 0) m->inv_freq_swa = frequencies(c.rope_base_swa, c.rope_freq_scale_swa, {});

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
  if (c.sliding_window > 0) {
    m->rope_cos_swa.resize(B * half);
    m->rope_sin_swa.resize(B * half);
  }
  m->kept_first.resize(B);
  if (c.n_expert > 0) m->moe = std::make_unique<MoeFeedForward>(m->cfg, m->opt.max_batch);
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
  const ModelConfig& c = impl_->cfg;
  for (const auto& l : impl_->w.layers) {
    total += bytes(l.wq) + bytes(l.wk) + bytes(l.wv) + bytes(l.wo);
    if (c.n_expert > 0) {
      // The router and, per token, n_expert_used experts (all experts are the same size).
      total += bytes(l.ffn_gate_inp) + size_t(c.n_expert_used) * (bytes(l.gate_exps[0]) + bytes(l.up_exps[0]) +
                                                                   bytes(l.down_exps[0]));
    } else {
      total += bytes(l.w_gate) + bytes(l.w_up) + bytes(l.w_down);
    }
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
  // The sequences' windowed layers let go of what the next positions no longer read.
  if (m.kv->window() > 0) {
    for (const auto& t : batch) m.kv->trim_window(t.seq);
  }
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
    // phi3's long-rope scales cos and sin by its attention factor (1 elsewhere).
    for (int32_t i = 0; i < half; ++i) {
      float angle = static_cast<float>(pos[t]) * inv_freq[static_cast<size_t>(i)];
      rope_cos[t * half + i] = std::cos(angle) * c.rope_attn_factor;
      rope_sin[t * half + i] = std::sin(angle) * c.rope_attn_factor;
    }
    for (size_t i = 0; i < inv_freq_swa.size(); ++i) {
      float angle = static_cast<float>(pos[t]) * inv_freq_swa[i];
      rope_cos_swa[size_t(t) * half + i] = std::cos(angle);
      rope_sin_swa[size_t(t) * half + i] = std::sin(angle);
    }
    dequantize_row(w.token_embd.type, w.token_embd.data + size_t(bt.token) * w.token_embd.row_bytes, &x[t * d], d);
    if (c.embd_scale != 1.0f) {
      for (int64_t i = 0; i < d; ++i) x[t * d + i] *= c.embd_scale;
    }
    if (opt.attention_scores && bt.want_logits) {
      // A windowed layer keeps the scores of the positions in its window.
      kept_first[t] = first_visible(opt.attention_layer, pos[t]);
      kept_offset[static_cast<size_t>(logit_row[t])] = kept_scores.size();
      kept_npos[static_cast<size_t>(logit_row[t])] = pos[t] + 1 - kept_first[t];
      kept_scores.resize(kept_scores.size() + size_t(c.n_head) * (pos[t] + 1 - kept_first[t]));
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
      const bool windowed = c.sliding_window > 0 && c.swa_layer[static_cast<size_t>(l)];
      const float* cs = windowed ? &rope_cos_swa[t * half] : &rope_cos[t * half];
      const float* sn = windowed ? &rope_sin_swa[t * half] : &rope_sin[t * half];
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
    if (c.post_norms) {
      for (int64_t t = 0; t < B; ++t) rms_norm(&tmp[t * d], L.attn_post_norm.data(), &tmp[t * d], d, c.rms_eps);
    }
    for (int64_t t = 0; t < B; ++t) add_inplace(&x[t * d], &tmp[t * d], d);

    for (int64_t t = 0; t < B; ++t) rms_norm(&x[t * d], L.ffn_norm.data(), &xn[t * d], d, c.rms_eps);
    if (moe) {
      moe->run(L, xn.data(), B, tmp.data(), *pool);
    } else {
      matmul(L.w_gate, xn.data(), B, gate.data(), *pool);
      matmul(L.w_up, xn.data(), B, up.data(), *pool);
      // Element-wise over all rows at once, split across the threads, as its cost grows with
      // the forks. Capturing only [this, n_act] keeps the task allocation-free.
      const int64_t n_act = B * c.n_ff;
      pool->run([this, n_act](int thread, int n_threads) {
        const int64_t begin = n_act * thread / n_threads, end = n_act * (thread + 1) / n_threads;
        if (cfg.ffn_act == FfnActivation::GeluTanh) geglu_tanh_inplace(&gate[begin], &up[begin], end - begin);
        else swiglu_inplace(&gate[begin], &up[begin], end - begin);
      });
      matmul(L.w_down, gate.data(), B, tmp.data(), *pool);
    }
    if (c.post_norms) {
      for (int64_t t = 0; t < B; ++t) rms_norm(&tmp[t * d], L.ffn_post_norm.data(), &tmp[t * d], d, c.rms_eps);
    }
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
  if (c.final_softcap > 0.0f && n_sel > 0) {
    float* rows = logits.data() + first_row * c.n_vocab;
    soft_cap_inplace(rows, n_sel * c.n_vocab, c.final_softcap);
  }
}

Engine::Impl::AttentionTask Engine::Impl::attention_task(int64_t task, std::span<const BatchToken> chunk) const {
  const int32_t group = cfg.n_head / cfg.n_head_kv;
  AttentionTask a;
  const int64_t tile = task / attn_tasks_per_tile;
  a.h0 = static_cast<int32_t>(task % attn_tasks_per_tile) * attn_per_task;
  a.kvh = a.h0 / group;
  a.t0 = tile_start[size_t(tile)];
  a.n_tok = tile_start[size_t(tile) + 1] - a.t0;
  a.rows = static_cast<int32_t>(a.n_tok) * attn_per_task;
  a.n_pos_max = pos[a.t0 + a.n_tok - 1] + 1;  // the tile's last token sees the most
  a.seq = chunk[static_cast<size_t>(a.t0)].seq;
  return a;
}

void Engine::Impl::attention_block(int32_t layer, const AttentionTask& a, int32_t block, const float* qtile,
                                   float* scores, BlockPartial out) {
  const AttentionKernels& kernels = attention_kernels();
  const int32_t hd = cfg.head_dim;
  const float scale = cfg.attn_scale > 0.0f ? cfg.attn_scale : 1.0f / std::sqrt(static_cast<float>(hd));
  const bool keep = opt.attention_scores && layer == opt.attention_layer;
  const KvType type = kv->type();
  const std::span<const int32_t> pages = kv->pages(a.seq);
  const int32_t b0 = block * kAttentionBlock, b1 = std::min(b0 + kAttentionBlock, a.n_pos_max);
  const size_t head_bytes = kv->head_row_bytes();  // of a value row; a page's keys take as much per row
  // The block's pages: the head's keys and its value rows in each, and those of the pages
  // a few further on in the task's positions (kKeyPagesAhead), which the kernels ask
  // memory for while they work on these.
  const int32_t n_pages = (b1 - b0 + KvCache::kPageSize - 1) / KvCache::kPageSize;
  const int32_t n_last = b1 - b0 - (n_pages - 1) * KvCache::kPageSize;  // rows of the last page
  const int32_t task_pages = (a.n_pos_max + KvCache::kPageSize - 1) / KvCache::kPageSize;
  constexpr int32_t kBlockPages = kAttentionBlock / KvCache::kPageSize;
  const void *key_pages[kBlockPages], *value_pages[kBlockPages], *keys_ahead[kBlockPages], *values_ahead[kBlockPages];
  // A windowed layer may have let go of pages behind the window of the tile's first token;
  // no token of the tile sees them, so the first one it sees stands in (weighed 0).
  const int32_t first_seen = pages[static_cast<size_t>(std::max(b0, first_visible(layer, pos[a.t0])) / KvCache::kPageSize)];
  int32_t block_pages[kBlockPages];
  for (int32_t j = 0; j < n_pages; ++j) {
    const int32_t index = b0 / KvCache::kPageSize + j;
    const int32_t held = pages[static_cast<size_t>(index)];
    const int32_t page = block_pages[j] = kv->stored(layer, held) ? held : first_seen;
    key_pages[j] = kv->key_page(layer, page, a.kvh);
    value_pages[j] = kv->value_page(layer, page, a.kvh);
    // Past the task's last page, a page of the block stands in (already in cache).
    const auto later = [&](int32_t ahead) {
      const int32_t at = index + ahead < task_pages ? pages[static_cast<size_t>(index + ahead)] : page;
      return kv->stored(layer, at) ? at : page;
    };
    keys_ahead[j] = kv->key_page(layer, later(kKeyPagesAhead), a.kvh);
    values_ahead[j] = kv->value_page(layer, later(kValuePagesAhead), a.kvh);
  }
  switch (type) {
    case KvType::F16:
      kernels.scores_pages_f16(qtile, a.rows, key_pages, keys_ahead, n_pages, hd, scale, scores, kAttentionBlock);
      break;
    case KvType::F32:
      kernels.scores_pages(qtile, a.rows, key_pages, keys_ahead, n_pages, hd, scale, scores, kAttentionBlock);
      break;
    case KvType::Q8_0:
      for (int32_t j = 0; j < n_pages; ++j) {
        prefetch_bytes(keys_ahead[j], KvCache::kPageSize * head_bytes);
        kernels.scores_q8(qtile, a.rows, static_cast<const int8_t*>(key_pages[j]),
                          kv->key_scales(layer, block_pages[j], a.kvh),
                          hd, scale, scores + size_t(j) * KvCache::kPageSize, kAttentionBlock);
      }
      break;
  }
  // Row r is token t0 + r / per_task, head h0 + r % per_task.
  for (int32_t r = 0; r < a.rows; ++r) {
    const int64_t t = a.t0 + r / attn_per_task;
    // The token sees positions [lo, hi) of the block: up to itself, and from the start
    // of its window in a windowed layer.
    const int32_t lo = std::max(first_visible(layer, pos[t]), b0) - b0;
    const int32_t hi = std::min(pos[t] + 1, b1) - b0;
    float* sr = scores + size_t(r) * kAttentionBlock;
    if (hi <= lo) {  // the token sees none of this block
      out.max[r] = 0.0f;
      out.sum[r] = 0.0f;
      std::fill(sr, sr + (b1 - b0), 0.0f);
      continue;
    }
    if (cfg.attn_softcap > 0.0f) soft_cap_inplace(sr + lo, hi - lo, cfg.attn_softcap);
    if (keep && logit_row[t] >= 0) {
      const int32_t first = kept_first[t];
      float* dst = &kept_scores[kept_offset[static_cast<size_t>(logit_row[t])] +
                                size_t(a.h0 + r % attn_per_task) * size_t(pos[t] + 1 - first) + size_t(b0 + lo - first)];
      std::memcpy(dst, sr + lo, size_t(hi - lo) * sizeof(float));
    }
    out.sum[r] = kernels.exponentiate(sr + lo, hi - lo, &out.max[r]);
    // Positions the token does not see weigh 0.
    std::fill(sr, sr + lo, 0.0f);
    std::fill(sr + hi, sr + (b1 - b0), 0.0f);
  }
  std::fill(out.values, out.values + size_t(a.rows) * hd, 0.0f);
  switch (type) {
    case KvType::F16:
      kernels.values_pages_f16(scores, kAttentionBlock, a.rows, value_pages, values_ahead, n_pages, n_last, hd, hd,
                               out.values);
      break;
    case KvType::F32:
      kernels.values_pages(scores, kAttentionBlock, a.rows, value_pages, values_ahead, n_pages, n_last, hd, hd, out.values);
      break;
    case KvType::Q8_0:
      for (int32_t j = 0; j < n_pages; ++j) {
        prefetch_bytes(values_ahead[j], KvCache::kPageSize * head_bytes);
        kernels.values_q8(scores + size_t(j) * KvCache::kPageSize, kAttentionBlock, a.rows,
                          static_cast<const uint8_t*>(value_pages[j]), head_bytes,
                          j + 1 < n_pages ? KvCache::kPageSize : n_last, hd, out.values);
      }
      break;
  }
}

namespace {

// Folds a block's partial softmax into the running one of the rows before it (online
// softmax): both are rescaled to the larger maximum. A row with no position in the block
// (sum 0) is left as it is; the first block a row sees is taken as it is.
void merge_block(int32_t rows, int32_t hd, BlockPartial block, BlockPartial run) {
  for (int32_t r = 0; r < rows; ++r) {
    if (block.sum[r] == 0.0f) continue;
    float* o = run.values + size_t(r) * hd;
    const float* ob = block.values + size_t(r) * hd;
    if (run.sum[r] == 0.0f) {
      std::memcpy(o, ob, size_t(hd) * sizeof(float));
      run.max[r] = block.max[r];
      run.sum[r] = block.sum[r];
      continue;
    }
    const float m = std::max(run.max[r], block.max[r]);
    const float a = std::exp(run.max[r] - m), b = std::exp(block.max[r] - m);
    for (int32_t d = 0; d < hd; ++d) o[d] = o[d] * a + ob[d] * b;
    run.sum[r] = run.sum[r] * a + block.sum[r] * b;
    run.max[r] = m;
  }
}

}  // namespace

void Engine::Impl::attention(int32_t layer, std::span<const BatchToken> chunk) {
  const ModelConfig& c = cfg;
  const int64_t B = static_cast<int64_t>(chunk.size());
  const int32_t hd = c.head_dim, group = c.n_head / c.n_head_kv;
  const int64_t q_dim = int64_t{c.n_head} * hd;
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
  attn_per_task = per_task;
  attn_tasks_per_tile = c.n_head / per_task;
  const int32_t tile_tokens = std::max(1, kMaxTileRows / per_task);
  tile_start.clear();
  for (int64_t t = 0; t < B; ++t) {
    const bool continues = t > 0 && chunk[size_t(t)].seq == chunk[size_t(t - 1)].seq && pos[t] == pos[t - 1] + 1 &&
                           t - tile_start.back() < tile_tokens;
    if (!continues) tile_start.push_back(static_cast<int32_t>(t));
  }
  const int64_t n_tiles = static_cast<int64_t>(tile_start.size());
  tile_start.push_back(static_cast<int32_t>(B));
  const int64_t n_tasks = n_tiles * attn_tasks_per_tile;
  const size_t scratch_per_thread = attention_scratch_floats(hd);
  const auto scratch = [&](int thread) {
    float* base = &thread_scratch[size_t(thread) * scratch_per_thread];
    struct {
      float *scores, *qtile;
      BlockPartial block, run;
    } s;
    const size_t R = kMaxTileRows;
    s.scores = base;
    s.qtile = base + R * kAttentionBlock;
    s.block = {s.qtile + R * hd, s.qtile + 2 * R * hd, s.qtile + 2 * R * hd + R};
    s.run = {s.block.sum + R, s.block.sum + R + R * hd, s.block.sum + 2 * R + R * hd};
    return s;
  };
  const auto load_queries = [&](const AttentionTask& a, float* qtile) {
    for (int64_t i = 0; i < a.n_tok; ++i) {
      std::memcpy(qtile + size_t(i) * attn_per_task * hd, &q[(a.t0 + i) * q_dim + int64_t{a.h0} * hd],
                  size_t(attn_per_task) * hd * sizeof(float));
    }
  };
  const auto store_outputs = [&](const AttentionTask& a, BlockPartial run) {
    for (int32_t r = 0; r < a.rows; ++r) {
      const float inv = 1.0f / run.sum[r];
      float* dst = &att[(a.t0 + r / attn_per_task) * q_dim + int64_t{a.h0 + r % attn_per_task} * hd];
      for (int32_t d = 0; d < hd; ++d) dst[d] = run.values[size_t(r) * hd + d] * inv;
    }
  };
  // A task's blocks: from the one its first token's window starts in (0 without a window)
  // to the one its last token is in.
  const auto first_block = [&](const AttentionTask& a) { return first_visible(layer, pos[a.t0]) / kAttentionBlock; };
  const auto end_block = [](const AttentionTask& a) { return (a.n_pos_max + kAttentionBlock - 1) / kAttentionBlock; };
  const auto n_blocks = [&](const AttentionTask& a) { return end_block(a) - first_block(a); };

  // Few tasks over a long context (decoding one or a few tokens): each block of each task
  // is its own piece of work (split-K) so that every thread takes a share of the cache,
  // and the blocks' partial softmaxes are merged afterwards in order. Otherwise a task
  // takes its blocks one after another. The merges run in the same order either way.
  bool split = false;
  if (n_tasks < 2 * int64_t{pool->size()}) {
    for (int64_t task = 0; task < n_tasks && !split; ++task) split = n_blocks(attention_task(task, chunk)) > 1;
  }
  if (!split) {
    const auto tasks = [&](int thread, int n_threads) {
      auto s = scratch(thread);
      for (int64_t task = thread; task < n_tasks; task += n_threads) {
        const AttentionTask a = attention_task(task, chunk);
        load_queries(a, s.qtile);
        std::fill(s.run.sum, s.run.sum + a.rows, 0.0f);
        for (int32_t block = first_block(a), n = end_block(a); block < n; ++block) {
          attention_block(layer, a, block, s.qtile, s.scores, s.block);
          merge_block(a.rows, hd, s.block, s.run);
        }
        store_outputs(a, s.run);
      }
    };
    pool->run(std::cref(tasks));
    return;
  }
  const size_t partial_floats = size_t(kMaxTileRows) * (size_t(hd) + 2);
  split_items.clear();
  for (int64_t task = 0; task < n_tasks; ++task) {
    const AttentionTask a = attention_task(task, chunk);
    for (int32_t block = first_block(a), n = end_block(a); block < n; ++block) {
      split_items.push_back({static_cast<int32_t>(task), block});
    }
  }
  const int64_t n_items = static_cast<int64_t>(split_items.size());
  if (split_partials.size() < size_t(n_items) * partial_floats) split_partials.resize(size_t(n_items) * partial_floats);
  const auto partial = [&](int64_t item) {
    float* p = &split_partials[size_t(item) * partial_floats];
    return BlockPartial{p, p + size_t(kMaxTileRows) * hd, p + size_t(kMaxTileRows) * hd + kMaxTileRows};
  };
  const auto blocks = [&](int thread, int n_threads) {
    auto s = scratch(thread);
    for (int64_t item = thread; item < n_items; item += n_threads) {
      const AttentionTask a = attention_task(split_items[size_t(item)].task, chunk);
      load_queries(a, s.qtile);
      attention_block(layer, a, split_items[size_t(item)].block, s.qtile, s.scores, partial(item));
    }
  };
  pool->run(std::cref(blocks));
  const auto merges = [&](int thread, int n_threads) {
    auto s = scratch(thread);
    int64_t item = 0;
    for (int64_t task = 0; task < n_tasks; ++task) {
      const AttentionTask a = attention_task(task, chunk);
      const int64_t first = item;
      item += n_blocks(a);
      if (task % n_threads != thread) continue;
      std::fill(s.run.sum, s.run.sum + a.rows, 0.0f);
      for (int64_t i = first; i < item; ++i) merge_block(a.rows, hd, partial(i), s.run);
      store_outputs(a, s.run);
    }
  };
  pool->run(std::cref(merges));
}

}  // namespace entropix
