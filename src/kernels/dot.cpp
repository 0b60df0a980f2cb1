#include "kernels/dot.h"

#include <cstdlib>
#include <string>

#include "core/error.h"
#include "kernels/blocks.h"
#include "kernels/repack.h"

namespace entropix {

#if defined(ENTROPIX_HAVE_AVX2_BUILD)
const DotBackend& avx2_dot_backend_table();    // dot_avx2.cpp
const DotBackend& avx512_dot_backend_table();  // dot_avx512.cpp
const DotBackend& avxvnni_dot_backend_table();  // dot_avxvnni.cpp
#endif

const DotBackend* avx2_dot_backend() {
#if defined(ENTROPIX_HAVE_AVX2_BUILD)
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                                __builtin_cpu_supports("f16c");
  return supported ? &avx2_dot_backend_table() : nullptr;
#else
  return nullptr;
#endif
}

const DotBackend* avx512_dot_backend() {
#if defined(ENTROPIX_HAVE_AVX2_BUILD)
  static const bool supported = avx2_dot_backend() && __builtin_cpu_supports("avx512f") &&
                                __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                                __builtin_cpu_supports("avx512vnni");
  return supported ? &avx512_dot_backend_table() : nullptr;
#else
  return nullptr;
#endif
}

const DotBackend* avxvnni_dot_backend() {
#if defined(ENTROPIX_HAVE_AVX2_BUILD)
  static const bool supported = avx2_dot_backend() && __builtin_cpu_supports("avxvnni");
  return supported ? &avxvnni_dot_backend_table() : nullptr;
#else
  return nullptr;
#endif
}

const DotBackend& choose_dot_backend(const char* env) {
  if (!env || !*env) {
    if (const DotBackend* b = avx512_dot_backend()) return *b;
    if (const DotBackend* b = avxvnni_dot_backend()) return *b;
    if (const DotBackend* b = avx2_dot_backend()) return *b;
    return scalar_dot_backend();
  }
  const std::string name = env;
  if (name == "scalar") return scalar_dot_backend();
  struct Path {
    const char* name;
    const DotBackend* (*backend)();
    const char* needs;
  };
  static const Path kPaths[] = {{"avx2", avx2_dot_backend, "AVX2, FMA and F16C"},
                                {"avxvnni", avxvnni_dot_backend, "AVX2, FMA, F16C and AVX-VNNI"},
                                {"avx512", avx512_dot_backend, "AVX2, FMA, F16C, AVX-512 F/BW/VL and VNNI"}};
  for (const Path& path : kPaths) {
    if (name != path.name) continue;
    if (const DotBackend* b = path.backend()) return *b;
    throw Error("ENTROPIX_KERNELS=" + name + ": this CPU lacks what that path needs (" + path.needs + ")");
  }
  throw Error("ENTROPIX_KERNELS=" + name + ": unknown kernel path (scalar, avx2, avxvnni or avx512)");
}

const DotBackend& dot_backend() {
  static const DotBackend& chosen = choose_dot_backend(std::getenv("ENTROPIX_KERNELS"));
  return chosen;
}

const char* kernel_backend_name() { return dot_backend().name; }

std::string kernel_path_description() {
  const DotBackend& b = dot_backend();
  std::string packed;
  for (const PackedLayout* layout : {b.packed_q8_0, b.packed_q4_0, b.packed_q4_k, b.packed_q5_k, b.packed_q6_k}) {
    if (layout) packed += std::string(packed.empty() ? "" : " ") + layout->name;
  }
  return std::string(b.name) + (packed.empty() ? "" : " (packed " + packed + ")");
}

DotFn dot_kernel(const DotBackend& backend, GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::F32: return backend.f32;
    case GgmlType::F16: return backend.f16;
    case GgmlType::BF16: return backend.bf16;
    case GgmlType::Q8_0: return backend.q8_0;
    case GgmlType::Q4_0: return backend.q4_0;
    case GgmlType::Q4_K: return backend.q4_k;
    case GgmlType::Q5_K: return backend.q5_k;
    case GgmlType::Q6_K: return backend.q6_k;
    default:
      throw Error("matmul: no dot kernel for weight type " + std::string(ggml_type_name(weight_type)) +
                  " (" + std::to_string(static_cast<uint32_t>(weight_type)) + ")");
  }
}

GgmlType activation_type(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::Q8_0:
    case GgmlType::Q4_0: return GgmlType::Q8_0;
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K: return GgmlType::Q8_K;
    default: return GgmlType::F32;
  }
}

size_t activation_row_bytes(GgmlType weight_type, int64_t n) {
  const GgmlType act = activation_type(weight_type);
  if (act == GgmlType::F32) return static_cast<size_t>(n) * sizeof(float);
  if (act == GgmlType::Q8_0) return q8_0_act_bias_offset(n) + static_cast<size_t>(n / kQK8_0) * sizeof(int32_t);
  return ggml_row_bytes(act, n);
}

QuantizeFn activation_quantizer(const DotBackend& backend, GgmlType weight_type) {
  switch (activation_type(weight_type)) {
    case GgmlType::Q8_0: return backend.quantize_q8_0;
    case GgmlType::Q8_K: return backend.quantize_q8_k;
    default: return nullptr;
  }
}

}  // namespace entropix
