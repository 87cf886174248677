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
  entries_.resize(std::size_t{sets_} * ways_);
  if (config.replacement == Replacement::kLru) last_use_.resize(entries_.size());
  if (config.replacement == Replacement::kPlru) plru_bits_.resize(sets_);
}

TlbEntry* TlbArray::lookup(std::uint64_t vpn, mmu::PageSize size, std::uint16_t pcid) {
  const std::uint64_t set = set_of(vpn);
  TlbEntry* base = &entries_[set * ways_];
  for (std::uint32_t way = 0; way < ways_; ++way) {
    if (base[way].matches(vpn, size, pcid)) {
      touch(set, way);
      ++stats_.hits;
      return &base[way];
    }
  }
  ++stats_.misses;
  return nullptr;
}

void TlbArray::insert(const TlbEntry& entry, TlbEntry& evicted) {
  evicted.valid = false;
  const std::uint64_t set = set_of(entry.vpn);
  TlbEntry* base = &entries_[set * ways_];
  std::uint32_t way = ways_;
  // An entry for the same page and address space is refreshed in place.
  for (std::uint32_t w = 0; w < ways_; ++w) {
    if (base[w].valid && same_tag(base[w], entry)) {
      way = w;
      break;
    }
  }
  if (way == ways_) way = victim(set);
  if (base[way].valid) {
    evicted = base[way];
    if (!same_tag(evicted, entry)) ++stats_.evictions;
  }
  base[way] = entry;
  base[way].valid = true;
  touch(set, way);
  ++stats_.fills;
}

void TlbArray::touch(std::uint64_t set, std::uint32_t way) {
  switch (config_.replacement) {
    case Replacement::kLru:
      last_use_[set * ways_ + way] = ++clock_;
      break;
    case Replacement::kPlru: {
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
      break;
    }
    case Replacement::kRandom:
      break;
  }
}

std::uint32_t TlbArray::victim(std::uint64_t set) {
  const TlbEntry* base = &entries_[set * ways_];
  for (std::uint32_t way = 0; way < ways_; ++way) {
    if (!base[way].valid) return way;
  }
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
  for (const TlbEntry& entry : entries_)
    valid += entry.valid ? 1 : 0;
  return valid;
}

}  // namespace mmusim::tlb
