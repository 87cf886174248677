// The run as a Chrome trace-event file (opened by Perfetto and chrome://tracing): one track per
// CPU, slices for shootdown spins, IPI handlers, idle periods, lock waits and long page walks,
// and a flow arrow from each IPI send to its handler. The file is bounded: after the configured
// number of events it stops writing and records that it was cut.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace mmusim::sim {

class Timeline {
 public:
  Timeline() = default;
  // Starts writing `path` (through a temporary file renamed by finish()).
  Timeline(const std::string& path, std::uint64_t max_events, std::uint32_t frequency_mhz,
           int cpus);
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;
  ~Timeline();

  // Asked for every long page walk: a flag, not a call into the stream.
  [[nodiscard]] bool enabled() const { return open_; }
  // A slice on `cpu`'s track from `start` lasting `duration` cycles.
  void slice(int cpu, const char* name, const char* category, std::uint64_t start,
             std::uint64_t duration, const std::string& args_json = "");
  // The two ends of a flow arrow.
  void flow_begin(int cpu, std::uint64_t id, std::uint64_t at);
  void flow_end(int cpu, std::uint64_t id, std::uint64_t at);
  // Completes the file and moves it into place; returns what went wrong, or "".
  std::string finish();
  // Drops the temporary file (the run failed).
  void abandon();

  [[nodiscard]] std::uint64_t written() const { return written_; }
  [[nodiscard]] std::uint64_t dropped() const { return dropped_; }

 private:
  bool admit();
  [[nodiscard]] std::string micros(std::uint64_t cycles) const;

  std::string path_;
  std::ofstream out_;
  bool open_ = false;  // out_.is_open()
  std::uint64_t max_events_ = 0;
  std::uint32_t frequency_mhz_ = 1;
  std::uint64_t written_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace mmusim::sim
