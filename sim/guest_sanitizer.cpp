#include "sim/guest_sanitizer.h"

#include "sim/cpu.h"
#include "sim/platform.h"
#include "vmalloc/invariants.h"

namespace mmusim::sim {

using vmalloc::AreaKind;
using vmalloc::InvariantChecker;

void GuestSanitizer::after_purge() {
  record(InvariantChecker::check(platform_.guest(), vmalloc::CheckMoment::kConcurrent),
         "after a purge");
}

void GuestSanitizer::record(const std::vector<std::string>& violations, const std::string& when) {
  ++checks_;
  violations_ += violations.size();
  for (const std::string& violation : violations) {
    const Cpu& cpu = platform_.current();
    const std::string text = "invariant violation " + when + " (CPU " + std::to_string(cpu.id()) +
                             ", cycle " + std::to_string(cpu.now()) + "): " + violation;
    if (messages_.size() < kMessagesKept) messages_.push_back(text);
    platform_.warn(text);
  }
}

// The last CPU to run out of ops, while the others idle (taking its IPIs and running their
// deferred work): frees what the run left, purges, checks that nothing is left.
void Cpu::guest_teardown() {
  GuestSanitizer& checker = *platform_.guest_sanitizer();
  vmalloc::Vmalloc& guest = platform_.guest();
  if (!platform_.guest_used()) {
    checker.set_teardown("not needed: the guest was not used");
    return;
  }
  sync();
  // Deferred vfrees still queued on any CPU run first (idle CPUs run their own).
  auto drain = [&] {
    for (int round = 0;; ++round) {
      run_pending_work();
      bool pending = false;
      for (int cpu = 0; cpu < platform_.cpu_count(); ++cpu)
        pending = pending || guest.deferred_pending(cpu) != 0;
      if (!pending) return true;
      if (round == 100000) return false;
      wait_until(now() + 1000);
    }
  };
  if (!drain()) {
    checker.record({"deferred vfrees were never run"}, "at the end of the run");
    checker.set_teardown("checked");
    return;
  }
  // What callers still hold with a handle: the mapping of the pages they passed, then the
  // pages themselves.
  for (auto& [name, handle] : platform_.handles()) {
    if (handle.pages.empty() || handle.addr == 0) continue;
    if (const auto area = InvariantChecker::area_at(guest, handle.addr)) {
      switch (area->kind) {
        case AreaKind::kVmapBlock:
        case AreaKind::kVmMapRam:
          guest.vm_unmap_ram(handle.addr,
                             static_cast<std::uint32_t>(handle.size / vmalloc::kPageSize));
          checker.count_teardown_free();
          break;
        case AreaKind::kVmArea:
          if (area->vm_flags & vmalloc::vm_flags::kMap) {
            guest.vunmap(area->start);
          } else {
            guest.free_vm_area(area->vm);
          }
          checker.count_teardown_free();
          break;
        default:
          break;
      }
    }
    free_caller_pages(&handle, handle.addr);
  }
  // Every other busy area the run made, by what it is.
  for (const vmalloc::AreaInfo& was : InvariantChecker::areas(guest)) {
    const auto area = InvariantChecker::area_at(guest, was.start);
    if (!area || area->start != was.start || area->kind != was.kind) continue;  // freed since
    switch (area->kind) {
      case AreaKind::kVmalloc:
        guest.vfree(area->start);
        break;
      case AreaKind::kVmArea:
        guest.free_vm_area(area->vm);
        break;
      case AreaKind::kVmMapRam:
        guest.vm_unmap_ram(area->start, static_cast<std::uint32_t>((area->end - area->start) /
                                                                   vmalloc::kPageSize));
        break;
      default:
        continue;
    }
    checker.count_teardown_free();
  }
  drain();
  InvariantChecker::purge_all(guest);
  drain();
  checker.record(InvariantChecker::check_empty(guest), "at the end of the run");
  checker.set_teardown("checked");
}

}  // namespace mmusim::sim
