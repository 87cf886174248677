#include "tlb/translation_unit.h"

#include <algorithm>
#include <string>

#include "tlb/stale_tracker.h"

namespace mmusim::tlb {
namespace {

constexpr mmu::PageSize kSizes[] = {mmu::PageSize::k4K, mmu::PageSize::k2M, mmu::PageSize::k1G};

}  // namespace

TranslationUnit::TranslationUnit(int cpu, const TlbConfig& tlb, const mmu::MmuConfig& mmu,
                                 mmu::PhysMem& memory, std::uint64_t seed, StaleTracker* tracker)
    : cpu_(cpu),
      walker_(memory, mmu),
      tracker_(tracker),
      pcide_(mmu.pcid),
      pge_(mmu.pge),
      invpcid_(mmu.invpcid) {
  const std::string prefix = "cpu" + std::to_string(cpu) + ".";
  struct Named {
    const char* name;
    const TlbArrayConfig* config;
    TlbLevel* level;
  };
  const Named layout[] = {
      {"l1i_4k", &tlb.l1i_4k, &l1i_},  {"l1i_2m", &tlb.l1i_2m, &l1i_},
      {"l1d_4k", &tlb.l1d_4k, &l1d_},  {"l1d_2m", &tlb.l1d_2m, &l1d_},
      {"l1d_1g", &tlb.l1d_1g, &l1d_},  {"stlb", &tlb.stlb, &l2_},
      {"stlb_1g", &tlb.stlb_1g, &l2_},
  };
  arrays_.reserve(std::size(layout));
  for (const Named& named : layout) {
    arrays_.emplace_back(named.name, *named.config, seed ^ mmu::stable_hash(prefix));
  }
  for (std::size_t i = 0; i < std::size(layout); ++i) {
    if (arrays_[i].exists()) layout[i].level->add(arrays_[i]);
  }
}

void TranslationUnit::TlbLevel::add(TlbArray& array) {
  for (mmu::PageSize size : kSizes) {
    if (!array.holds(size)) continue;
    probes[probe_count++] = Probe{&array, size};
    // The first structure of the level that holds a page size is the one a fill goes to.
    TlbArray*& target = fill_target[mmu::index_of(size)];
    if (target == nullptr) target = &array;
  }
  latency = std::max(latency, array.latency());
}

const TlbArray* TranslationUnit::find_array(const std::string& name) const {
  for (const TlbArray& array : arrays_) {
    if (array.name() == name) return &array;
  }
  return nullptr;
}

std::uint64_t TranslationUnit::valid_entries() const {
  std::uint64_t valid = 0;
  for (const TlbArray& array : arrays_)
    valid += array.exists() ? array.valid_entries() : 0;
  return valid;
}

void TranslationUnit::load_cr3(mmu::Pfn root, mmu::Pcid pcid) {
  root_ = root;
  pcid_ = pcide_ ? pcid : mmu::Pcid{0};
}

void TranslationUnit::fill(const TlbLevel& level, const TlbEntry& entry) {
  TlbArray* array = level.fill_target[mmu::index_of(entry.size)];
  if (array == nullptr) return;
  TlbEntry evicted;
  array->insert(entry, evicted);
  if (tracker_ != nullptr) {
    if (evicted.valid) tracker_->on_remove(evicted);
    tracker_->on_fill(mmu::PhysAddr{entry.pte_addr}, this);
  }
}

TlbEntry TranslationUnit::make_entry(mmu::VirtAddr va, const mmu::Translation& t) const {
  TlbEntry entry;
  entry.vpn = va.vpn(t.size);
  entry.frame = t.frame.value();
  entry.pte_addr = t.leaf_pte.value();
  entry.pcid = pcid_.value();
  entry.size = t.size;
  entry.valid = true;
  entry.writable = t.writable;
  entry.user = t.user;
  entry.executable = t.executable;
  entry.global = t.global && pge_;  // G is ignored while CR4.PGE = 0
  entry.dirty = t.dirty;
  return entry;
}

void TranslationUnit::walk_and_fill(mmu::VirtAddr va, mmu::AccessType access,
                                    mmu::Privilege privilege, const TlbLevel& l1,
                                    TranslateResult& result) {
  const mmu::WalkResult walk = walker_.walk(mmu::WalkContext{root_, pcid_}, va, access, privilege);
  result.walk_cycles += walk.cycles;
  stats_.walk_cycles += walk.cycles.value();
  if (!walk.ok()) {
    result.fault = walk.fault;
    result.error_code = walk.error_code;
    stats_.faults.count(walk.fault);
    // A non-canonical address raises #GP, which invalidates nothing.
    if (walk.fault != mmu::FaultKind::kNonCanonical) drop_on_page_fault(va);
    return;
  }
  const TlbEntry entry = make_entry(va, walk.translation);
  fill(l2_, entry);
  fill(l1, entry);
  result.paddr = walk.translation.frame.addr() + va.page_offset(walk.translation.size);
}

TranslateResult TranslationUnit::translate_further(mmu::VirtAddr va, mmu::AccessType access,
                                                   mmu::Privilege privilege, const TlbLevel& l1,
                                                   TlbEntry* entry) {
  ++stats_.translations;
  TranslateResult result;
  const bool fetch = access == mmu::AccessType::kExecute;
  std::uint64_t tlb_cycles = l1.latency;

  // The rest of L1, in order.
  if (entry == nullptr) entry = probe(l1, /*from=*/1, va, pcid_.value());
  if (entry != nullptr) {
    result.level = HitLevel::kL1;
    ++stats_.l1_hits;
  } else {
    tlb_cycles += l2_.latency;
    entry = probe(l2_, /*from=*/0, va, pcid_.value());
    if (entry != nullptr) {
      result.level = HitLevel::kL2;
      ++stats_.l2_hits;
      const TlbEntry copy = *entry;
      fill(l1, copy);
    }
  }
  result.tlb_cycles = mmu::Cycles{tlb_cycles};
  stats_.tlb_cycles += tlb_cycles;

  if (entry == nullptr) {
    result.level = HitLevel::kWalk;
    ++stats_.misses;
    walk_and_fill(va, access, privilege, l1, result);
    return result;
  }

  if (entry->stale) {
    result.stale_hit = true;
    ++stats_.stale_hits;
  }
  // Permissions come from the cached entry; a violation faults without a re-walk (which is
  // why a missing flush after a permission upgrade gives a spurious fault) and the fault
  // drops the TLB and paging-structure-cache entries for the address (SDM 4.10.4.1).
  mmu::FaultKind fault = mmu::FaultKind::kNone;
  if (privilege == mmu::Privilege::kUser && !entry->user) {
    fault = mmu::FaultKind::kUserSupervisor;
  } else if (access == mmu::AccessType::kWrite && !entry->writable) {
    fault = mmu::FaultKind::kWriteProtect;
  } else if (fetch && !entry->executable) {
    fault = mmu::FaultKind::kNoExecute;
  }
  if (fault != mmu::FaultKind::kNone) {
    result.fault = fault;
    result.error_code = mmu::fault_bits::kPresent |
                        (access == mmu::AccessType::kWrite ? mmu::fault_bits::kWrite : 0) |
                        (privilege == mmu::Privilege::kUser ? mmu::fault_bits::kUser : 0) |
                        (fetch ? mmu::fault_bits::kFetch : 0);
    stats_.faults.count(fault);
    drop_on_page_fault(va);
    return result;
  }
  if (access == mmu::AccessType::kWrite && !entry->dirty) {
    // The entry was filled by a read: the store walks to set D in the leaf (SDM 4.8), and the
    // fill replaces the cached entries in place.
    ++stats_.dirty_rewalks;
    walk_and_fill(va, access, privilege, l1, result);
    return result;
  }
  result.paddr = mmu::Pfn{entry->frame}.addr() + va.page_offset(entry->size);
  return result;
}

template <class Pred>
std::uint64_t TranslationUnit::remove_all(Pred&& pred) {
  std::uint64_t removed = 0;
  for (TlbArray& array : arrays_) {
    if (!array.exists()) continue;
    removed += array.remove_if(pred, [this](const TlbEntry& entry) {
      if (tracker_ != nullptr) tracker_->on_remove(entry);
    });
  }
  return removed;
}

std::uint64_t TranslationUnit::remove_address(mmu::VirtAddr va, bool include_global, bool any_pcid,
                                              std::uint16_t pcid) {
  std::uint64_t removed = 0;
  for (TlbArray& array : arrays_) {
    for (mmu::PageSize size : kSizes) {
      if (!array.holds(size)) continue;
      const std::uint64_t vpn = va.vpn(size);
      removed += array.remove_in_set(
          vpn,
          [&](const TlbEntry& e) {
            if (e.size != size || e.vpn != vpn) return false;
            if (e.global) return include_global;
            return any_pcid || e.pcid == pcid;
          },
          [this](const TlbEntry& e) {
            if (tracker_ != nullptr) tracker_->on_remove(e);
          });
    }
  }
  return removed;
}

void TranslationUnit::drop_on_page_fault(mmu::VirtAddr va) {
  remove_address(va, /*include_global=*/true, /*any_pcid=*/false, pcid_.value());
  for (int level = 2; level <= walker_.mode().levels; ++level) {
    walker_.cache(static_cast<mmu::Level>(level)).invalidate_address(pcid_, va);
  }
}

std::uint64_t TranslationUnit::invlpg(mmu::VirtAddr va) {
  ++inval_.invlpg;
  // On a non-canonical address INVLPG is a no-op (SDM, INVLPG instruction).
  if (!walker_.mode().is_canonical(va)) return 0;
  const std::uint64_t removed =
      remove_address(va, /*include_global=*/true, /*any_pcid=*/false, pcid_.value());
  inval_.invlpg_entries += removed;
  // INVLPG also drops every paging-structure-cache entry of the current PCID.
  inval_.psc_entries += walker_.invalidate_pcid(pcid_);
  return removed;
}

std::uint64_t TranslationUnit::mov_cr3(mmu::Pfn root, mmu::Pcid pcid, bool no_flush) {
  if (!pcide_ && (no_flush || pcid.value() != 0)) {
    ++inval_.invalid_instructions;  // #GP: reserved CR3 bits while CR4.PCIDE = 0
    return 0;
  }
  root_ = root;
  pcid_ = pcid;
  if (no_flush) {
    ++inval_.mov_cr3_noflush;
    return 0;
  }
  ++inval_.mov_cr3;
  const std::uint16_t target = pcid.value();
  const std::uint64_t removed =
      remove_all([target](const TlbEntry& e) { return !e.global && e.pcid == target; });
  inval_.mov_cr3_entries += removed;
  inval_.psc_entries += walker_.invalidate_pcid(pcid);
  return removed;
}

std::uint64_t TranslationUnit::invpcid(unsigned type, mmu::Pcid pcid, mmu::VirtAddr va) {
  // #UD without INVPCID support; #GP for a type above 3, a PCID wider than 12 bits, a non-zero
  // PCID with types 0 and 1 while CR4.PCIDE = 0, or a non-canonical address with type 0.
  if (!invpcid_ || type > 3 || pcid.value() > mmu::Pcid::kMax ||
      (!pcide_ && pcid.value() != 0 && type < 2) ||
      (type == 0 && !walker_.mode().is_canonical(va))) {
    ++inval_.invalid_instructions;
    return 0;
  }
  ++inval_.invpcid[type];
  std::uint64_t removed = 0;
  const std::uint16_t target = pcid.value();
  switch (static_cast<InvpcidType>(type)) {
    case InvpcidType::kIndividualAddress:
      removed = remove_address(va, /*include_global=*/false, /*any_pcid=*/false, target);
      for (int level = 2; level <= walker_.mode().levels; ++level) {
        inval_.psc_entries +=
            walker_.cache(static_cast<mmu::Level>(level)).invalidate_address(pcid, va);
      }
      break;
    case InvpcidType::kSingleContext:
      removed = remove_all([target](const TlbEntry& e) { return !e.global && e.pcid == target; });
      inval_.psc_entries += walker_.invalidate_pcid(pcid);
      break;
    case InvpcidType::kAllContextsIncludingGlobal:
      removed = remove_all([](const TlbEntry&) { return true; });
      inval_.psc_entries += walker_.invalidate_all();
      break;
    case InvpcidType::kAllContexts:
      removed = remove_all([](const TlbEntry& e) { return !e.global; });
      inval_.psc_entries += walker_.invalidate_all();
      break;
  }
  inval_.invpcid_entries[type] += removed;
  return removed;
}

std::uint64_t TranslationUnit::toggle_pge() {
  ++inval_.pge_toggles;
  const std::uint64_t removed = remove_all([](const TlbEntry&) { return true; });
  inval_.pge_toggle_entries += removed;
  inval_.psc_entries += walker_.invalidate_all();
  return removed;
}

std::uint64_t TranslationUnit::flush_all_global() {
  return invpcid_ ? invpcid(2, mmu::Pcid{0}, mmu::VirtAddr{0}) : toggle_pge();
}

std::uint64_t TranslationUnit::invlpgb_range(mmu::VirtAddr va, std::uint64_t pages) {
  ++inval_.invlpgb_received;
  std::uint64_t removed = 0;
  for (std::uint64_t page = 0; page < pages; ++page) {
    removed += remove_address(va + page * mmu::kPageBytes, /*include_global=*/true,
                              /*any_pcid=*/true, /*pcid=*/0);
  }
  inval_.invlpgb_entries += removed;
  inval_.psc_entries += walker_.invalidate_all();
  return removed;
}

std::uint64_t TranslationUnit::invlpgb_all() {
  ++inval_.invlpgb_received;
  const std::uint64_t removed = remove_all([](const TlbEntry&) { return true; });
  inval_.invlpgb_entries += removed;
  inval_.psc_entries += walker_.invalidate_all();
  return removed;
}

std::uint64_t TranslationUnit::mark_stale(mmu::VirtAddr va, mmu::PageSize size,
                                          mmu::PhysAddr pte_addr) {
  std::uint64_t marked = 0;
  const std::uint64_t vpn = va.vpn(size);
  for (TlbArray& array : arrays_) {
    if (!array.holds(size)) continue;
    array.for_each_in_set(vpn, [&](TlbEntry& e) {
      if (e.size == size && e.vpn == vpn && e.pte_addr == pte_addr.value() && !e.stale) {
        e.stale = true;
        ++marked;
      }
    });
  }
  return marked;
}

}  // namespace mmusim::tlb
