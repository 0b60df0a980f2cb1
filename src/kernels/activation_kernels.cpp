#include "kernels/activation_kernels.h"

#include <cmath>
#include <cstring>

#include "kernels/dot.h"

namespace entropix {

namespace {

constexpr float kTwoSqrt2OverPi = 2.0f * 0.7978845608028654f;

void swiglu_scalar(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void geglu_tanh_scalar(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-kTwoSqrt2OverPi * (g + 0.044715f * g * g * g))) * up[i];
  }
}

const ActivationKernels kScalar{"scalar", swiglu_scalar, geglu_tanh_scalar};

}  // namespace

#if defined(ENTROPIX_HAVE_AVX2_BUILD)
const ActivationKernels* activation_kernels_avx2_impl();  // activation_kernels_avx2.cpp
#endif

const ActivationKernels& activation_kernels_scalar() { return kScalar; }

const ActivationKernels* activation_kernels_avx2() {
#if defined(ENTROPIX_HAVE_AVX2_BUILD)
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok ? activation_kernels_avx2_impl() : nullptr;
#else
  return nullptr;
#endif
}

const ActivationKernels& activation_kernels() {
  static const ActivationKernels& chosen = [&]() -> const ActivationKernels& {
    const ActivationKernels* avx2 = activation_kernels_avx2();
    if (avx2 && std::strcmp(dot_backend().name, "scalar") != 0) return *avx2;
    return kScalar;
  }();
  return chosen;
}

}  // namespace entropix
