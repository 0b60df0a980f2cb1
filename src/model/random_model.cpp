#include "model/random_model.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <cmath>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <numbers>
#include <thread>

#include "core/error.h"
#include "core/ggml_type.h"
#include "gguf/gguf_writer.h"
#include "kernels/quant.h"
#include "model/random_vocab.h"

namespace entropix {

namespace {

// ---------------------------------------------------------------- shapes and hyperparameters

struct Shape {
  std::string name;
  int32_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
  float rope_base;
  float rms_eps;
  bool llama3_rope;  // Llama-3 frequency factors (for arch llama)
  bool tied;         // output projection is token_embd
  VocabFamily vocab;
  // The arch's parts (see arch_parts), zero where it has none.
  int32_t n_rot = 0;           // rotated dimensions (0: head_dim)
  int32_t sliding_window = 0;  // gemma2/3 (phi3: the key only)
  int32_t swa_period = 0;      // written as attention.sliding_window_pattern when set
  float attn_softcap = 0.0f, final_softcap = 0.0f;  // gemma2
  int32_t rope_orig_ctx = 0;   // phi3 long-rope: original context (factors written when set)
  int32_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0;  // qwen3moe
};

// The full-size shapes each belong to one architecture.
std::string shape_arch(const std::string& shape) {
  if (shape == "gemma2-2b") return "gemma2";
  if (shape == "gemma3-1b") return "gemma3";
  if (shape == "phi4-mini") return "phi3";
  if (shape == "qwen-0.5b") return "qwen2";
  if (shape == "qwen3moe-a3b") return "qwen3moe";
  return "llama";
}

// Phi-3's long-rope attention factor, as llama.cpp's converter computes it.
float phi3_attn_factor(int32_t n_ctx_train, int32_t orig_ctx) {
  const double scale = double(n_ctx_train) / orig_ctx;
  return scale <= 1.0 ? 1.0f : static_cast<float>(std::sqrt(1.0 + std::log(scale) / std::log(double(orig_ctx))));
}

// Llama-3 rope scaling of Llama-3.2-1B (config.json "rope_scaling").
constexpr double kRopeFactor = 32.0;
constexpr double kRopeLowFreqFactor = 1.0;
constexpr double kRopeHighFreqFactor = 4.0;
constexpr double kRopeOriginalContext = 8192.0;

constexpr float kMatrixStd = 0.02f;
constexpr float kBiasStd = 0.1f;
constexpr float kNormStd = 0.05f;

Shape find_shape(const std::string& shape, const std::string& arch) {
  const bool llama = arch == "llama";
  if (shape == "llama-1b") {
    return {shape, 128256, 131072, 2048, 16, 32, 8, 64, 8192, 500000.0f, 1e-5f, true, true, VocabFamily::Llama3};
  }
  if (shape == "qwen-0.5b") {
    return {shape, 151936, 32768, 896, 24, 14, 2, 64, 4864, 1000000.0f, 1e-6f, false, true, VocabFamily::Qwen2};
  }
  if (shape == "gemma3-1b") {  // Gemma 3 1B: window 512 on five of six layers
    Shape s{shape, 262144, 32768, 1152, 26, 4, 1, 256, 6912, 1000000.0f, 1e-6f, false, true, VocabFamily::Gemma};
    s.sliding_window = 512;
    return s;
  }
  if (shape == "gemma2-2b") {  // Gemma 2 2B: window 4096 on every other layer, soft-capping
    Shape s{shape, 256000, 8192, 2304, 26, 8, 4, 256, 9216, 10000.0f, 1e-6f, false, true, VocabFamily::Gemma};
    s.sliding_window = 4096;
    s.attn_softcap = 50.0f;
    s.final_softcap = 30.0f;
    return s;
  }
  if (shape == "phi4-mini") {  // Phi-4-mini: 3/4 of each head rotated, long-rope over 4096 -> 131072
    Shape s{shape, 200064, 131072, 3072, 32, 24, 8, 128, 8192, 10000.0f, 1e-5f, false, true, VocabFamily::Llama3};
    s.n_rot = 96;
    s.rope_orig_ctx = 4096;
    s.sliding_window = 262144;  // written as Phi-4-mini's files carry it (not applied)
    return s;
  }
  if (shape == "qwen3moe-a3b") {  // Qwen3-30B-A3B: 128 experts of width 768, 8 per token
    Shape s{shape, 151936, 40960, 2048, 48, 32, 4, 128, 6144, 1000000.0f, 1e-6f, false, false, VocabFamily::Qwen2};
    s.n_expert = 128;
    s.n_expert_used = 8;
    s.n_ff_exp = 768;
    return s;
  }
  if (shape == "tiny") {
    const int32_t head_dim = arch == "qwen3" || arch == "qwen3moe" ? 128 : 64;
    const bool gemma = arch == "gemma2" || arch == "gemma3";
    Shape s{shape, 512, 2048, 256, 2, 4, 2, head_dim, 512, llama ? 500000.0f : 1000000.0f,
            llama ? 1e-5f : 1e-6f, true, !llama && arch != "phi3",
            gemma ? VocabFamily::Gemma : llama || arch == "phi3" ? VocabFamily::Llama3 : VocabFamily::Qwen2};
    // A window shorter than the tests' prompts, on layer 0 of 2; caps small enough to bend
    // the tiny model's scores and logits.
    if (gemma) {
      s.sliding_window = 8;
      s.swa_period = 2;
    }
    if (arch == "gemma2") {
      s.attn_softcap = 0.5f;
      s.final_softcap = 1.0f;
    }
    if (arch == "qwen3moe") {  // 4 experts of width 256, 2 per token
      s.n_expert = 4;
      s.n_expert_used = 2;
      s.n_ff_exp = 256;
    }
    if (arch == "phi3") {  // fused matrices, partial rotation, long-rope beyond 512 positions
      s.n_rot = 48;
      s.rope_orig_ctx = 512;
      s.sliding_window = 2048;  // a key some readers require; not applied
    }
    return s;
  }
  throw Error("gen-model: unknown shape '" + shape +
              "' (expected llama-1b, qwen-0.5b, gemma3-1b, gemma2-2b, phi4-mini, qwen3moe-a3b or tiny)");
}

// Phi-3-style long-rope divisors, [n_rot / 2]: short ones near 1, long ones growing with
// the wavelength towards the context's stretch.
std::vector<float> phi3_rope_factors(int32_t n_rot, bool long_factors, double stretch) {
  std::vector<float> out;
  const int32_t half = n_rot / 2;
  for (int32_t i = 0; i < half; ++i) {
    const double t = half > 1 ? double(i) / (half - 1) : 0.0;
    out.push_back(static_cast<float>(long_factors ? 1.0 + (stretch - 1.0) * t * t : 1.0 + 0.05 * t));
  }
  return out;
}

// Per-frequency divisors of the rope angles, as llama.cpp's converter computes them
// for Llama 3.1+ (stored as rope_freqs.weight, [head_dim / 2]).
std::vector<float> llama3_rope_factors(int32_t head_dim, double base) {
  std::vector<float> factors;
  const double low_wavelen = kRopeOriginalContext / kRopeLowFreqFactor;
  const double high_wavelen = kRopeOriginalContext / kRopeHighFreqFactor;
  for (int32_t i = 0; i < head_dim; i += 2) {
    const double freq = 1.0 / std::pow(base, static_cast<double>(i) / head_dim);
    const double wavelen = 2.0 * std::numbers::pi / freq;
    double f = kRopeFactor;
    if (wavelen < high_wavelen) {
      f = 1.0;
    } else if (wavelen <= low_wavelen) {
      const double smooth = (kRopeOriginalContext / wavelen - kRopeLowFreqFactor) /
                            (kRopeHighFreqFactor - kRopeLowFreqFactor);
      f = 1.0 / ((1.0 - smooth) / kRopeFactor + smooth);
    }
    factors.push_back(static_cast<float>(f));
  }
  return factors;
}

// ---------------------------------------------------------------- tensor types

// llama.cpp's llama_ftype numbers for general.file_type.
uint32_t file_type_number(const std::string& type) {
  static const std::map<std::string, uint32_t> numbers = {
      {"f32", 0}, {"f16", 1}, {"q4_0", 2}, {"q8_0", 7}, {"q4_k_m", 15}, {"q5_k", 16}, {"q6_k", 18}, {"bf16", 32}};
  auto it = numbers.find(type);
  if (it == numbers.end()) {
    throw Error("gen-model: unknown type '" + type + "' (expected f32, f16, bf16, q8_0, q4_0, q4_k_m, q5_k or q6_k)");
  }
  return it->second;
}

GgmlType base_type(const std::string& type) {
  static const std::map<std::string, GgmlType> types = {
      {"f32", GgmlType::F32},   {"f16", GgmlType::F16},   {"bf16", GgmlType::BF16}, {"q8_0", GgmlType::Q8_0},
      {"q4_0", GgmlType::Q4_0}, {"q4_k_m", GgmlType::Q4_K}, {"q5_k", GgmlType::Q5_K}, {"q6_k", GgmlType::Q6_K}};
  return types.at(type);
}

// llama.cpp's use_more_bits: the layers Q4_K_M gives Q6_K for attn_v and ffn_down.
bool use_more_bits(int32_t layer, int32_t n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

// A K-quant on rows that do not split into 256-element blocks (see the header).
GgmlType fallback(GgmlType type, int64_t row) {
  if (row % 256 == 0) return type;
  switch (type) {
    case GgmlType::Q4_K: return GgmlType::Q4_0;
    case GgmlType::Q5_K:
    case GgmlType::Q6_K: return GgmlType::Q8_0;
    default: return type;
  }
}

// ---------------------------------------------------------------- the tensor plan

enum class Init { Matrix, Bias, Norm, RopeFactors, RopeFactorsLong, RopeFactorsShort };

struct PlannedTensor {
  std::string name;
  std::vector<int64_t> ne;  // ne[0] innermost
  GgmlType type;
  Init init;
  std::vector<uint8_t> bytes;  // filled by generate()

  int64_t n_elements() const {
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    return n;
  }
};

std::vector<PlannedTensor> plan_tensors(const Shape& s, const std::string& arch, const std::string& type) {
  const GgmlType base = base_type(type);
  const bool q4_k_m = type == "q4_k_m";
  const int64_t q_dim = int64_t{s.n_head} * s.head_dim;
  const int64_t kv_dim = int64_t{s.n_head_kv} * s.head_dim;
  std::vector<PlannedTensor> plan;

  auto matrix = [&](std::string name, int64_t rows, int64_t cols, GgmlType t) {
    plan.push_back({std::move(name), {cols, rows}, fallback(t, cols), Init::Matrix, {}});
  };
  auto experts = [&](std::string name, int64_t rows, int64_t cols, GgmlType t) {
    plan.push_back({std::move(name), {cols, rows, s.n_expert}, fallback(t, cols), Init::Matrix, {}});
  };
  auto vector = [&](std::string name, int64_t n, Init init) {
    plan.push_back({std::move(name), {n}, GgmlType::F32, init, {}});
  };
  // Q4_K_M gives the output projection (token_embd when tied) Q6_K.
  const GgmlType output_type = q4_k_m ? GgmlType::Q6_K : base;

  const int32_t n_rot = s.n_rot > 0 ? s.n_rot : s.head_dim;
  const bool gemma = arch == "gemma2" || arch == "gemma3", phi3 = arch == "phi3";
  matrix("token_embd.weight", s.n_vocab, s.n_embd, s.tied ? output_type : base);
  if (arch == "llama" && s.llama3_rope) vector("rope_freqs.weight", s.head_dim / 2, Init::RopeFactors);
  if (phi3 && s.rope_orig_ctx > 0) {
    vector("rope_factors_long.weight", n_rot / 2, Init::RopeFactorsLong);
    vector("rope_factors_short.weight", n_rot / 2, Init::RopeFactorsShort);
  }
  vector("output_norm.weight", s.n_embd, Init::Norm);
  if (!s.tied) matrix("output.weight", s.n_vocab, s.n_embd, output_type);

  for (int32_t il = 0; il < s.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    const GgmlType more = q4_k_m && use_more_bits(il, s.n_layer) ? GgmlType::Q6_K : base;
    vector(p + "attn_norm.weight", s.n_embd, Init::Norm);
    if (phi3) {  // llama.cpp's Q4_K_M gives the fused matrix Q5_K
      matrix(p + "attn_qkv.weight", q_dim + 2 * kv_dim, s.n_embd, q4_k_m ? GgmlType::Q5_K : base);
    } else {
      matrix(p + "attn_q.weight", q_dim, s.n_embd, base);
      matrix(p + "attn_k.weight", kv_dim, s.n_embd, base);
      matrix(p + "attn_v.weight", kv_dim, s.n_embd, more);
    }
    if (arch == "qwen2") {
      vector(p + "attn_q.bias", q_dim, Init::Bias);
      vector(p + "attn_k.bias", kv_dim, Init::Bias);
      vector(p + "attn_v.bias", kv_dim, Init::Bias);
    }
    if (arch == "qwen3" || arch == "qwen3moe" || arch == "gemma3") {
      vector(p + "attn_q_norm.weight", s.head_dim, Init::Norm);
      vector(p + "attn_k_norm.weight", s.head_dim, Init::Norm);
    }
    matrix(p + "attn_output.weight", s.n_embd, q_dim, base);
    if (gemma) vector(p + "post_attention_norm.weight", s.n_embd, Init::Norm);
    vector(p + "ffn_norm.weight", s.n_embd, Init::Norm);
    if (s.n_expert > 0) {  // the router stays F32, as llama-quantize leaves it
      matrix(p + "ffn_gate_inp.weight", s.n_expert, s.n_embd, GgmlType::F32);
      experts(p + "ffn_gate_exps.weight", s.n_ff_exp, s.n_embd, base);
      experts(p + "ffn_down_exps.weight", s.n_embd, s.n_ff_exp, more);
      experts(p + "ffn_up_exps.weight", s.n_ff_exp, s.n_embd, base);
    } else if (phi3) {  // gate and up in one matrix, the gate's rows first
      matrix(p + "ffn_up.weight", 2 * int64_t{s.n_ff}, s.n_embd, base);
      matrix(p + "ffn_down.weight", s.n_embd, s.n_ff, more);
    } else {
      matrix(p + "ffn_gate.weight", s.n_ff, s.n_embd, base);
      matrix(p + "ffn_down.weight", s.n_embd, s.n_ff, more);
      matrix(p + "ffn_up.weight", s.n_ff, s.n_embd, base);
    }
    if (gemma) vector(p + "post_ffw_norm.weight", s.n_embd, Init::Norm);
  }
  return plan;
}

// ---------------------------------------------------------------- random values

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Approximately standard normal: the sum of the four 16-bit uniforms of one draw,
// centred and scaled to unit variance (Irwin-Hall, n = 4).
float approx_normal(uint64_t& state) {
  const uint64_t r = splitmix64(state);
  const uint32_t sum = static_cast<uint32_t>(r & 0xFFFF) + static_cast<uint32_t>((r >> 16) & 0xFFFF) +
                       static_cast<uint32_t>((r >> 32) & 0xFFFF) + static_cast<uint32_t>(r >> 48);
  constexpr float kScale = 1.7320508f / 65536.0f;  // sqrt(3) / 2^16
  return (static_cast<float>(sum) - 131070.0f) * kScale;
}

void fill_values(Init init, uint64_t stream, float* out, int64_t n) {
  uint64_t state = stream;
  const float std_dev = init == Init::Matrix ? kMatrixStd : init == Init::Bias ? kBiasStd : kNormStd;
  const float mean = init == Init::Norm ? 1.0f : 0.0f;
  for (int64_t i = 0; i < n; ++i) out[i] = mean + std_dev * approx_normal(state);
}

// Blocks of a tensor drawn from fresh values; the rest copy random ones of these.
constexpr int64_t kFreshElems = int64_t{1} << 18;
// Elements per job, for spreading the work over threads.
constexpr int64_t kJobElems = int64_t{1} << 16;

// The unit a tensor is generated and copied in: a quantization block, or for a
// float type 32 values (1 when the row length is not a multiple of 32).
struct Units {
  int64_t elems;  // values per unit
  size_t bytes;   // bytes per unit
};

Units units_of(const PlannedTensor& pt) {
  const auto traits = ggml_type_traits(static_cast<uint32_t>(pt.type));
  if (traits->block_elems > 1) return {traits->block_elems, traits->block_bytes};
  const int64_t elems = pt.ne[0] % 32 == 0 ? 32 : 1;
  return {elems, ggml_row_bytes(pt.type, elems)};
}

struct Job {
  size_t tensor;
  int64_t unit0;   // first unit
  int64_t units;   // count
  bool fresh;      // quantize new values (else copy random fresh units)
};

uint64_t job_stream(uint64_t seed, const Job& job) {
  uint64_t key = seed ^ (0xD1B54A32D192ED03ull * (job.tensor + 1)) ^
                 (0x8CB92BA72F3D8DD7ull * static_cast<uint64_t>(job.unit0 + 1));
  return splitmix64(key);
}

void run_job(PlannedTensor& pt, const Job& job, uint64_t seed, std::vector<float>& values) {
  const Units u = units_of(pt);
  uint64_t stream = job_stream(seed, job);
  uint8_t* dst = pt.bytes.data() + static_cast<size_t>(job.unit0) * u.bytes;
  if (job.fresh) {
    const int64_t n = job.units * u.elems;
    values.resize(static_cast<size_t>(n));
    fill_values(pt.init, stream, values.data(), n);
    quantize_row(pt.type, values.data(), dst, n);
    return;
  }
  const uint64_t n_fresh = static_cast<uint64_t>(std::min(pt.n_elements(), kFreshElems) / u.elems);
  for (int64_t i = 0; i < job.units; ++i) {
    const uint64_t pick = ((splitmix64(stream) >> 32) * n_fresh) >> 32;
    std::memcpy(dst + static_cast<size_t>(i) * u.bytes, pt.bytes.data() + pick * u.bytes, u.bytes);
  }
}

// Fills one tensor's bytes (plan[t]): its fresh units first (the copies read them), each
// phase spread over threads. A tensor's bytes depend only on the seed and its index, so
// tensors can be made one at a time, as the file is written.
void generate_tensor(std::vector<PlannedTensor>& plan, size_t t, const Shape& shape, uint64_t seed,
                     int32_t n_threads) {
  PlannedTensor& pt = plan[t];
  pt.bytes.resize(ggml_row_bytes(pt.type, pt.ne[0]) * static_cast<size_t>(pt.n_elements() / pt.ne[0]));
  if (pt.init == Init::RopeFactors || pt.init == Init::RopeFactorsLong || pt.init == Init::RopeFactorsShort) {
    const std::vector<float> f =
        pt.init == Init::RopeFactors
            ? llama3_rope_factors(shape.head_dim, shape.rope_base)
            : phi3_rope_factors(static_cast<int32_t>(pt.ne[0]) * 2, pt.init == Init::RopeFactorsLong,
                                double(shape.n_ctx_train) / shape.rope_orig_ctx);
    quantize_row(GgmlType::F32, f.data(), pt.bytes.data(), static_cast<int64_t>(f.size()));
    return;
  }
  std::vector<Job> fresh_jobs;
  std::vector<Job> copy_jobs;
  const Units u = units_of(pt);
  const int64_t n_units = pt.n_elements() / u.elems;
  const int64_t n_fresh = std::min(pt.n_elements(), kFreshElems) / u.elems;
  const int64_t step = std::max<int64_t>(1, kJobElems / u.elems);
  for (int64_t i = 0; i < n_fresh; i += step) fresh_jobs.push_back({t, i, std::min(step, n_fresh - i), true});
  for (int64_t i = n_fresh; i < n_units; i += step) copy_jobs.push_back({t, i, std::min(step, n_units - i), false});
  for (const std::vector<Job>* jobs : {&fresh_jobs, &copy_jobs}) {
    std::atomic<size_t> next{0};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    auto worker = [&] {
      std::vector<float> values;
      try {
        for (size_t j = next++; j < jobs->size(); j = next++) run_job(pt, (*jobs)[j], seed, values);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = jobs->size();
      }
    };
    // Threads only where there is work for them (most tensors are a few jobs).
    const int32_t n = std::min<int32_t>(n_threads, static_cast<int32_t>(std::max<size_t>(1, jobs->size())));
    std::vector<std::thread> threads;
    for (int32_t i = 1; i < n; ++i) threads.emplace_back(worker);
    worker();
    for (auto& th : threads) th.join();
    if (failure) std::rethrow_exception(failure);
  }
}

// ---------------------------------------------------------------- metadata

void add_metadata(GgufWriter& w, const Shape& s, const RandomModelOptions& o) {
  const std::string& a = o.arch;
  w.add_string("general.architecture", a);
  // The name leaves out "phi3": llama.cpp gives files so named Phi-3's SentencePiece
  // token rules, which expect tokens (<s>, </s>) this vocabulary does not have.
  const std::string named_arch = a == "phi3" ? "phi" : a;
  w.add_string("general.name",
               "entropix random " + s.name + " " + named_arch + " " + o.type + " seed " + std::to_string(o.seed));
  w.add_u32("general.file_type", file_type_number(o.type));
  if (base_type(o.type) != GgmlType::F32 && base_type(o.type) != GgmlType::F16 && base_type(o.type) != GgmlType::BF16) {
    w.add_u32("general.quantization_version", 2);
  }
  w.add_u32(a + ".vocab_size", static_cast<uint32_t>(s.n_vocab));
  w.add_u32(a + ".context_length", static_cast<uint32_t>(s.n_ctx_train));
  w.add_u32(a + ".embedding_length", static_cast<uint32_t>(s.n_embd));
  w.add_u32(a + ".block_count", static_cast<uint32_t>(s.n_layer));
  w.add_u32(a + ".feed_forward_length", static_cast<uint32_t>(s.n_ff));
  w.add_u32(a + ".attention.head_count", static_cast<uint32_t>(s.n_head));
  w.add_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(s.n_head_kv));
  w.add_u32(a + ".attention.key_length", static_cast<uint32_t>(s.head_dim));
  w.add_u32(a + ".attention.value_length", static_cast<uint32_t>(s.head_dim));
  w.add_f32(a + ".attention.layer_norm_rms_epsilon", s.rms_eps);
  w.add_f32(a + ".rope.freq_base", s.rope_base);
  w.add_u32(a + ".rope.dimension_count", static_cast<uint32_t>(s.n_rot > 0 ? s.n_rot : s.head_dim));
  if (s.sliding_window > 0) w.add_u32(a + ".attention.sliding_window", static_cast<uint32_t>(s.sliding_window));
  if (s.swa_period > 0) w.add_u32(a + ".attention.sliding_window_pattern", static_cast<uint32_t>(s.swa_period));
  if (s.attn_softcap > 0) w.add_f32(a + ".attn_logit_softcapping", s.attn_softcap);
  if (s.final_softcap > 0) w.add_f32(a + ".final_logit_softcapping", s.final_softcap);
  if (s.n_expert > 0) {
    w.add_u32(a + ".expert_count", static_cast<uint32_t>(s.n_expert));
    w.add_u32(a + ".expert_used_count", static_cast<uint32_t>(s.n_expert_used));
    w.add_u32(a + ".expert_feed_forward_length", static_cast<uint32_t>(s.n_ff_exp));
  }
  if (a == "phi3" && s.rope_orig_ctx > 0) {
    w.add_u32(a + ".rope.scaling.original_context_length", static_cast<uint32_t>(s.rope_orig_ctx));
    w.add_f32(a + ".rope.scaling.attn_factor", phi3_attn_factor(s.n_ctx_train, s.rope_orig_ctx));
  }

  const SyntheticVocab v = make_synthetic_vocab(s.vocab, s.n_vocab);
  w.add_string("tokenizer.ggml.model", v.model);
  w.add_string("tokenizer.ggml.pre", v.pre);
  w.add_string_array("tokenizer.ggml.tokens", v.tokens);
  if (!v.scores.empty()) w.add_f32_array("tokenizer.ggml.scores", v.scores);
  w.add_i32_array("tokenizer.ggml.token_type", v.token_types);
  if (!v.merges.empty()) w.add_string_array("tokenizer.ggml.merges", v.merges);
  if (v.unk_id >= 0) w.add_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(v.unk_id));
  if (v.model == "llama") w.add_bool("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
  w.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
  w.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));
  if (v.pad_id >= 0) w.add_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(v.pad_id));
  w.add_bool("tokenizer.ggml.add_bos_token", v.add_bos);
}

void check_name(const std::string& value, const std::vector<std::string>& allowed, const char* what) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  throw Error("gen-model: unknown " + std::string(what) + " '" + value + "' (expected one of " + list + ")");
}

}  // namespace

const std::vector<std::string>& random_model_shapes() {
  static const std::vector<std::string> v = {"llama-1b",  "qwen-0.5b", "gemma3-1b", "gemma2-2b",
                                             "phi4-mini", "qwen3moe-a3b", "tiny"};
  return v;
}

const std::vector<std::string>& random_model_archs() {
  static const std::vector<std::string> v = {"llama", "qwen2", "qwen3", "qwen3moe", "gemma2", "gemma3", "phi3"};
  return v;
}

const std::vector<std::string>& random_model_types() {
  static const std::vector<std::string> v = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q5_k", "q6_k"};
  return v;
}

RandomModelSummary write_random_model(const RandomModelOptions& options, const std::string& path) {
  check_name(options.shape, random_model_shapes(), "shape");
  RandomModelOptions o = options;
  if (o.arch.empty()) o.arch = shape_arch(o.shape);
  check_name(o.arch, random_model_archs(), "arch");
  check_name(o.type, random_model_types(), "type");
  // The llama-family shapes take any llama-family arch (its parts added); the others are
  // their own model's architecture.
  const std::string own = shape_arch(o.shape);
  const bool llama_family = [](const std::string& a) { return a == "llama" || a == "qwen2" || a == "qwen3"; }(own);
  if (o.shape != "tiny" && o.arch != own && !(llama_family && (o.arch == "llama" || o.arch == "qwen2" || o.arch == "qwen3"))) {
    throw Error("gen-model: shape '" + o.shape + "' is a " + own + " model (give --arch " + own + " or leave it out)");
  }
  const Shape shape = find_shape(o.shape, o.arch);
  const int32_t n_threads = options.n_threads > 0
                                ? options.n_threads
                                : std::max(1, static_cast<int32_t>(std::thread::hardware_concurrency()));

  std::vector<PlannedTensor> plan = plan_tensors(shape, o.arch, o.type);

  // Each tensor is made as the file is written and freed after: memory holds one tensor,
  // not the file (an 18 GB Qwen3-30B-A3B on a 24 GB machine).
  GgufWriter writer;
  add_metadata(writer, shape, o);
  RandomModelSummary summary;
  std::map<std::string, int> counts;
  for (size_t t = 0; t < plan.size(); ++t) {
    const PlannedTensor& pt = plan[t];
    summary.n_params += pt.n_elements();
    ++counts[std::string(ggml_type_name(pt.type))];
    writer.add_tensor_deferred(pt.name, pt.type, pt.ne, [&plan, t, &shape, &o, n_threads] {
      generate_tensor(plan, t, shape, o.seed, n_threads);
      return std::move(plan[t].bytes);
    });
  }
  writer.write(path);
  summary.n_tensors = plan.size();
  summary.arch = o.arch;
  summary.file_bytes = static_cast<size_t>(std::filesystem::file_size(path));
  for (const auto& [name, count] : counts) {
    summary.type_counts += (summary.type_counts.empty() ? "" : ", ") + name + ": " + std::to_string(count);
  }
  return summary;
}

}  // namespace entropix
