// The feed-forward activations on every path the CPU offers against double-precision
// formulas: SiLU gating and GELU gating in its tanh form (computed with tanh here, an
// independent form of the kernels' exp), over ordinary values, the saturating ends and
// zero, and lengths that leave a tail for the scalar loop.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/activation_kernels.h"

using namespace entropix;

namespace {

double silu(double g) { return g / (1.0 + std::exp(-g)); }
double gelu_tanh(double g) { return 0.5 * g * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (g + 0.044715 * g * g * g))); }

std::vector<const ActivationKernels*> paths() {
  std::vector<const ActivationKernels*> out = {&activation_kernels_scalar()};
  if (activation_kernels_avx2()) out.push_back(activation_kernels_avx2());
  return out;
}

struct Inputs {
  std::vector<float> gate, up;
};

Inputs inputs(size_t n) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  Inputs in;
  for (size_t i = 0; i < n; ++i) {
    in.gate.push_back(normal(rng));
    in.up.push_back(normal(rng));
  }
  // The ends: exp overflows or underflows inside the formula, the results must not.
  const float ends[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 20.0f, -20.0f, 90.0f, -90.0f, 500.0f, -500.0f, 3e38f, -3e38f};
  for (size_t i = 0; i < std::size(ends) && i < n; ++i) {
    in.gate[i * 3 % n] = ends[i];
    in.up[i * 3 % n] = 1.0f;  // so that the exact result itself fits a float
  }
  return in;
}

// Within 16 float roundings of the double result (relative; the formulas chain a dozen
// float operations) plus |a| more, a the exponent (exp turns an argument's rounding into
// a relative error |a| times as large), or 1e-30 absolute near 0.
void expect_close(const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& exponent,
                  const char* what, const char* path) {
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << " " << path << " at " << i;
    const double tol = (16 + std::min(std::abs(exponent[i]), 100.0)) * 5.96e-8 * std::abs(want[i]) + 1e-30;
    ASSERT_NEAR(got[i], want[i], tol) << what << " " << path << " at " << i;
  }
}

}  // namespace

TEST(ActivationKernels, SwigluMatchesTheFormulaOnEveryPath) {
  for (size_t n : {1u, 7u, 8u, 37u, 1000u}) {
    const Inputs in = inputs(n);
    std::vector<double> want, exponent;
    for (size_t i = 0; i < n; ++i) {
      want.push_back(double(in.up[i]) * silu(double(in.gate[i])));
      exponent.push_back(in.gate[i]);
    }
    for (const ActivationKernels* k : paths()) {
      std::vector<float> g = in.gate;
      k->swiglu(g.data(), in.up.data(), static_cast<int64_t>(n));
      expect_close(g, want, exponent, "swiglu", k->name);
    }
  }
}

TEST(ActivationKernels, GegluMatchesTheTanhFormulaOnEveryPath) {
  for (size_t n : {1u, 7u, 8u, 37u, 1000u}) {
    const Inputs in = inputs(n);
    std::vector<double> want, exponent;
    for (size_t i = 0; i < n; ++i) {
      const double g = in.gate[i];
      want.push_back(double(in.up[i]) * gelu_tanh(g));
      exponent.push_back(2.0 * std::sqrt(2.0 / M_PI) * (g + 0.044715 * g * g * g));
    }
    for (const ActivationKernels* k : paths()) {
      std::vector<float> g = in.gate;
      k->geglu_tanh(g.data(), in.up.data(), static_cast<int64_t>(n));
      expect_close(g, want, exponent, "geglu", k->name);
    }
  }
}
