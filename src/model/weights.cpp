#include "model/weights.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "gguf/gguf.h"
#include "kernels/quant.h"
#include "kernels/repack.h"
#include "runtime/thread_pool.h"

namespace entropix {

namespace {

std::string shape_string(const GgufTensorInfo& t) {
  std::string s = "[";
  for (int i = 0; i < t.n_dims; ++i) s += (i ? ", " : "") + std::to_string(t.ne[i]);
  return s + "]";
}

const GgufTensorInfo& require_tensor(const GgufFile& file, const std::string& name) {
  const GgufTensorInfo* info = file.find_tensor(name);
  if (!info) throw Error(file.path() + ": tensor " + name + " is missing");
  return *info;
}

void check_supported(const GgufFile& file, const GgufTensorInfo& t) {
  auto traits = ggml_type_traits(static_cast<uint32_t>(t.type));
  if (!traits || !traits->supported) {
    throw Error(file.path() + ": tensor " + t.name + " has type " +
                std::string(traits ? traits->name : "unknown") +
                ", which is not supported (f32, f16, bf16, q8_0, q4_0, q4_K, q5_K, q6_K)");
  }
}

WeightMatrix matrix(const GgufFile& file, const std::string& name, int64_t n_in, int64_t n_out) {
  const GgufTensorInfo& t = require_tensor(file, name);
  check_supported(file, t);
  if (t.n_dims != 2 || t.ne[0] != n_in || t.ne[1] != n_out) {
    throw Error(file.path() + ": tensor " + name + " has shape " + shape_string(t) + ", expected [" +
                std::to_string(n_in) + ", " + std::to_string(n_out) + "]");
  }
  return WeightMatrix{t.type, n_in, n_out, file.tensor_data(t), ggml_row_bytes(t.type, n_in)};
}

// Rows [first, first + n) of m: a fused matrix read as its parts.
WeightMatrix rows_of(const WeightMatrix& m, int64_t first, int64_t n) {
  WeightMatrix part = m;
  part.data = m.data + static_cast<size_t>(first) * m.row_bytes;
  part.n_out = n;
  return part;
}

// The n_expert matrices [n_out x n_in] of a 3-D tensor [n_in, n_out, n_expert], each a
// view of its rows.
std::vector<WeightMatrix> experts(const GgufFile& file, const std::string& name, int64_t n_in, int64_t n_out,
                                  int64_t n_expert) {
  const GgufTensorInfo& t = require_tensor(file, name);
  check_supported(file, t);
  if (t.n_dims != 3 || t.ne[0] != n_in || t.ne[1] != n_out || t.ne[2] != n_expert) {
    throw Error(file.path() + ": tensor " + name + " has shape " + shape_string(t) + ", expected [" +
                std::to_string(n_in) + ", " + std::to_string(n_out) + ", " + std::to_string(n_expert) + "]");
  }
  const size_t row_bytes = ggml_row_bytes(t.type, n_in);
  std::vector<WeightMatrix> out;
  for (int64_t e = 0; e < n_expert; ++e) {
    out.push_back(WeightMatrix{t.type, n_in, n_out, file.tensor_data(t) + size_t(e * n_out) * row_bytes, row_bytes});
  }
  return out;
}

FloatVec vector(const GgufFile& file, const std::string& name, int64_t n) {
  const GgufTensorInfo& t = require_tensor(file, name);
  check_supported(file, t);
  if (t.n_elements() != n || t.ne[0] != n) {
    throw Error(file.path() + ": tensor " + name + " has shape " + shape_string(t) + ", expected [" +
                std::to_string(n) + "]");
  }
  FloatVec out(static_cast<size_t>(n));
  dequantize_row(t.type, file.tensor_data(t), out.data(), n);
  return out;
}

}  // namespace

ModelWeights load_weights(const GgufFile& file, ModelConfig& c) {
  ModelWeights w;
  const int64_t d = c.n_embd, hd = c.head_dim, q_dim = int64_t{c.n_head} * hd, kv_dim = int64_t{c.n_head_kv} * hd;

  const GgufTensorInfo& embd = require_tensor(file, "token_embd.weight");
  if (embd.n_dims == 2 && embd.ne[0] == d && c.n_vocab == 0) c.n_vocab = static_cast<int32_t>(embd.ne[1]);
  w.token_embd = matrix(file, "token_embd.weight", d, c.n_vocab);

  w.layers.resize(static_cast<size_t>(c.n_layer));
  for (int32_t i = 0; i < c.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    l.attn_norm = vector(file, b + "attn_norm.weight", d);
    if (file.find_tensor(b + "attn_qkv.weight")) {  // phi3: q, k and v in one matrix
      const WeightMatrix qkv = matrix(file, b + "attn_qkv.weight", d, q_dim + 2 * kv_dim);
      l.wq = rows_of(qkv, 0, q_dim);
      l.wk = rows_of(qkv, q_dim, kv_dim);
      l.wv = rows_of(qkv, q_dim + kv_dim, kv_dim);
    } else {
      l.wq = matrix(file, b + "attn_q.weight", d, q_dim);
      l.wk = matrix(file, b + "attn_k.weight", d, kv_dim);
      l.wv = matrix(file, b + "attn_v.weight", d, kv_dim);
    }
    l.wo = matrix(file, b + "attn_output.weight", q_dim, d);
    if (c.qkv_bias) {
      l.bq = vector(file, b + "attn_q.bias", q_dim);
      l.bk = vector(file, b + "attn_k.bias", kv_dim);
      l.bv = vector(file, b + "attn_v.bias", kv_dim);
    }
    if (c.qk_norm) {
      l.q_norm = vector(file, b + "attn_q_norm.weight", hd);
      l.k_norm = vector(file, b + "attn_k_norm.weight", hd);
    }
    if (c.post_norms) {
      l.attn_post_norm = vector(file, b + "post_attention_norm.weight", d);
      l.ffn_post_norm = vector(file, b + "post_ffw_norm.weight", d);
    }
    l.ffn_norm = vector(file, b + "ffn_norm.weight", d);
    if (c.n_expert > 0) {
      l.ffn_gate_inp = matrix(file, b + "ffn_gate_inp.weight", d, c.n_expert);
      l.gate_exps = experts(file, b + "ffn_gate_exps.weight", d, c.n_ff_exp, c.n_expert);
      l.up_exps = experts(file, b + "ffn_up_exps.weight", d, c.n_ff_exp, c.n_expert);
      l.down_exps = experts(file, b + "ffn_down_exps.weight", c.n_ff_exp, d, c.n_expert);
      continue;
    }
    if (!file.find_tensor(b + "ffn_gate.weight") && file.find_tensor(b + "ffn_up.weight")) {
      // phi3: gate and up in one matrix, the gate's rows first
      const WeightMatrix gate_up = matrix(file, b + "ffn_up.weight", d, 2 * int64_t{c.n_ff});
      l.w_gate = rows_of(gate_up, 0, c.n_ff);
      l.w_up = rows_of(gate_up, c.n_ff, c.n_ff);
    } else {
      l.w_gate = matrix(file, b + "ffn_gate.weight", d, c.n_ff);
      l.w_up = matrix(file, b + "ffn_up.weight", d, c.n_ff);
    }
    l.w_down = matrix(file, b + "ffn_down.weight", c.n_ff, d);
  }
  w.output_norm = vector(file, "output_norm.weight", d);
  c.tied_output = file.find_tensor("output.weight") == nullptr;
  w.output = c.tied_output ? w.token_embd : matrix(file, "output.weight", d, c.n_vocab);
  if (c.rope_freq_factors) w.rope_factors = vector(file, "rope_freqs.weight", c.n_rot / 2);
  if (c.rope_long_short) {
    w.rope_factors_long = vector(file, "rope_factors_long.weight", c.n_rot / 2);
    w.rope_factors_short = vector(file, "rope_factors_short.weight", c.n_rot / 2);
  }

  c.n_params = 0;
  for (const auto& t : file.tensors()) c.n_params += t.n_elements();
  return w;
}

size_t pack_weights(ModelWeights& w, const GgufFile& file, ThreadPool& pool, const DotBackend& backend) {
  size_t total = 0;
  auto pack = [&](WeightMatrix& m) {
    const PackedLayout* layout = packed_layout(backend, m.type);
    const size_t bytes = layout ? packed_bytes(m, *layout) : 0;
    if (bytes == 0 || m.packed) return;
    // Page-aligned (every 64-byte vector of a whole-line layout within one line), mapped
    // in bulk, the file's rows too: faults taken page by page cost more than the packing.
    PageBuffer buffer(bytes);
    const int64_t groups = m.n_out / layout->rows;
    uint8_t* dst = buffer.data();
    const size_t group_bytes = packed_group_bytes(m, *layout);
    const size_t group_file_bytes = static_cast<size_t>(layout->rows) * m.row_bytes;
    // A slice of about 32 MiB of the file's rows at a time, its pages given back once
    // packed: memory holds the packed copy and one slice, not the whole matrix twice.
    const int64_t slice = std::max<int64_t>(1, int64_t{32 << 20} / static_cast<int64_t>(group_file_bytes));
    for (int64_t s0 = 0; s0 < groups; s0 += slice) {
      const int64_t s1 = std::min(groups, s0 + slice);
      const uint8_t* rows = m.data + static_cast<size_t>(s0) * group_file_bytes;
      const size_t rows_bytes = static_cast<size_t>(s1 - s0) * group_file_bytes;
      prefault_for_reading(rows, rows_bytes);
      pool.run([&](int i, int n) {
        const int64_t g0 = s0 + (s1 - s0) * i / n, g1 = s0 + (s1 - s0) * (i + 1) / n;
        prefault_for_writing(dst + g0 * group_bytes, static_cast<size_t>(g1 - g0) * group_bytes);
        layout->pack(m, dst, g0, g1);
      });
      // The token embeddings may share these bytes (tied output); their rows are read
      // one at a time and come back from the file on demand.
      file.release_pages(rows, rows_bytes);
    }
    m.packed = dst;
    m.packed_layout = layout;
    w.packed_storage.push_back(std::move(buffer));
    total += bytes;
  };
  for (LayerWeights& l : w.layers) {
    for (WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      if (m->data) pack(*m);
    }
    for (auto* group : {&l.gate_exps, &l.up_exps, &l.down_exps}) {
      for (WeightMatrix& m : *group) pack(m);
    }
  }
  pack(w.output);
  return total;
}

}  // namespace entropix
