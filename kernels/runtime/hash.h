#pragma once
// The two small integer generators besides Philox (core/random.h), defined once so that
// the library, the tests and the tools draw the same bits from the same seeds. Header-only
// and free of dependencies: the emulated kernel tests, which link no library, use it too.
//   splitmix64: seed derivation (core/random.h) and the epoch shuffles (core/data/batches.h).
//   Xorshift64: deterministic test and benchmark inputs.
#include <cstdint>

namespace r2g2 {

// 2^64 divided by the golden ratio: SplitMix64's increment, and the seed multiplier of the
// xorshift streams below.
inline constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ull;

// The SplitMix64 finaliser (Steele, Lea, Flood 2014): x + gamma, then a bijective mix.
constexpr uint64_t splitmix64(uint64_t x) {
  x += kGoldenGamma;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Marsaglia's xorshift64 (shifts 13, 7, 17). Fast and reproducible, not a statistical
// generator: inputs for tests and benchmarks, never training noise.
class Xorshift64 {
 public:
  // The stream of `seed`; `salt` picks another stream for the same seed.
  constexpr Xorshift64(uint64_t seed, uint64_t salt) : state_(seed * kGoldenGamma + salt) {}
  // A generator whose state is exactly `state` (nonzero, or the stream stays 0).
  static constexpr Xorshift64 from_state(uint64_t state) { return Xorshift64(state); }

  constexpr uint64_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  // Uniform in [0, 1): the top 53 bits of next() over 2^53.
  constexpr double next_unit() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }
  // Uniform in [lo, hi), computed in double (in this order, which fixes the rounding).
  constexpr double next_in(double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(next() >> 11) / 9007199254740992.0;
  }

 private:
  explicit constexpr Xorshift64(uint64_t state) : state_(state) {}
  uint64_t state_;
};

}  // namespace r2g2
