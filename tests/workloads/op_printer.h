// Lets GoogleTest print an Op in failure messages: its canonical text, then every field, so
// that fields format_op leaves out still show.
#pragma once

#include <ostream>

#include "workloads/op.h"

namespace mmusim::workloads {

inline void PrintTo(const Op& op, std::ostream* out) {
  *out << "{" << format_op(op) << " | page=" << mmu::to_string(op.page) << " flags=" << op.flags
       << " pcid=" << op.pcid << " mm=" << op.mm << " addr=" << mmu::hex(op.addr)
       << " size=" << op.size << " value=" << op.value << " node=" << op.node
       << " align=" << op.align << " extra=" << op.extra << " name='" << op.name_view() << "'}";
}

}  // namespace mmusim::workloads
