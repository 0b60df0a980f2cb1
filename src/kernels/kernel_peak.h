// A short probe of the batched matmul kernels' peak on this machine: multiply-adds per
// second with the weights in the cache, the ceiling of prompt processing, so `bench` can
// say how close a pp figure comes to it (as the read bandwidth is generation's ceiling).
#pragma once

#include "core/ggml_type.h"
#include "kernels/dot.h"
#include "runtime/thread_pool.h"

namespace entropix {

// Multiply-adds per second of the backend's packed kernel for `type` over one group of
// rows that stays in the cache, taking as many tokens per call as the kernel does, on all
// of the pool's threads: the best of 5 rounds of about 40 ms. 0 where the backend has
// no packed layout for the type.
double packed_kernel_peak_macs(const DotBackend& backend, GgmlType type, ThreadPool& pool);

}  // namespace entropix
