// The gated feed-forward's element-wise activations over a row range: a portable scalar
// version and an AVX2/FMA one (a polynomial exp, 8 lanes), with the same contract.
// activation_kernels() follows the dot-product path (ENTROPIX_KERNELS=scalar gives the
// scalar ones), chosen once.
#pragma once

#include <cstdint>

namespace entropix {

struct ActivationKernels {
  const char* name;  // "scalar" or "avx2"
  // gate[i] = silu(gate[i]) * up[i] = gate[i] / (1 + exp(-gate[i])) * up[i]
  void (*swiglu)(float* gate, const float* up, int64_t n);
  // gate[i] = gelu(gate[i]) * up[i], GELU's tanh form written through exp:
  // 0.5 * (1 + tanh(u)) = 1 / (1 + exp(-2u)), u = sqrt(2/pi) * (g + 0.044715 g^3)
  void (*geglu_tanh)(float* gate, const float* up, int64_t n);
};

const ActivationKernels& activation_kernels_scalar();
// nullptr when the build or the CPU lacks AVX2+FMA.
const ActivationKernels* activation_kernels_avx2();
// The set in use: scalar when the dot-product path is scalar, else AVX2 where there is.
const ActivationKernels& activation_kernels();

}  // namespace entropix
