#include "kernels/logit_kernels.h"

#include <cmath>
#include <limits>

namespace entropix {

namespace {

LogitTop2 top2_scalar(const float* l, size_t n) {
  const float ninf = -std::numeric_limits<float>::infinity();
  LogitTop2 r{ninf, ninf, -1, -1};
  for (size_t i = 0; i < n; ++i) {
    const float x = l[i];
    if (x > r.top2_logit || (r.top2 < 0 && x == x)) {
      if (x > r.top1_logit || r.top1 < 0) {
        r.top2_logit = r.top1_logit;
        r.top2 = r.top1;
        r.top1_logit = x;
        r.top1 = static_cast<int32_t>(i);
      } else {
        r.top2_logit = x;
        r.top2 = static_cast<int32_t>(i);
      }
    }
  }
  return r;
}

ExpMoments exp_moments_scalar(const float* l, size_t n, float m) {
  double s0 = 0, s1 = 0, s2 = 0;
  for (size_t i = 0; i < n; ++i) {
    const float d = l[i] - m;
    if (!(d >= kExpArgFloor)) continue;
    const double e = std::exp(d);
    const double dd = d;
    s0 += e;
    s1 += e * dd;
    s2 += e * dd * dd;
  }
  return {s0, s1, s2};
}

double exp_sum_scalar(const float* l, size_t n, float m, float inv_t, float* w) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) {
    const float d = (l[i] - m) * inv_t;
    const float e = d >= kExpArgFloor ? std::exp(d) : 0.0f;
    if (w) w[i] = e;
    s += e;
  }
  return s;
}

const LogitKernels kScalar{"scalar", top2_scalar, exp_moments_scalar, exp_sum_scalar};

}  // namespace

#if defined(ENTROPIX_HAVE_AVX2_BUILD)
const LogitKernels* logit_kernels_avx2_impl();  // logit_kernels_avx2.cpp
#endif

const LogitKernels& logit_kernels_scalar() { return kScalar; }

const LogitKernels* logit_kernels_avx2() {
#if defined(ENTROPIX_HAVE_AVX2_BUILD)
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok ? logit_kernels_avx2_impl() : nullptr;
#else
  return nullptr;
#endif
}

const LogitKernels& logit_kernels() {
  static const LogitKernels& chosen = logit_kernels_avx2() ? *logit_kernels_avx2() : kScalar;
  return chosen;
}

}  // namespace entropix
