#include "bench/machine.h"

#include <stdexcept>

namespace mmusim::bench {

BenchMachine::BenchMachine(std::uint64_t pages, const mmu::MmuConfig& mmu,
                           const tlb::TlbConfig& tlb) {
  const auto new_root = editor.create_root();
  if (!new_root) throw std::runtime_error("bench: no frame for the root table");
  root = *new_root;
  mmu::PteFlags flags;
  flags.global = true;
  flags.no_execute = true;
  // Frames from 1 GiB up, clear of the page tables the editor allocates from frame 256.
  const mmu::EditResult mapped = editor.map(root, mmu::VirtAddr{kBase}, pages << mmu::kPageShift,
                                            mmu::Pfn{0x40000}, mmu::PageSize::k4K, flags);
  if (!mapped.ok()) throw std::runtime_error("bench: mapping the pages failed");
  unit = std::make_unique<tlb::TranslationUnit>(0, tlb, mmu, memory, /*seed=*/1, &tracker);
  tracker.add_unit(unit.get());
  unit->load_cr3(root, mmu::Pcid{0});
}

}  // namespace mmusim::bench
