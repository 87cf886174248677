// A hash map from 64-bit keys to small values, for lookups on the simulator's hot paths (a
// frame of physical memory per page-walk step, the live TLB entries of a leaf PTE per TLB
// fill): one flat array with linear probing, no allocation per entry, and erase by shifting
// back (no tombstones). It has no iteration, so nothing can depend on its order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mmusim::mmu {

template <class Value>
class FlatU64Map {
 public:
  // The one key that cannot be stored: it marks an empty slot. Physical addresses and frame
  // numbers never reach it.
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};

  FlatU64Map() { rehash(kInitialSlots); }

  [[nodiscard]] std::size_t size() const { return size_; }

  // The value of `key`, or nullptr.
  [[nodiscard]] Value* find(std::uint64_t key) {
    for (std::size_t i = home(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return &slots_[i].value;
      if (slots_[i].key == kEmpty) return nullptr;
    }
  }
  [[nodiscard]] const Value* find(std::uint64_t key) const {
    return const_cast<FlatU64Map*>(this)->find(key);
  }

  // The value of `key`, value-initialised when it was absent.
  Value& operator[](std::uint64_t key) {
    for (std::size_t i = home(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return slots_[i].value;
      if (slots_[i].key == kEmpty) {
        if ((size_ + 1) * 4 > slots_.size() * 3) {  // keep the load factor at most 3/4
          rehash(slots_.size() * 2);
          return (*this)[key];
        }
        slots_[i].key = key;
        slots_[i].value = Value{};
        ++size_;
        return slots_[i].value;
      }
    }
  }

  // Removes `key` if present; returns whether it was.
  bool erase(std::uint64_t key) {
    std::size_t hole = home(key);
    for (;; hole = (hole + 1) & mask_) {
      if (slots_[hole].key == key) break;
      if (slots_[hole].key == kEmpty) return false;
    }
    // Backward-shift deletion: move up every later entry of the run that may not stay beyond
    // the hole (its home is not cyclically in (hole, i]).
    for (std::size_t i = (hole + 1) & mask_; slots_[i].key != kEmpty; i = (i + 1) & mask_) {
      const std::size_t wanted = home(slots_[i].key);
      const bool stays =
          hole <= i ? (hole < wanted && wanted <= i) : (hole < wanted || wanted <= i);
      if (stays) continue;
      slots_[hole] = slots_[i];
      hole = i;
    }
    slots_[hole].key = kEmpty;
    --size_;
    return true;
  }

 private:
  static constexpr std::size_t kInitialSlots = 64;
  struct Slot {
    std::uint64_t key = kEmpty;
    Value value{};
  };

  // Fibonacci hashing: consecutive keys and keys with equal low bits (8-byte aligned entry
  // addresses) spread over the table.
  [[nodiscard]] std::size_t home(std::uint64_t key) const {
    return static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ull) >> shift_);
  }

  void rehash(std::size_t slots) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(slots, Slot{});
    mask_ = slots - 1;
    shift_ = 64;
    for (std::size_t n = slots; n > 1; n >>= 1)
      --shift_;
    size_ = 0;
    for (const Slot& slot : old) {
      if (slot.key != kEmpty) (*this)[slot.key] = slot.value;
    }
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  unsigned shift_ = 64;
  std::size_t size_ = 0;
};

}  // namespace mmusim::mmu
