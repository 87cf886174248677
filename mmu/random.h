// Deterministic random streams. Every component derives its own stream from the master seed
// and a stable hash of its name, and draws bounded values with our own helpers: the standard
// distributions differ between library implementations, these do not.
#pragma once

#include <cstdint>
#include <string_view>

namespace mmusim::mmu {

// FNV-1a, 64-bit: a stable hash of a component name.
[[nodiscard]] constexpr std::uint64_t stable_hash(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ull;
  }
  return hash;
}

[[nodiscard]] constexpr std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// xoshiro256** seeded through splitmix64.
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }
  // The stream for component `name` under master seed `seed`.
  Rng(std::uint64_t seed, std::string_view name) { reseed(seed ^ stable_hash(name)); }

  void reseed(std::uint64_t seed) {
    std::uint64_t state = seed;
    for (auto& word : s_)
      word = splitmix64(state);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, bound); bound 0 yields 0. Lemire's multiply-shift with rejection.
  std::uint64_t below(std::uint64_t bound) {
    if (bound == 0) return 0;
    for (;;) {
      const std::uint64_t x = next();
      const unsigned __int128 m = static_cast<unsigned __int128>(x) * bound;
      const std::uint64_t low = static_cast<std::uint64_t>(m);
      if (low >= bound) return static_cast<std::uint64_t>(m >> 64);
      const std::uint64_t threshold = (0 - bound) % bound;
      if (low >= threshold) return static_cast<std::uint64_t>(m >> 64);
    }
  }
  // Uniform in [lo, hi] (inclusive).
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  // True with probability numerator / denominator.
  bool chance(std::uint64_t numerator, std::uint64_t denominator) {
    return below(denominator) < numerator;
  }
  // True with probability p (0..1), using 53 bits.
  bool chance(double p) {
    return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0) < p;
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4]{};
};

}  // namespace mmusim::mmu
