#include "sampling/rng.h"

namespace entropix {

namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& w : s_) w = splitmix64(seed);
}

uint64_t Rng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

Rng Rng::fork(uint64_t stream) const {
  // Mix the whole parent state and the stream id into a fresh splitmix64 seed.
  uint64_t x = stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL;
  uint64_t seed = splitmix64(x);
  for (uint64_t w : s_) {
    x ^= w;
    seed ^= splitmix64(x);
  }
  return Rng(seed);
}

}  // namespace entropix
