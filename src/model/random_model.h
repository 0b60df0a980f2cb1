// Random-weight GGUF models in the shapes of real ones (Llama-3.2-1B, Qwen2.5-0.5B)
// or a tiny shape for tests, with a synthetic tokenizer, for speed work and for
// comparing the engine with the numpy reference (tests/py/reference).
//
// Shapes (hyperparameters and vocabulary):
//   llama-1b   Llama-3.2-1B: n_embd 2048, 16 layers, 32 heads, 8 kv heads, head dim 64,
//              ff 8192, vocab 128256 (Llama 3 specials), rope base 500000 with Llama-3
//              frequency factors (factor 32, low 1, high 4, original context 8192), tied output.
//   qwen-0.5b  Qwen2.5-0.5B: n_embd 896, 24 layers, 14 heads, 2 kv heads, head dim 64,
//              ff 4864, vocab 151936 (Qwen specials), rope base 1e6, tied output.
//   gemma3-1b  Gemma 3 1B: n_embd 1152, 26 layers, 4 heads, 1 kv head, head dim 256,
//              ff 6912, vocab 262144 (Gemma SentencePiece), rope base 1e6 (1e4 windowed),
//              window 512 on five layers of six, tied output.
//   gemma2-2b  Gemma 2 2B: n_embd 2304, 26 layers, 8 heads, 4 kv heads, head dim 256,
//              ff 9216, vocab 256000 (Gemma SentencePiece), window 4096 on every other
//              layer, soft-caps 50 (scores) and 30 (logits), tied output.
//   phi4-mini  Phi-4-mini: n_embd 3072, 32 layers, 24 heads, 8 kv heads, head dim 128
//              (96 rotated), ff 8192, vocab 200064 (a Llama-3-style BPE), long-rope from
//              4096 to 131072 positions, tied output.
//   qwen3moe-a3b  Qwen3-30B-A3B: n_embd 2048, 48 layers, 32 heads, 4 kv heads, head dim
//              128, 128 experts of width 768 with 8 per token, vocab 151936, separate output.
//   tiny       n_embd 256, 2 layers, 4 heads, 2 kv heads, head dim 64 (128 for qwen3, as
//              Qwen3 decouples it from n_embd / n_head), ff 512, vocab 512; every row
//              length a multiple of 256, so every type applies without fallback. With
//              arch llama: Llama-3 frequency factors and a separate output.weight; with
//              qwen2/qwen3: tied output, Qwen specials; with gemma2/gemma3: a Gemma
//              vocabulary, a window of 8 on layer 0 (pattern 2), gemma2 soft-caps 0.5 and
//              1 (small, to bend the tiny model's values); with phi3: 48 of 64 dims rotated,
//              long-rope beyond 512 positions, a separate output.weight; with qwen3moe: 4
//              experts of width 256, 2 per token.
// The arch adds its parts: qwen2 biases on q, k, v; qwen3 q/k RMSNorm weights; gemma2/3
// post-attention and post-feed-forward norms (gemma3 also q/k norms); phi3 one attn_qkv
// and one ffn_up holding gate and up, and rope_factors_long/short; qwen3moe an F32 router
// ffn_gate_inp and 3-D ffn_{gate,up,down}_exps (Q4_K_M's Q6_K layers for the down ones). Rope frequency
// factors are written for arch llama only (the other loaders ignore them). Q4_K_M gives
// phi3's attn_qkv Q5_K, as llama.cpp does.
//
// Types: f32, f16, bf16, q8_0, q4_0, q5_k, q6_k put every matrix in that type (as
// llama-quantize --pure); q4_k_m mixes as llama.cpp's Q4_K_M: Q4_K, with Q6_K for the
// output (token_embd when tied) and for attn_v / ffn_down of the layers llama.cpp's
// use_more_bits picks. A K-quant on a row whose length is not a multiple of 256 falls
// back as llama.cpp does where we support the target (Q6_K -> Q8_0) and otherwise
// to the nearest supported type (Q4_K -> Q4_0 where llama.cpp uses Q5_0, Q5_K -> Q8_0
// where it uses Q5_1). Norms, biases and rope factors are always F32.
//
// Weights: matrices N(0, 0.02^2), biases N(0, 0.1^2), norm weights 1 + N(0, 0.05^2);
// "normal" is the Irwin-Hall sum of four uniforms (variance-matched, |z| < 3.47),
// cheap enough for a billion values. Each block of rows draws from its own stream
// derived from (seed, tensor, block), so a file is identical for any thread count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace entropix {

struct RandomModelOptions {
  std::string shape = "tiny";  // llama-1b, qwen-0.5b, gemma3-1b, gemma2-2b, phi4-mini, qwen3moe-a3b, tiny
  std::string arch;            // llama, qwen2, qwen3, qwen3moe, gemma2, gemma3, phi3 (empty: the shape's own)
  std::string type = "q8_0";   // f32, f16, bf16, q8_0, q4_0, q4_k_m, q5_k, q6_k
  uint64_t seed = 0;
  int32_t n_threads = 0;       // 0: hardware concurrency
};

struct RandomModelSummary {
  int64_t n_params = 0;      // elements of all tensors
  size_t file_bytes = 0;
  size_t n_tensors = 0;
  std::string type_counts;   // "q4_K: 98, q6_K: 15, f32: 33"
  std::string arch;          // the architecture written
};

// Names accepted by RandomModelOptions (for help texts and errors).
const std::vector<std::string>& random_model_shapes();
const std::vector<std::string>& random_model_archs();
const std::vector<std::string>& random_model_types();

// Generates the model and writes it to path. Throws Error naming the bad value for
// an unknown shape, arch or type, or the path when it cannot be written. Tensors are
// made one at a time as the file is written, so memory holds the largest tensor only.
RandomModelSummary write_random_model(const RandomModelOptions& options, const std::string& path);

}  // namespace entropix
