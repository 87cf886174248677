#include "mmu/walker.h"

namespace mmusim::mmu {

const char* to_string(FaultKind kind) {
  switch (kind) {
    case FaultKind::kNone:
      return "none";
    case FaultKind::kNotPresent:
      return "not-present";
    case FaultKind::kWriteProtect:
      return "write-protect";
    case FaultKind::kUserSupervisor:
      return "user-supervisor";
    case FaultKind::kNoExecute:
      return "no-execute";
    case FaultKind::kReservedBit:
      return "reserved-bit";
    case FaultKind::kNonCanonical:
      return "non-canonical";
  }
  return "?";
}

void FaultStats::count(FaultKind kind) {
  switch (kind) {
    case FaultKind::kNone:
      break;
    case FaultKind::kNotPresent:
      ++not_present;
      break;
    case FaultKind::kWriteProtect:
      ++write_protect;
      break;
    case FaultKind::kUserSupervisor:
      ++user_supervisor;
      break;
    case FaultKind::kNoExecute:
      ++no_execute;
      break;
    case FaultKind::kReservedBit:
      ++reserved_bit;
      break;
    case FaultKind::kNonCanonical:
      ++non_canonical;
      break;
  }
}

PagingStructureCache::PagingStructureCache(Level level, const PscConfig& config) : level_(level) {
  if (config.entries == 0) return;
  ways_ = config.ways;
  sets_ = config.entries / config.ways;
  sets_pow2_ = (sets_ & (sets_ - 1)) == 0;
  entries_.resize(std::size_t{sets_} * ways_);
}

const PagingStructureCache::Entry* PagingStructureCache::lookup(Pcid pcid, VirtAddr va) {
  if (entries_.empty()) return nullptr;
  const std::uint64_t tag = tag_of(va);
  Entry* set = set_of(tag);
  for (std::uint32_t way = 0; way < ways_; ++way) {
    Entry& entry = set[way];
    if (entry.valid && entry.tag == tag && entry.pcid == pcid.value()) {
      entry.last_use = ++clock_;
      return &entry;
    }
  }
  return nullptr;
}

void PagingStructureCache::fill(Pcid pcid, VirtAddr va, Pfn next_table, bool writable, bool user,
                                bool no_execute) {
  if (entries_.empty()) return;
  const std::uint64_t tag = tag_of(va);
  Entry* set = set_of(tag);
  Entry* victim = &set[0];
  for (std::uint32_t way = 0; way < ways_; ++way) {
    Entry& entry = set[way];
    if (entry.valid && entry.tag == tag && entry.pcid == pcid.value()) {
      victim = &entry;  // refresh in place
      break;
    }
    if (!entry.valid) {
      if (victim->valid) victim = &entry;
    } else if (victim->valid && entry.last_use < victim->last_use) {
      victim = &entry;
    }
  }
  *victim = Entry{tag, ++clock_, next_table, pcid.value(), true, writable, user, no_execute};
}

std::uint64_t PagingStructureCache::invalidate_pcid(Pcid pcid) {
  std::uint64_t removed = 0;
  for (Entry& entry : entries_) {
    if (entry.valid && entry.pcid == pcid.value()) {
      entry.valid = false;
      ++removed;
    }
  }
  return removed;
}

std::uint64_t PagingStructureCache::invalidate_all() {
  std::uint64_t removed = 0;
  for (Entry& entry : entries_) {
    removed += entry.valid ? 1 : 0;
    entry.valid = false;
  }
  return removed;
}

std::uint64_t PagingStructureCache::invalidate_address(Pcid pcid, VirtAddr va) {
  if (entries_.empty()) return 0;
  const std::uint64_t tag = tag_of(va);
  Entry* set = set_of(tag);
  std::uint64_t removed = 0;
  for (std::uint32_t way = 0; way < ways_; ++way) {
    if (set[way].valid && set[way].tag == tag && set[way].pcid == pcid.value()) {
      set[way].valid = false;
      ++removed;
    }
  }
  return removed;
}

std::uint64_t PagingStructureCache::valid_entries() const {
  std::uint64_t valid = 0;
  for (const Entry& entry : entries_)
    valid += entry.valid ? 1 : 0;
  return valid;
}

PageWalker::PageWalker(PhysMem& memory, const MmuConfig& config)
    : memory_(memory),
      mode_(config.mode()),
      phys_bits_(config.phys_addr_bits),
      latency_(config.walk_latency) {
  const PscConfig disabled{};
  caches_.emplace_back(Level::kPt, disabled);  // unused slot 0
  caches_.emplace_back(Level::kPt, disabled);  // PTEs are cached by the TLB, not here
  caches_.emplace_back(Level::kPd, config.pde);
  caches_.emplace_back(Level::kPdpt, config.pdpte);
  caches_.emplace_back(Level::kPml4, config.pml4e);
  caches_.emplace_back(Level::kPml5, mode_.levels == 5 ? config.pml5e : disabled);
}

void PageWalker::fail(WalkResult& result, FaultKind kind, bool present_violation, AccessType access,
                      Privilege privilege, const WalkContext& context, VirtAddr va) {
  result.fault = kind;
  result.error_code = (present_violation ? fault_bits::kPresent : 0) |
                      (access == AccessType::kWrite ? fault_bits::kWrite : 0) |
                      (privilege == Privilege::kUser ? fault_bits::kUser : 0) |
                      (kind == FaultKind::kReservedBit ? fault_bits::kReserved : 0) |
                      (access == AccessType::kExecute ? fault_bits::kFetch : 0);
  // A page fault invalidates the paging-structure-cache entries that would be used for the
  // faulting address (SDM 4.10.4.1), so a retry re-reads memory.
  for (int level = 2; level <= mode_.levels; ++level) {
    caches_[level].invalidate_address(context.pcid, va);
  }
  stats_.walk_cycles += result.cycles.value();
}

WalkResult PageWalker::walk(const WalkContext& context, VirtAddr va, AccessType access,
                            Privilege privilege) {
  WalkResult result;
  ++stats_.walks;
  if (!mode_.is_canonical(va)) {
    result.fault = FaultKind::kNonCanonical;
    return result;
  }
  std::uint64_t cycles = latency_.start;

  // Start below the lowest-level cached entry that matches.
  Level level = mode_.top();
  Pfn table = context.root;
  bool writable = true;
  bool user = true;
  bool no_execute = false;
  bool cached = false;
  for (int cached_level = 2; cached_level <= mode_.levels; ++cached_level) {
    PagingStructureCache& cache = caches_[cached_level];
    if (!cache.enabled()) continue;
    if (const auto* entry = cache.lookup(context.pcid, va)) {
      table = entry->next_table;
      writable = entry->writable;
      user = entry->user;
      no_execute = entry->no_execute;
      level = level_below(static_cast<Level>(cached_level));
      ++stats_.psc_hits[cached_level];
      cached = true;
      break;
    }
  }
  if (!cached) ++stats_.psc_misses;

  for (;;) {
    const PhysAddr slot = table.addr() + std::uint64_t{level_index(va, level)} * 8;
    std::uint64_t raw = memory_.read_u64(slot);
    ++result.memory_reads;
    ++stats_.memory_reads;
    ++stats_.reads_by_level[level_number(level)];
    cycles += latency_.read(level);
    const Pte pte{raw};
    result.cycles = Cycles{cycles};
    if (!pte.present()) {
      fail(result, FaultKind::kNotPresent, false, access, privilege, context, va);
      return result;
    }
    if (pte.reserved_bits(level, phys_bits_) != 0) {
      fail(result, FaultKind::kReservedBit, true, access, privilege, context, va);
      return result;
    }
    writable = writable && pte.writable();
    user = user && pte.user();
    no_execute = no_execute || pte.no_execute();

    if (pte.is_leaf(level)) {
      // CR0.WP = 1: supervisor writes honour R/W too. SMEP/SMAP are not modelled.
      if (privilege == Privilege::kUser && !user) {
        fail(result, FaultKind::kUserSupervisor, true, access, privilege, context, va);
        return result;
      }
      if (access == AccessType::kWrite && !writable) {
        fail(result, FaultKind::kWriteProtect, true, access, privilege, context, va);
        return result;
      }
      if (access == AccessType::kExecute && no_execute) {
        fail(result, FaultKind::kNoExecute, true, access, privilege, context, va);
        return result;
      }
      std::uint64_t updated = raw | pte_bits::kAccessed;
      if (access == AccessType::kWrite) updated |= pte_bits::kDirty;
      if (updated != raw) {
        memory_.write_u64(slot, updated);
        cycles += latency_.ad_update;
        if (!(raw & pte_bits::kAccessed)) ++stats_.accessed_writes;
        if ((updated & pte_bits::kDirty) && !(raw & pte_bits::kDirty)) ++stats_.dirty_writes;
      }
      Translation& t = result.translation;
      t.frame = pte.leaf_pfn(level);
      t.size = leaf_size(level);
      t.writable = writable;
      t.user = user;
      t.executable = !no_execute;
      t.global = pte.global();
      t.dirty = (updated & pte_bits::kDirty) != 0;
      t.leaf_pte = slot;
      result.cycles = Cycles{cycles};
      stats_.walk_cycles += cycles;
      return result;
    }
    if (level == Level::kPt) {  // unreachable: a PTE is always a leaf
      fail(result, FaultKind::kReservedBit, true, access, privilege, context, va);
      return result;
    }
    if (!pte.accessed()) {
      memory_.write_u64(slot, raw | pte_bits::kAccessed);
      cycles += latency_.ad_update;
      ++stats_.accessed_writes;
    }
    caches_[level_number(level)].fill(context.pcid, va, pte.table_pfn(), writable, user,
                                      no_execute);
    table = pte.table_pfn();
    level = level_below(level);
  }
}

std::uint64_t PageWalker::invalidate_pcid(Pcid pcid) {
  std::uint64_t removed = 0;
  for (auto& cache : caches_)
    removed += cache.invalidate_pcid(pcid);
  return removed;
}

std::uint64_t PageWalker::invalidate_all() {
  std::uint64_t removed = 0;
  for (auto& cache : caches_)
    removed += cache.invalidate_all();
  return removed;
}

}  // namespace mmusim::mmu
