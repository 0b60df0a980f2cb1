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
};

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
  if (shape == "tiny") {
    const int32_t head_dim = arch == "qwen3" ? 128 : 64;
    return {shape, 512, 2048, 256, 2, 4, 2, head_dim, 512, llama ? 500000.0f : 1000000.0f,
            llama ? 1e-5f : 1e-6f, true, !llama, llama ? VocabFamily::Llama3 : VocabFamily::Qwen2};
  }
  throw Error("gen-model: unknown shape '" + shape + "' (expected llama-1b, qwen-0.5b or tiny)");
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

enum class Init { Matrix, Bias, Norm, RopeFactors };

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
  auto vector = [&](std::string name, int64_t n, Init init) {
    plan.push_back({std::move(name), {n}, GgmlType::F32, init, {}});
  };
  // Q4_K_M gives the output projection (token_embd when tied) Q6_K.
  const GgmlType output_type = q4_k_m ? GgmlType::Q6_K : base;

  matrix("token_embd.weight", s.n_vocab, s.n_embd, s.tied ? output_type : base);
  if (arch == "llama" && s.llama3_rope) vector("rope_freqs.weight", s.head_dim / 2, Init::RopeFactors);
  vector("output_norm.weight", s.n_embd, Init::Norm);
  if (!s.tied) matrix("output.weight", s.n_vocab, s.n_embd, output_type);

  for (int32_t il = 0; il < s.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    const GgmlType more = q4_k_m && use_more_bits(il, s.n_layer) ? GgmlType::Q6_K : base;
    vector(p + "attn_norm.weight", s.n_embd, Init::Norm);
    matrix(p + "attn_q.weight", q_dim, s.n_embd, base);
    matrix(p + "attn_k.weight", kv_dim, s.n_embd, base);
    matrix(p + "attn_v.weight", kv_dim, s.n_embd, more);
    if (arch == "qwen2") {
      vector(p + "attn_q.bias", q_dim, Init::Bias);
      vector(p + "attn_k.bias", kv_dim, Init::Bias);
      vector(p + "attn_v.bias", kv_dim, Init::Bias);
    }
    if (arch == "qwen3") {
      vector(p + "attn_q_norm.weight", s.head_dim, Init::Norm);
      vector(p + "attn_k_norm.weight", s.head_dim, Init::Norm);
    }
    matrix(p + "attn_output.weight", s.n_embd, q_dim, base);
    vector(p + "ffn_norm.weight", s.n_embd, Init::Norm);
    matrix(p + "ffn_gate.weight", s.n_ff, s.n_embd, base);
    matrix(p + "ffn_down.weight", s.n_embd, s.n_ff, more);
    matrix(p + "ffn_up.weight", s.n_ff, s.n_embd, base);
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

// Fills every tensor's bytes. The fresh units of all tensors are computed first (the
// copies read them), each phase spread over threads.
void generate(std::vector<PlannedTensor>& plan, const Shape& shape, uint64_t seed, int32_t n_threads) {
  std::vector<Job> fresh_jobs;
  std::vector<Job> copy_jobs;
  for (size_t t = 0; t < plan.size(); ++t) {
    PlannedTensor& pt = plan[t];
    pt.bytes.resize(ggml_row_bytes(pt.type, pt.ne[0]) * static_cast<size_t>(pt.n_elements() / pt.ne[0]));
    if (pt.init == Init::RopeFactors) {
      const std::vector<float> f = llama3_rope_factors(shape.head_dim, shape.rope_base);
      quantize_row(GgmlType::F32, f.data(), pt.bytes.data(), static_cast<int64_t>(f.size()));
      continue;
    }
    const Units u = units_of(pt);
    const int64_t n_units = pt.n_elements() / u.elems;
    const int64_t n_fresh = std::min(pt.n_elements(), kFreshElems) / u.elems;
    const int64_t step = std::max<int64_t>(1, kJobElems / u.elems);
    for (int64_t i = 0; i < n_fresh; i += step) fresh_jobs.push_back({t, i, std::min(step, n_fresh - i), true});
    for (int64_t i = n_fresh; i < n_units; i += step) copy_jobs.push_back({t, i, std::min(step, n_units - i), false});
  }
  for (const std::vector<Job>* jobs : {&fresh_jobs, &copy_jobs}) {
    std::atomic<size_t> next{0};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    auto worker = [&] {
      std::vector<float> values;
      try {
        for (size_t j = next++; j < jobs->size(); j = next++) run_job(plan[(*jobs)[j].tensor], (*jobs)[j], seed, values);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = jobs->size();
      }
    };
    std::vector<std::thread> threads;
    for (int32_t i = 1; i < n_threads; ++i) threads.emplace_back(worker);
    worker();
    for (auto& th : threads) th.join();
    if (failure) std::rethrow_exception(failure);
  }
}

// ---------------------------------------------------------------- metadata

void add_metadata(GgufWriter& w, const Shape& s, const RandomModelOptions& o) {
  const std::string& a = o.arch;
  w.add_string("general.architecture", a);
  w.add_string("general.name", "entropix random " + s.name + " " + a + " " + o.type + " seed " + std::to_string(o.seed));
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
  w.add_u32(a + ".rope.dimension_count", static_cast<uint32_t>(s.head_dim));

  const SyntheticVocab v = make_synthetic_vocab(s.vocab, s.n_vocab);
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", v.pre);
  w.add_string_array("tokenizer.ggml.tokens", v.tokens);
  w.add_i32_array("tokenizer.ggml.token_type", v.token_types);
  w.add_string_array("tokenizer.ggml.merges", v.merges);
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
  static const std::vector<std::string> v = {"llama-1b", "qwen-0.5b", "tiny"};
  return v;
}

const std::vector<std::string>& random_model_archs() {
  static const std::vector<std::string> v = {"llama", "qwen2", "qwen3"};
  return v;
}

const std::vector<std::string>& random_model_types() {
  static const std::vector<std::string> v = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q5_k", "q6_k"};
  return v;
}

RandomModelSummary write_random_model(const RandomModelOptions& options, const std::string& path) {
  check_name(options.shape, random_model_shapes(), "shape");
  check_name(options.arch, random_model_archs(), "arch");
  check_name(options.type, random_model_types(), "type");
  const Shape shape = find_shape(options.shape, options.arch);
  const int32_t n_threads = options.n_threads > 0
                                ? options.n_threads
                                : std::max(1, static_cast<int32_t>(std::thread::hardware_concurrency()));

  std::vector<PlannedTensor> plan = plan_tensors(shape, options.arch, options.type);
  generate(plan, shape, options.seed, n_threads);

  GgufWriter writer;
  add_metadata(writer, shape, options);
  RandomModelSummary summary;
  std::map<std::string, int> counts;
  for (PlannedTensor& pt : plan) {
    summary.n_params += pt.n_elements();
    ++counts[std::string(ggml_type_name(pt.type))];
    writer.add_tensor(pt.name, pt.type, pt.ne, std::move(pt.bytes));
  }
  writer.write(path);
  summary.n_tensors = plan.size();
  summary.file_bytes = static_cast<size_t>(std::filesystem::file_size(path));
  for (const auto& [name, count] : counts) {
    summary.type_counts += (summary.type_counts.empty() ? "" : ", ") + name + ": " + std::to_string(count);
  }
  return summary;
}

}  // namespace entropix
