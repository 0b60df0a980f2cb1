// Per-sequence random stream: xoshiro256** seeded through splitmix64. Same seed,
// same draws; fork() derives an independent stream for a forked sequence.
#pragma once

#include <array>
#include <cstdint>

namespace entropix {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0);

  uint64_t next_u64();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  // A new generator for child stream `stream`: a pure function of this
  // generator's current state and `stream` (this one is not advanced), so
  // distinct streams differ and the same fork repeats.
  Rng fork(uint64_t stream) const;

  const std::array<uint64_t, 4>& state() const { return s_; }

 private:
  std::array<uint64_t, 4> s_;
};

}  // namespace entropix
