#include "sim/interrupt.h"

#include <csignal>

namespace mmusim::sim {

namespace {

volatile std::sig_atomic_t received_signal = 0;

extern "C" void on_interrupt(int signal) {
  received_signal = signal;
}

}  // namespace

void install_interrupt_handlers() {
  struct sigaction action = {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int interrupt_signal() {
  return received_signal;
}

std::string signal_name(int signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "signal " + std::to_string(signal);
  }
}

void clear_interrupt() {
  received_signal = 0;
}

}  // namespace mmusim::sim
