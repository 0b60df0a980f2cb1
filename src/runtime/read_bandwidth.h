// A short probe of the memory's read bandwidth, the ceiling of generation speed (every
// weight is read once per token), so `bench` can say how close a figure comes to it.
#pragma once

#include <cstddef>

#include "runtime/thread_pool.h"

namespace entropix {

// GB/s of the best of `passes` reads of a buffer of `bytes` (well past the caches),
// split over the pool's threads. About a second for the defaults.
double measure_read_bandwidth(ThreadPool& pool, size_t bytes = size_t{512} << 20, int passes = 4);

}  // namespace entropix
