#include "tlb/tlb_array.h"

#include <utility>

namespace mmusim::tlb {
namespace {

// Two entries translate the same page in the same address space (global entries in all).
bool same_tag(const TlbEntry& a, const TlbEntry& b) {
  return a.vpn == b.vpn && a.size == b.size && a.global == b.global &&
         (a.global || a.pcid == b.pcid);
}

}  // namespace

TlbArray::TlbArray(std::string name, const TlbArrayConfig& config, std::uint64_t seed)
    : name_(std::move(name)), config_(config), rng_(seed, name_) {
  if (config.sets == 0 || config.ways == 0) return;
  sets_ = config.sets;
  ways_ = config.ways;
  sets_pow2_ = (sets_ & (sets_ - 1)) == 0;
  entries_.resize(std::size_t{sets_} * ways_);
  valid_bits_.resize((entries_.size() + 63) / 64);
  if (config.replacement == Replacement::kLru) last_use_.resize(entries_.size());
  if (config.replacement == Replacement::kPlru) plru_bits_.resize(sets_);
}

void TlbArray::insert(const TlbEntry& entry, TlbEntry& evicted) {
  evicted.valid = false;
  const std::uint64_t set = set_of(entry.vpn);
  TlbEntry* base = &entries_[set * ways_];
  std::uint32_t way = ways_;
  std::uint32_t first_invalid = ways_;
  // An entry for the same page and address space is refreshed in place; otherwise the first
  // invalid way is taken, and only a full set asks the policy for a victim.
  for (std::uint32_t w = 0; w < ways_; ++w) {
    if (!base[w].valid) {
      if (first_invalid == ways_) first_invalid = w;
    } else if (same_tag(base[w], entry)) {
      way = w;
      break;
    }
  }
  if (way == ways_) way = first_invalid != ways_ ? first_invalid : victim(set);
  if (base[way].valid) {
    evicted = base[way];
    if (!same_tag(evicted, entry)) ++stats_.evictions;
  }
  base[way] = entry;
  base[way].valid = true;
  set_valid_bit(set * ways_ + way);
  touch(set, way);
  ++stats_.fills;
}

void TlbArray::touch_plru(std::uint64_t set, std::uint32_t way) {
  std::uint64_t& bits = plru_bits_[set];
  std::uint32_t node = 0;
  std::uint32_t lo = 0;
  std::uint32_t hi = ways_;
  while (hi - lo > 1) {
    const std::uint32_t mid = (lo + hi) / 2;
    if (way < mid) {
      bits |= std::uint64_t{1} << node;  // next victim search goes right
      node = 2 * node + 1;
      hi = mid;
    } else {
      bits &= ~(std::uint64_t{1} << node);
      node = 2 * node + 2;
      lo = mid;
    }
  }
}

std::uint32_t TlbArray::victim(std::uint64_t set) {
  switch (config_.replacement) {
    case Replacement::kLru: {
      std::uint32_t oldest = 0;
      for (std::uint32_t way = 1; way < ways_; ++way) {
        if (last_use_[set * ways_ + way] < last_use_[set * ways_ + oldest]) oldest = way;
      }
      return oldest;
    }
    case Replacement::kPlru: {
      const std::uint64_t bits = plru_bits_[set];
      std::uint32_t node = 0;
      std::uint32_t lo = 0;
      std::uint32_t hi = ways_;
      while (hi - lo > 1) {
        const std::uint32_t mid = (lo + hi) / 2;
        if (bits & (std::uint64_t{1} << node)) {
          node = 2 * node + 2;
          lo = mid;
        } else {
          node = 2 * node + 1;
          hi = mid;
        }
      }
      return lo;
    }
    case Replacement::kRandom:
      return static_cast<std::uint32_t>(rng_.below(ways_));
  }
  return 0;
}

std::uint64_t TlbArray::valid_entries() const {
  std::uint64_t valid = 0;
  for (const std::uint64_t bits : valid_bits_)
    valid += static_cast<std::uint64_t>(__builtin_popcountll(bits));
  return valid;
}

}  // namespace mmusim::tlb
