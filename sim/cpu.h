// One simulated CPU: an SC_THREAD that executes its op stream in program order through its
// own TLBs and page walker, charging cycles from the latency table. Work on private state only
// advances the CPU's local time (temporal decoupling with a quantum keeper); an op that
// changes shared state (a page-table edit) synchronises first, so shared state changes in
// global time order.
#pragma once

#include <cstdint>
#include <memory>

#include <systemc>
#include <tlm_utils/tlm_quantumkeeper.h>

#include "sim/cpu_stats.h"
#include "tlb/translation_unit.h"
#include "workloads/op.h"

namespace mmusim::sim {

class Platform;

class Cpu : public sc_core::sc_module {
 public:
  Cpu(sc_core::sc_module_name name, int id, Platform& platform);

  void set_source(std::unique_ptr<workloads::OpSource> source) { source_ = std::move(source); }
  [[nodiscard]] int id() const { return id_; }
  [[nodiscard]] tlb::TranslationUnit& unit() { return unit_; }
  [[nodiscard]] const tlb::TranslationUnit& unit() const { return unit_; }
  // The cycle at which the CPU ran out of ops (or the run stopped).
  [[nodiscard]] std::uint64_t finish_cycle() const { return finish_cycle_; }
  // Everything the CPU counted, its TLBs' and walker's counters included.
  [[nodiscard]] CpuStats stats() const;

 private:
  void run();
  void execute(const workloads::Op& op);
  void access(mmu::VirtAddr va, mmu::AccessType type, mmu::Privilege privilege,
              const workloads::Op& op);
  void charge(std::uint64_t cycles, std::uint64_t& category);
  [[nodiscard]] std::uint64_t local_now() const;

  int id_;
  Platform& platform_;
  tlb::TranslationUnit unit_;
  std::unique_ptr<workloads::OpSource> source_;
  tlm_utils::tlm_quantumkeeper quantum_;
  OpStats ops_;
  CycleStats cycles_;
  std::uint64_t finish_cycle_ = 0;
};

}  // namespace mmusim::sim
