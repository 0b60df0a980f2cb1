// The model's tensors, located in the mapped GGUF file and checked against the config.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/page_buffer.h"
#include "kernels/matmul.h"
#include "model/model_config.h"

namespace entropix {

class GgufFile;

// A vector parameter (norm weight, bias, rope factors) converted to float at load.
using FloatVec = std::vector<float>;

struct LayerWeights {
  FloatVec attn_norm;           // [n_embd]
  WeightMatrix wq, wk, wv, wo;  // [n_head*hd x n_embd], [n_kv*hd x n_embd] x2, [n_embd x n_head*hd]
  FloatVec bq, bk, bv;          // qwen2 only: [n_head*hd], [n_kv*hd], [n_kv*hd]
  FloatVec q_norm, k_norm;      // qwen3 only: [hd]
  FloatVec attn_post_norm;      // gemma2/3 only: [n_embd], on the attention output
  FloatVec ffn_norm;            // [n_embd]
  WeightMatrix w_gate, w_up;    // [n_ff x n_embd]
  WeightMatrix w_down;          // [n_embd x n_ff]
  FloatVec ffn_post_norm;       // gemma2/3 only: [n_embd], on the feed-forward output
  // qwen3moe only, in place of w_gate/w_up/w_down: the router [n_expert x n_embd] and
  // each expert's matrices, views of the file's 3-D tensors ([n_ff_exp x n_embd] for
  // gate and up, [n_embd x n_ff_exp] for down).
  WeightMatrix ffn_gate_inp;
  std::vector<WeightMatrix> gate_exps, up_exps, down_exps;
};

struct ModelWeights {
  // Packed copies of the matrices (kernels/repack.h) that WeightMatrix::packed
  // points into; empty unless pack_weights ran.
  std::vector<PageBuffer> packed_storage;
  WeightMatrix token_embd;  // [n_vocab x n_embd]: row t is the embedding of token t
  std::vector<LayerWeights> layers;
  FloatVec output_norm;     // [n_embd]
  WeightMatrix output;      // [n_vocab x n_embd] (token_embd when tied)
  FloatVec rope_factors;    // [n_rot/2] divisors of the rope frequencies (empty: none)
  // phi3 long-rope: the divisors for contexts beyond the original one and within it.
  FloatVec rope_factors_long, rope_factors_short;
};

// Finds every tensor the config needs; throws Error naming a missing tensor, a
// wrong shape or an unsupported type.
ModelWeights load_weights(const GgufFile& file, ModelConfig& config);

// Gives every matrix of `w` whose type the backend has a packed layout for (kernels/
// repack.h) a packed copy for its batched kernel, packed on the pool's threads, and releases the file's pages of the rows packed (file.release_pages),
// so that memory holds each matrix about once; returns the bytes allocated. The file's
// own rows stay valid for everything else (embedding lookups, the rows past the last
// group, other backends).
size_t pack_weights(ModelWeights& w, const GgufFile& file, ThreadPool& pool, const DotBackend& backend);

}  // namespace entropix
