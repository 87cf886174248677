// Where each CPU sits: socket, core and SMT thread. CPUs are numbered thread-fastest, then
// core, then socket: CPU (s * cores_per_socket + c) * threads_per_core + t. The distance
// between two CPUs picks the IPI delivery and cache-line transfer latencies.
#pragma once

#include <cstdint>

#include "sim/config.h"

namespace mmusim::sim {

enum class Distance : std::uint8_t { kSelf, kSmt, kSocket, kRemote };

[[nodiscard]] inline const char* to_string(Distance distance) {
  switch (distance) {
    case Distance::kSelf:
      return "self";
    case Distance::kSmt:
      return "smt";
    case Distance::kSocket:
      return "socket";
    case Distance::kRemote:
      return "remote";
  }
  return "?";
}

class Topology {
 public:
  explicit Topology(const PlatformConfig& config)
      : threads_(config.topology.threads_per_core),
        cores_(config.cores_per_socket()),
        sockets_(config.topology.sockets) {}

  [[nodiscard]] int socket_of(int cpu) const { return cpu / (threads_ * cores_); }
  [[nodiscard]] int core_of(int cpu) const { return (cpu / threads_) % cores_; }
  [[nodiscard]] int thread_of(int cpu) const { return cpu % threads_; }
  [[nodiscard]] int sockets() const { return sockets_; }

  [[nodiscard]] Distance distance(int a, int b) const {
    if (a == b) return Distance::kSelf;
    if (socket_of(a) != socket_of(b)) return Distance::kRemote;
    if (core_of(a) != core_of(b)) return Distance::kSocket;
    return Distance::kSmt;
  }
  // The x2APIC cluster of a CPU: clusters never span sockets.
  [[nodiscard]] int cluster_of(int cpu, int cluster_size) const {
    const int per_socket = threads_ * cores_;
    const int clusters_per_socket = (per_socket + cluster_size - 1) / cluster_size;
    return socket_of(cpu) * clusters_per_socket + (cpu % per_socket) / cluster_size;
  }

 private:
  int threads_;
  int cores_;
  int sockets_;
};

}  // namespace mmusim::sim
