// Fuzzing harness of the trace reader: text -> ops, read the way a replay reads them (each CPU
// asking for its next op in turn, the reader holding ops read ahead for the others). A
// malformed trace must end in workloads::TraceError, the error the command line turns into
// exit status 2. Every op read must also survive the writer: format_op() of it parses back
// to the same op (a recorded trace replays to the same run).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "workloads/op.h"
#include "workloads/trace.h"

namespace {

// CPUs a replay gives a trace without a "cpus" line (the platform's count; any will do).
constexpr int kUndeclaredCpus = 8;

void check_round_trip(const mmusim::workloads::Op& op) {
  const std::string text = mmusim::workloads::format_op(op);
  mmusim::workloads::Op again;
  try {
    again = mmusim::workloads::parse_op(text);
  } catch (const std::invalid_argument& e) {
    std::cerr << "trace_fuzz: the writer's '" << text << "' does not parse: " << e.what() << "\n";
    std::abort();
  }
  if (again != op) {
    std::cerr << "trace_fuzz: '" << text << "' parses back to '"
              << mmusim::workloads::format_op(again) << "'\n";
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  try {
    mmusim::workloads::TraceReader reader(in, "fuzz.trace");
    for (const mmusim::workloads::Op& op : reader.boot_ops())
      check_round_trip(op);
    const int cpus = reader.declared_cpus() > 0 ? reader.declared_cpus() : kUndeclaredCpus;
    reader.set_cpu_count(cpus);
    // Round robin over the CPUs, the way their threads interleave in a run; a CPU whose ops
    // have run out is done for good.
    std::vector<int> active;
    for (int cpu = 0; cpu < cpus; ++cpu)
      active.push_back(cpu);
    while (!active.empty()) {
      std::vector<int> still;
      for (const int cpu : active) {
        mmusim::workloads::Op op;
        std::uint64_t line = 0;
        if (reader.next_for(cpu, op, line)) {
          check_round_trip(op);
          still.push_back(cpu);
        }
      }
      active.swap(still);
    }
  } catch (const mmusim::workloads::TraceError&) {
    // The expected outcome of a malformed trace.
  }
  return 0;
}
