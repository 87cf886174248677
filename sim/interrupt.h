// SIGINT and SIGTERM during a run. The handler only records the signal in a volatile
// sig_atomic_t; the simulation polls it where it reports progress (every
// Platform::kProgressInterval ops) and stops cleanly through Platform::request_stop, so that
// nothing is written and no exception crosses the SystemC threads. A sweep stops launching
// points and passes the signal on to the points still running.
#pragma once

#include <string>

namespace mmusim::sim {

// Installs the handlers for SIGINT and SIGTERM (without SA_RESTART: a blocking call returns
// with EINTR, so the caller sees the signal at once).
void install_interrupt_handlers();
// The signal received since the handlers were installed (SIGINT or SIGTERM), or 0.
[[nodiscard]] int interrupt_signal();
// "SIGINT", "SIGTERM", or "signal N".
[[nodiscard]] std::string signal_name(int signal);
// For tests: forgets a received signal.
void clear_interrupt();

}  // namespace mmusim::sim
