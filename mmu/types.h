// Strong types for the quantities the MMU model deals in. A virtual address cannot be passed
// where a physical one is expected, a frame number is not a byte address, and cycles are not
// plain integers. All are trivially copyable wrappers around a 64-bit integer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace mmusim::mmu {

// Comparison operators and hashing shared by every strong integer type.
template <class Derived, class Rep>
class StrongValue {
 public:
  constexpr StrongValue() = default;
  constexpr explicit StrongValue(Rep value) : value_(value) {}
  [[nodiscard]] constexpr Rep value() const { return value_; }

  friend constexpr bool operator==(Derived a, Derived b) { return a.value_ == b.value_; }
  friend constexpr bool operator!=(Derived a, Derived b) { return a.value_ != b.value_; }
  friend constexpr bool operator<(Derived a, Derived b) { return a.value_ < b.value_; }
  friend constexpr bool operator<=(Derived a, Derived b) { return a.value_ <= b.value_; }
  friend constexpr bool operator>(Derived a, Derived b) { return a.value_ > b.value_; }
  friend constexpr bool operator>=(Derived a, Derived b) { return a.value_ >= b.value_; }

 protected:
  Rep value_{};
};

// x86-64 page sizes: 4 KiB (PTE), 2 MiB (PDE with PS), 1 GiB (PDPTE with PS).
enum class PageSize : std::uint8_t { k4K = 0, k2M = 1, k1G = 2 };
inline constexpr int kNumPageSizes = 3;

[[nodiscard]] constexpr unsigned page_shift(PageSize size) {
  return 12u + 9u * static_cast<unsigned>(size);
}
[[nodiscard]] constexpr std::uint64_t page_bytes(PageSize size) {
  return std::uint64_t{1} << page_shift(size);
}
[[nodiscard]] constexpr int index_of(PageSize size) {
  return static_cast<int>(size);
}
// "4k", "2m", "1g": the spelling used in configs and traces.
[[nodiscard]] const char* to_string(PageSize size);
// Parses "4k"/"2m"/"1g" (case-insensitive, also "4KiB", "2MiB", "1GiB"); false when unknown.
bool parse_page_size(const std::string& text, PageSize& out);

inline constexpr unsigned kPageShift = 12;
inline constexpr std::uint64_t kPageBytes = 4096;

// A physical byte address.
class PhysAddr : public StrongValue<PhysAddr, std::uint64_t> {
 public:
  using StrongValue::StrongValue;
  [[nodiscard]] constexpr PhysAddr operator+(std::uint64_t offset) const {
    return PhysAddr{value_ + offset};
  }
};

// A physical page frame number (physical address >> 12).
class Pfn : public StrongValue<Pfn, std::uint64_t> {
 public:
  using StrongValue::StrongValue;
  [[nodiscard]] constexpr PhysAddr addr() const { return PhysAddr{value_ << kPageShift}; }
  [[nodiscard]] constexpr Pfn operator+(std::uint64_t frames) const { return Pfn{value_ + frames}; }
  [[nodiscard]] static constexpr Pfn of(PhysAddr addr) { return Pfn{addr.value() >> kPageShift}; }
};

// A linear (virtual) byte address. Not necessarily canonical: the walker checks.
class VirtAddr : public StrongValue<VirtAddr, std::uint64_t> {
 public:
  using StrongValue::StrongValue;
  [[nodiscard]] constexpr VirtAddr operator+(std::uint64_t offset) const {
    return VirtAddr{value_ + offset};
  }
  [[nodiscard]] constexpr VirtAddr operator-(std::uint64_t offset) const {
    return VirtAddr{value_ - offset};
  }
  VirtAddr& operator+=(std::uint64_t offset) {
    value_ += offset;
    return *this;
  }
  // Distance in bytes from `other` (which must not be above this address).
  [[nodiscard]] constexpr std::uint64_t operator-(VirtAddr other) const {
    return value_ - other.value_;
  }
  // Virtual page number for the given page size.
  [[nodiscard]] constexpr std::uint64_t vpn(PageSize size) const {
    return value_ >> page_shift(size);
  }
  [[nodiscard]] constexpr VirtAddr align_down(PageSize size) const {
    return VirtAddr{value_ & ~(page_bytes(size) - 1)};
  }
  [[nodiscard]] constexpr std::uint64_t page_offset(PageSize size) const {
    return value_ & (page_bytes(size) - 1);
  }
  [[nodiscard]] constexpr bool is_aligned(PageSize size) const { return page_offset(size) == 0; }
};

// Process-context identifier (CR3 bits 11:0 when CR4.PCIDE = 1).
class Pcid : public StrongValue<Pcid, std::uint16_t> {
 public:
  using StrongValue::StrongValue;
  static constexpr std::uint16_t kMax = 0xfff;
};

// Simulated core clock cycles.
class Cycles : public StrongValue<Cycles, std::uint64_t> {
 public:
  using StrongValue::StrongValue;
  [[nodiscard]] constexpr Cycles operator+(Cycles other) const {
    return Cycles{value_ + other.value_};
  }
  [[nodiscard]] constexpr Cycles operator-(Cycles other) const {
    return Cycles{value_ - other.value_};
  }
  [[nodiscard]] constexpr Cycles operator*(std::uint64_t times) const {
    return Cycles{value_ * times};
  }
  Cycles& operator+=(Cycles other) {
    value_ += other.value_;
    return *this;
  }
};

// The kind of memory access a translation is made for.
enum class AccessType : std::uint8_t { kRead = 0, kWrite = 1, kExecute = 2 };

// Privilege of the access: supervisor (CPL 0-2) or user (CPL 3).
enum class Privilege : std::uint8_t { kSupervisor = 0, kUser = 1 };

// Hex formatting used in messages ("0xffffc90000000000").
std::string hex(std::uint64_t value);

}  // namespace mmusim::mmu

template <>
struct std::hash<mmusim::mmu::Pfn> {
  std::size_t operator()(mmusim::mmu::Pfn pfn) const noexcept {
    return std::hash<std::uint64_t>{}(pfn.value());
  }
};
template <>
struct std::hash<mmusim::mmu::PhysAddr> {
  std::size_t operator()(mmusim::mmu::PhysAddr addr) const noexcept {
    return std::hash<std::uint64_t>{}(addr.value());
  }
};
