// The x86 invalidation instructions (Intel SDM Vol. 3A, 4.10.4.1) on a TLB prepared with
// global and non-global entries of two PCIDs, in 4 KiB, 2 MiB and 1 GiB pages, in L1 (data and
// instruction) and in the second level: which entries survive, the count each instruction
// returns, and the InvalidationStats it leaves.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mmu/pte.h"
#include "mmu/types.h"
#include "mmu/walker.h"
#include "tests/tlb/tlb_test_support.h"
#include "tlb/translation_unit.h"

namespace mmusim::tlb {
namespace {

using mmu::AccessType;
using mmu::Level;
using mmu::PageSize;
using mmu::Pcid;
using mmu::Pfn;
using mmu::Privilege;
using mmu::VirtAddr;
using Inventory = std::vector<std::string>;

Inventory sorted(Inventory entries) {
  std::sort(entries.begin(), entries.end());
  return entries;
}

struct Page {
  const char* label;
  VirtAddr va;
  PageSize size;
};

// The kernel half (shared by both address spaces): three global pages, one of each size, and
// a non-global 4 KiB page. Each address space has its own user pages at the same addresses.
constexpr Page kKg4k{"KG4K", VirtAddr{0xffffc90000000000}, PageSize::k4K};
constexpr Page kKn4k{"KN4K", VirtAddr{0xffffc90000001000}, PageSize::k4K};
constexpr Page kKg2m{"KG2M", VirtAddr{0xffffc90000200000}, PageSize::k2M};
constexpr Page kKg1g{"KG1G", VirtAddr{0xffffc90040000000}, PageSize::k1G};
constexpr Page kU4k{"U4K", VirtAddr{0x400000}, PageSize::k4K};
constexpr Page kU2m{"U2M", VirtAddr{0x600000}, PageSize::k2M};
constexpr Page kU1g{"U1G", VirtAddr{0x40000000}, PageSize::k1G};
constexpr Page kPages[] = {kKg4k, kKn4k, kKg2m, kKg1g, kU4k, kU2m, kU1g};

constexpr Pcid kPcidA{1};
constexpr Pcid kPcidB{2};

// What prepare() leaves with PCIDs on: "structure:page/owner", owner a PCID or g (global).
// Data loads of all seven pages under PCID 1, of the four non-global ones under PCID 2 (the
// globals hit there), and fetches of U4K (PCID 1) and KG2M, which fill L1I from the STLB.
const Inventory kPrepared = sorted({
    "l1d_1g:KG1G/g", "l1d_1g:U1G/1",   "l1d_1g:U1G/2",  "l1d_2m:KG2M/g", "l1d_2m:U2M/1",
    "l1d_2m:U2M/2",  "l1d_4k:KG4K/g",  "l1d_4k:KN4K/1", "l1d_4k:KN4K/2", "l1d_4k:U4K/1",
    "l1d_4k:U4K/2",  "l1i_2m:KG2M/g",  "l1i_4k:U4K/1",  "stlb:KG2M/g",   "stlb:KG4K/g",
    "stlb:KN4K/1",   "stlb:KN4K/2",    "stlb:U2M/1",    "stlb:U2M/2",    "stlb:U4K/1",
    "stlb:U4K/2",    "stlb_1g:KG1G/g", "stlb_1g:U1G/1", "stlb_1g:U1G/2",
});
const Inventory kGlobals = sorted({
    "l1d_1g:KG1G/g",
    "l1d_2m:KG2M/g",
    "l1d_4k:KG4K/g",
    "l1i_2m:KG2M/g",
    "stlb:KG2M/g",
    "stlb:KG4K/g",
    "stlb_1g:KG1G/g",
});
const Inventory kPcidBEntries = sorted({
    "l1d_1g:U1G/2",
    "l1d_2m:U2M/2",
    "l1d_4k:KN4K/2",
    "l1d_4k:U4K/2",
    "stlb:KN4K/2",
    "stlb:U2M/2",
    "stlb:U4K/2",
    "stlb_1g:U1G/2",
});
// With PCIDs off there is only address space A, and everything non-global has PCID 0.
const Inventory kPreparedNoPcid = sorted({
    "l1d_1g:KG1G/g",
    "l1d_1g:U1G/0",
    "l1d_2m:KG2M/g",
    "l1d_2m:U2M/0",
    "l1d_4k:KG4K/g",
    "l1d_4k:KN4K/0",
    "l1d_4k:U4K/0",
    "l1i_2m:KG2M/g",
    "l1i_4k:U4K/0",
    "stlb:KG2M/g",
    "stlb:KG4K/g",
    "stlb:KN4K/0",
    "stlb:U2M/0",
    "stlb:U4K/0",
    "stlb_1g:KG1G/g",
    "stlb_1g:U1G/0",
});

// `all` less each of `removed` (which must all be in it), sorted.
Inventory without(Inventory all, const Inventory& removed) {
  for (const std::string& entry : removed) {
    const auto it = std::find(all.begin(), all.end(), entry);
    if (it == all.end()) {
      ADD_FAILURE() << "expected entry " << entry << " is not in the inventory";
      continue;
    }
    all.erase(it);
  }
  std::sort(all.begin(), all.end());
  return all;
}

// Compares every counter, so that an instruction touching the wrong one fails.
void expect_stats(const InvalidationStats& actual, const InvalidationStats& expected) {
  EXPECT_EQ(actual.invlpg, expected.invlpg);
  EXPECT_EQ(actual.invlpg_entries, expected.invlpg_entries);
  EXPECT_EQ(actual.mov_cr3, expected.mov_cr3);
  EXPECT_EQ(actual.mov_cr3_noflush, expected.mov_cr3_noflush);
  EXPECT_EQ(actual.mov_cr3_entries, expected.mov_cr3_entries);
  for (std::size_t type = 0; type < 4; ++type) {
    EXPECT_EQ(actual.invpcid[type], expected.invpcid[type]) << "INVPCID type " << type;
    EXPECT_EQ(actual.invpcid_entries[type], expected.invpcid_entries[type])
        << "INVPCID type " << type;
  }
  EXPECT_EQ(actual.pge_toggles, expected.pge_toggles);
  EXPECT_EQ(actual.pge_toggle_entries, expected.pge_toggle_entries);
  EXPECT_EQ(actual.psc_entries, expected.psc_entries);
  EXPECT_EQ(actual.invalid_instructions, expected.invalid_instructions);
}

class InvalidationTest : public ::testing::Test {
 protected:
  InvalidationTest() {
    if (!machine.editor.populate_kernel_half(root_a).ok()) throw std::runtime_error("populate");
    root_b = machine.new_root_sharing_kernel(root_a);
    machine.map(root_a, kKg4k.va, kKg4k.size, Pfn{0x10000}, test::kernel_flags(true));
    machine.map(root_a, kKn4k.va, kKn4k.size, Pfn{0x10001}, test::kernel_flags(false));
    machine.map(root_a, kKg2m.va, kKg2m.size, Pfn{0x20000}, test::kernel_flags(true));
    machine.map(root_a, kKg1g.va, kKg1g.size, Pfn{0x40000}, test::kernel_flags(true));
    machine.map(root_a, kU4k.va, kU4k.size, Pfn{0x11000}, test::user_flags());
    machine.map(root_a, kU2m.va, kU2m.size, Pfn{0x20200}, test::user_flags());
    machine.map(root_a, kU1g.va, kU1g.size, Pfn{0x80000}, test::user_flags());
    machine.map(root_b, kU4k.va, kU4k.size, Pfn{0x12000}, test::user_flags());
    machine.map(root_b, kU2m.va, kU2m.size, Pfn{0x20400}, test::user_flags());
    machine.map(root_b, kU1g.va, kU1g.size, Pfn{0xc0000}, test::user_flags());
  }

  // Builds the unit and fills its TLBs to kPrepared (kPreparedNoPcid with PCIDs off); CR3 is
  // left on address space A. The paging-structure caches are on: with PCIDs, each address
  // space caches 2 PML4Es (kernel, user), 2 PDPTEs (the kernel's and the user's first GiB,
  // the 1 GiB pages being leaves) and 2 PDEs (those of the 4 KiB pages' tables).
  void prepare(const mmu::MmuConfig& config) {
    unit = std::make_unique<TranslationUnit>(0, test::test_tlb_config(), config, machine.memory,
                                             /*seed=*/1, nullptr);
    const Pcid pcid_a = config.pcid ? kPcidA : Pcid{0};
    unit->load_cr3(root_a, pcid_a);
    for (const Page& page : kPages) {
      const bool user = page.va.value() < 0x800000000000;
      expect_level(page.va, AccessType::kRead, user, HitLevel::kWalk);
    }
    expect_level(kU4k.va, AccessType::kExecute, true, HitLevel::kL2);
    expect_level(kKg2m.va, AccessType::kExecute, false, HitLevel::kL2);
    if (config.pcid) {
      unit->load_cr3(root_b, kPcidB);
      expect_level(kKg4k.va, AccessType::kRead, false, HitLevel::kL1);  // global
      expect_level(kKn4k.va, AccessType::kRead, false, HitLevel::kWalk);
      expect_level(kU4k.va, AccessType::kRead, true, HitLevel::kWalk);
      expect_level(kU2m.va, AccessType::kRead, true, HitLevel::kWalk);
      expect_level(kU1g.va, AccessType::kRead, true, HitLevel::kWalk);
      unit->load_cr3(root_a, pcid_a);
    }
  }
  void prepare() { prepare(test::test_mmu_config(/*with_psc=*/true)); }
  void prepare_without_pcids() {
    mmu::MmuConfig config = test::test_mmu_config(/*with_psc=*/true);
    config.pcid = false;
    prepare(config);
  }

  void expect_level(VirtAddr va, AccessType access, bool user, HitLevel level) {
    const TranslateResult result =
        unit->translate(va, access, user ? Privilege::kUser : Privilege::kSupervisor);
    EXPECT_TRUE(result.ok()) << mmu::hex(va.value());
    EXPECT_EQ(result.level, level) << mmu::hex(va.value());
  }

  // Every valid entry of every structure, sorted.
  Inventory inventory() const {
    Inventory entries;
    for (const TlbArray& array : unit->arrays()) {
      array.for_each_valid([&](const TlbEntry& e) {
        std::string label = "?";
        for (const Page& page : kPages) {
          if (page.size == e.size && page.va.vpn(page.size) == e.vpn) label = page.label;
        }
        const std::string owner = e.global ? "g" : std::to_string(e.pcid);
        entries.push_back(array.name() + ":" + label + "/" + owner);
      });
    }
    std::sort(entries.begin(), entries.end());
    return entries;
  }
  std::uint64_t psc_entries() {
    return unit->walker().cache(Level::kPml4).valid_entries() +
           unit->walker().cache(Level::kPdpt).valid_entries() +
           unit->walker().cache(Level::kPd).valid_entries();
  }

  test::Machine machine;
  Pfn root_a = machine.new_root();
  Pfn root_b{0};
  std::unique_ptr<TranslationUnit> unit;
};

TEST_F(InvalidationTest, PreparedStateHoldsEveryEntry) {
  prepare();
  EXPECT_EQ(inventory(), kPrepared);
  EXPECT_EQ(unit->valid_entries(), 24u);
  EXPECT_EQ(psc_entries(), 12u);  // 6 per PCID
  expect_stats(unit->invalidation_stats(), InvalidationStats{});
}

TEST_F(InvalidationTest, PreparedStateWithoutPcidsHoldsEveryEntry) {
  prepare_without_pcids();
  EXPECT_EQ(inventory(), kPreparedNoPcid);
  EXPECT_EQ(psc_entries(), 6u);
}

TEST_F(InvalidationTest, InvlpgRemovesThePageForTheCurrentPcidOnly) {
  prepare();
  EXPECT_EQ(unit->invlpg(kU4k.va + 0x123), 3u);
  EXPECT_EQ(inventory(), without(kPrepared, {"l1i_4k:U4K/1", "l1d_4k:U4K/1", "stlb:U4K/1"}));
  InvalidationStats expected;
  expected.invlpg = 1;
  expected.invlpg_entries = 3;
  expected.psc_entries = 6;  // every PSC entry of PCID 1, whatever its address
  expect_stats(unit->invalidation_stats(), expected);
  EXPECT_EQ(psc_entries(), 6u);  // PCID 2's

  // PCID 1 walks again; PCID 2 still hits its own entry (frame 0x12000).
  const TranslateResult again = unit->translate(kU4k.va, AccessType::kRead, Privilege::kUser);
  EXPECT_EQ(again.level, HitLevel::kWalk);
  EXPECT_EQ(again.paddr, mmu::PhysAddr{0x11000000});
  unit->load_cr3(root_b, kPcidB);
  const TranslateResult other = unit->translate(kU4k.va, AccessType::kRead, Privilege::kUser);
  EXPECT_EQ(other.level, HitLevel::kL1);
  EXPECT_EQ(other.paddr, mmu::PhysAddr{0x12000000});
}

TEST_F(InvalidationTest, InvlpgRemovesGlobalEntriesWhateverPcidIsCurrent) {
  prepare();
  unit->load_cr3(root_b, kPcidB);
  // Any address inside the 2 MiB page names it.
  EXPECT_EQ(unit->invlpg(kKg2m.va + 0x12345), 3u);
  EXPECT_EQ(inventory(), without(kPrepared, {"l1i_2m:KG2M/g", "l1d_2m:KG2M/g", "stlb:KG2M/g"}));
  InvalidationStats expected;
  expected.invlpg = 1;
  expected.invlpg_entries = 3;
  expected.psc_entries = 6;  // PCID 2's
  expect_stats(unit->invalidation_stats(), expected);
}

TEST_F(InvalidationTest, InvlpgCoversLargePages) {
  prepare();
  EXPECT_EQ(unit->invlpg(kU2m.va + 0x1ff000), 2u);
  EXPECT_EQ(unit->invlpg(kU1g.va + 0x3ffff000), 2u);
  EXPECT_EQ(inventory(),
            without(kPrepared, {"l1d_2m:U2M/1", "stlb:U2M/1", "l1d_1g:U1G/1", "stlb_1g:U1G/1"}));
  InvalidationStats expected;
  expected.invlpg = 2;
  expected.invlpg_entries = 4;
  expected.psc_entries = 6;  // the second INVLPG finds PCID 1's PSC entries gone already
  expect_stats(unit->invalidation_stats(), expected);
}

TEST_F(InvalidationTest, InvlpgOfAnUnmappedAddressStillFlushesThePscOfThePcid) {
  prepare();
  EXPECT_EQ(unit->invlpg(VirtAddr{0x7f0000000000}), 0u);
  EXPECT_EQ(inventory(), kPrepared);
  InvalidationStats expected;
  expected.invlpg = 1;
  expected.psc_entries = 6;
  expect_stats(unit->invalidation_stats(), expected);
}

TEST_F(InvalidationTest, InvlpgOfANonCanonicalAddressIsANoOp) {
  prepare();
  EXPECT_EQ(unit->invlpg(VirtAddr{0x0000800000000000}), 0u);
  EXPECT_EQ(inventory(), kPrepared);
  EXPECT_EQ(psc_entries(), 12u);
  InvalidationStats expected;
  expected.invlpg = 1;
  expect_stats(unit->invalidation_stats(), expected);
}

TEST_F(InvalidationTest, MovCr3FlushesNonGlobalEntriesOfTheNewPcid) {
  prepare();
  EXPECT_EQ(unit->mov_cr3(root_b, kPcidB, /*no_flush=*/false), 8u);
  EXPECT_EQ(inventory(), without(kPrepared, kPcidBEntries));
  EXPECT_EQ(unit->cr3_root(), root_b);
  EXPECT_EQ(unit->current_pcid(), kPcidB);
  InvalidationStats expected;
  expected.mov_cr3 = 1;
  expected.mov_cr3_entries = 8;
  expected.psc_entries = 6;  // PCID 2's
  expect_stats(unit->invalidation_stats(), expected);
  EXPECT_EQ(psc_entries(), 6u);  // PCID 1's stay

  // Globals survive; B's user page walks again, to B's frame.
  const TranslateResult global =
      unit->translate(kKg4k.va, AccessType::kRead, Privilege::kSupervisor);
  EXPECT_EQ(global.level, HitLevel::kL1);
  const TranslateResult user = unit->translate(kU4k.va, AccessType::kRead, Privilege::kUser);
  EXPECT_EQ(user.level, HitLevel::kWalk);
  EXPECT_EQ(user.paddr, mmu::PhysAddr{0x12000000});
}

TEST_F(InvalidationTest, MovCr3WithNoFlushBitKeepsEverything) {
  prepare();
  EXPECT_EQ(unit->mov_cr3(root_b, kPcidB, /*no_flush=*/true), 0u);
  EXPECT_EQ(inventory(), kPrepared);
  EXPECT_EQ(psc_entries(), 12u);
  EXPECT_EQ(unit->current_pcid(), kPcidB);
  InvalidationStats expected;
  expected.mov_cr3_noflush = 1;
  expect_stats(unit->invalidation_stats(), expected);
  // B's cached translation is used straight away.
  const TranslateResult user = unit->translate(kU4k.va, AccessType::kRead, Privilege::kUser);
  EXPECT_EQ(user.level, HitLevel::kL1);
  EXPECT_EQ(user.paddr, mmu::PhysAddr{0x12000000});
}

TEST_F(InvalidationTest, MovCr3WithoutPcidsFlushesEveryNonGlobalEntry) {
  prepare_without_pcids();
  EXPECT_EQ(unit->mov_cr3(root_b, Pcid{0}, /*no_flush=*/false), 9u);
  EXPECT_EQ(inventory(), kGlobals);
  EXPECT_EQ(unit->cr3_root(), root_b);
  InvalidationStats expected;
  expected.mov_cr3 = 1;
  expected.mov_cr3_entries = 9;
  expected.psc_entries = 6;
  expect_stats(unit->invalidation_stats(), expected);
  EXPECT_EQ(psc_entries(), 0u);
  const TranslateResult user = unit->translate(kU4k.va, AccessType::kRead, Privilege::kUser);
  EXPECT_EQ(user.level, HitLevel::kWalk);
  EXPECT_EQ(user.paddr, mmu::PhysAddr{0x12000000});
}

TEST_F(InvalidationTest, MovCr3WithNoFlushBitOrPcidWithoutPcidsIsInvalid) {
  prepare_without_pcids();
  EXPECT_EQ(unit->mov_cr3(root_b, Pcid{0}, /*no_flush=*/true), 0u);
  EXPECT_EQ(unit->mov_cr3(root_b, Pcid{3}, /*no_flush=*/false), 0u);
  // #GP: nothing changed, CR3 included.
  EXPECT_EQ(unit->cr3_root(), root_a);
  EXPECT_EQ(unit->current_pcid(), Pcid{0});
  EXPECT_EQ(inventory(), kPreparedNoPcid);
  EXPECT_EQ(psc_entries(), 6u);
  InvalidationStats expected;
  expected.invalid_instructions = 2;
  expect_stats(unit->invalidation_stats(), expected);
}

TEST_F(InvalidationTest, InvpcidIndividualAddressRemovesThatPcidsEntries) {
  prepare();
  // PCID 2's page while PCID 1 is current.
  EXPECT_EQ(unit->invpcid(0, kPcidB, kU4k.va + 0x10), 2u);
  EXPECT_EQ(inventory(), without(kPrepared, {"l1d_4k:U4K/2", "stlb:U4K/2"}));
  InvalidationStats expected;
  expected.invpcid[0] = 1;
  expected.invpcid_entries[0] = 2;
  expected.psc_entries = 3;  // PCID 2's PML4E, PDPTE and PDE on the way to U4K
  expect_stats(unit->invalidation_stats(), expected);
  EXPECT_EQ(psc_entries(), 9u);
  EXPECT_EQ(unit->current_pcid(), kPcidA);
}

TEST_F(InvalidationTest, InvpcidIndividualAddressSparesGlobalEntries) {
  prepare();
  EXPECT_EQ(unit->invpcid(0, kPcidA, kKg2m.va), 0u);
  EXPECT_EQ(inventory(), kPrepared);
  InvalidationStats expected;
  expected.invpcid[0] = 1;
  // PCID 1's kernel PML4E and PDPTE; KG2M's PDE is a leaf, never in the PDE cache.
  expected.psc_entries = 2;
  expect_stats(unit->invalidation_stats(), expected);
}

TEST_F(InvalidationTest, InvpcidSingleContextRemovesEveryNonGlobalEntryOfThePcid) {
  prepare();
  EXPECT_EQ(unit->invpcid(1, kPcidB, VirtAddr{0}), 8u);
  EXPECT_EQ(inventory(), without(kPrepared, kPcidBEntries));
  InvalidationStats expected;
  expected.invpcid[1] = 1;
  expected.invpcid_entries[1] = 8;
  expected.psc_entries = 6;
  expect_stats(unit->invalidation_stats(), expected);
  EXPECT_EQ(psc_entries(), 6u);
}

TEST_F(InvalidationTest, InvpcidAllContextsIncludingGlobalsRemovesEverything) {
  prepare();
  EXPECT_EQ(unit->invpcid(2, Pcid{0}, VirtAddr{0}), 24u);
  EXPECT_EQ(inventory(), Inventory{});
  EXPECT_EQ(psc_entries(), 0u);
  InvalidationStats expected;
  expected.invpcid[2] = 1;
  expected.invpcid_entries[2] = 24;
  expected.psc_entries = 12;
  expect_stats(unit->invalidation_stats(), expected);
}

TEST_F(InvalidationTest, InvpcidAllContextsKeepsGlobals) {
  prepare();
  EXPECT_EQ(unit->invpcid(3, Pcid{0}, VirtAddr{0}), 17u);
  EXPECT_EQ(inventory(), kGlobals);
  EXPECT_EQ(psc_entries(), 0u);
  InvalidationStats expected;
  expected.invpcid[3] = 1;
  expected.invpcid_entries[3] = 17;
  expected.psc_entries = 12;
  expect_stats(unit->invalidation_stats(), expected);
}

TEST_F(InvalidationTest, PgeToggleRemovesEverything) {
  prepare();
  EXPECT_EQ(unit->toggle_pge(), 24u);
  EXPECT_EQ(inventory(), Inventory{});
  InvalidationStats expected;
  expected.pge_toggles = 1;
  expected.pge_toggle_entries = 24;
  expected.psc_entries = 12;
  expect_stats(unit->invalidation_stats(), expected);
  // CR4.PGE is back on: a new global entry still serves every PCID.
  unit->translate(kKg4k.va, AccessType::kRead, Privilege::kSupervisor);
  unit->load_cr3(root_b, kPcidB);
  EXPECT_EQ(unit->translate(kKg4k.va, AccessType::kRead, Privilege::kSupervisor).level,
            HitLevel::kL1);
}

TEST_F(InvalidationTest, FlushAllGlobalUsesInvpcidWhenSupported) {
  prepare();
  EXPECT_EQ(unit->flush_all_global(), 24u);
  InvalidationStats expected;
  expected.invpcid[2] = 1;
  expected.invpcid_entries[2] = 24;
  expected.psc_entries = 12;
  expect_stats(unit->invalidation_stats(), expected);
}

TEST_F(InvalidationTest, FlushAllGlobalTogglesPgeWithoutInvpcid) {
  mmu::MmuConfig config = test::test_mmu_config(/*with_psc=*/true);
  config.invpcid = false;
  prepare(config);
  EXPECT_EQ(unit->flush_all_global(), 24u);
  EXPECT_EQ(inventory(), Inventory{});
  InvalidationStats expected;
  expected.pge_toggles = 1;
  expected.pge_toggle_entries = 24;
  expected.psc_entries = 12;
  expect_stats(unit->invalidation_stats(), expected);
}

TEST_F(InvalidationTest, InvpcidWithInvalidOperandsDoesNothing) {
  prepare();
  EXPECT_EQ(unit->invpcid(4, kPcidA, VirtAddr{0}), 0u);                   // no type 4
  EXPECT_EQ(unit->invpcid(0, kPcidA, VirtAddr{0x0000800000000000}), 0u);  // non-canonical
  EXPECT_EQ(unit->invpcid(1, Pcid{0x1000}, VirtAddr{0}), 0u);             // PCID over 12 bits
  EXPECT_EQ(inventory(), kPrepared);
  EXPECT_EQ(psc_entries(), 12u);
  InvalidationStats expected;
  expected.invalid_instructions = 3;
  expect_stats(unit->invalidation_stats(), expected);
}

TEST_F(InvalidationTest, InvpcidUnsupportedIsInvalid) {
  mmu::MmuConfig config = test::test_mmu_config(/*with_psc=*/true);
  config.invpcid = false;
  prepare(config);
  EXPECT_EQ(unit->invpcid(1, kPcidA, VirtAddr{0}), 0u);
  EXPECT_EQ(unit->invpcid(2, Pcid{0}, VirtAddr{0}), 0u);
  EXPECT_EQ(inventory(), kPrepared);
  InvalidationStats expected;
  expected.invalid_instructions = 2;
  expect_stats(unit->invalidation_stats(), expected);
}

TEST_F(InvalidationTest, InvpcidWithoutPcidsNeedsPcidZeroForTypesZeroAndOne) {
  prepare_without_pcids();
  EXPECT_EQ(unit->invpcid(0, Pcid{5}, kU4k.va), 0u);
  EXPECT_EQ(unit->invpcid(1, Pcid{5}, VirtAddr{0}), 0u);
  EXPECT_EQ(inventory(), kPreparedNoPcid);
  // PCID 0 is fine; types 2 and 3 ignore the PCID.
  EXPECT_EQ(unit->invpcid(1, Pcid{0}, VirtAddr{0}), 9u);
  EXPECT_EQ(inventory(), kGlobals);
  EXPECT_EQ(unit->invpcid(2, Pcid{5}, VirtAddr{0}), 7u);
  EXPECT_EQ(inventory(), Inventory{});
  InvalidationStats expected;
  expected.invalid_instructions = 2;
  expected.invpcid[1] = 1;
  expected.invpcid_entries[1] = 9;
  expected.invpcid[2] = 1;
  expected.invpcid_entries[2] = 7;
  expected.psc_entries = 6;  // all by type 1; nothing left for type 2
  expect_stats(unit->invalidation_stats(), expected);
}

}  // namespace
}  // namespace mmusim::tlb
