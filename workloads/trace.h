// The trace format (text, line-oriented, versioned): workloads/README.md is its specification.
// The reader streams: it holds only ops read ahead for CPUs that have not asked for them yet,
// so memory stays bounded by how far apart in the file the CPUs' ops are. A CPU that has had
// all its ops (or has none) does not read ahead at all: for a file, a first pass finds each
// CPU's last op line.
#pragma once

#include <cstdint>
#include <deque>
#include <fstream>
#include <istream>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "workloads/op.h"

namespace mmusim::workloads {

inline constexpr int kTraceVersion = 1;
inline constexpr int kMaxTraceCpus = 4096;

// A malformed trace: what() is "FILE:LINE: message".
class TraceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses the op part of a line ("load 0x1000 user"). Throws std::invalid_argument with a
// message (without file:line) when malformed.
Op parse_op(const std::string& text);

class TraceReader {
 public:
  // Opens `path` and reads its header. Throws TraceError.
  explicit TraceReader(const std::string& path);
  // Reads from `in` (which must outlive the reader); `name` is used in messages.
  TraceReader(std::istream& in, std::string name);

  [[nodiscard]] const std::string& name() const { return name_; }
  // The "cpus N" header directive, or 0 when absent. Op lines for CPU N or above are an error.
  [[nodiscard]] int declared_cpus() const { return declared_cpus_; }
  // The header's "boot OP" lines: page-table edits and early vmalloc registrations made before
  // time starts.
  [[nodiscard]] const std::vector<Op>& boot_ops() const { return boot_ops_; }
  // Ops for CPUs at or above `cpus` are an error (the platform has no such CPU).
  void set_cpu_count(int cpus) { cpu_count_ = cpus; }

  // The next op of `cpu` in program order; false at the end of the trace. `line` is set to
  // the line it came from. Throws TraceError.
  bool next_for(int cpu, Op& op, std::uint64_t& line);
  // Reads the whole rest of the trace (checking every line), counting ops per CPU.
  std::vector<std::uint64_t> count_ops();

  // Ops read ahead and held for CPUs that have not asked for them yet: now, and at most so far.
  // Both stay small when the trace interleaves its CPUs closely.
  [[nodiscard]] std::size_t pending_ops() const { return pending_count_; }
  [[nodiscard]] std::size_t peak_pending_ops() const { return peak_pending_; }

 private:
  struct Pending {
    Op op;
    std::uint64_t line;
  };
  void read_header();
  // The next raw line; false at end of file. A read error is a TraceError, not an end.
  bool next_raw_line(std::string& raw);
  // Reads the next op line; false at end of file.
  bool read_line(int& cpu, Op& op, std::uint64_t& line);
  [[noreturn]] void fail(std::uint64_t line, const std::string& message) const;
  // The first pass over the rest of a file (not a stream that cannot seek back): each CPU's
  // last op line. Left unknown when a line names no CPU this trace may have (reading it in
  // turn then reports the error).
  void find_last_lines();
  // "irq {" ... "}" blocks: one open at most per CPU, each closed before the end of the trace.
  void track_irq_block(int cpu, const Op& op, std::uint64_t line);
  void check_irq_blocks_closed() const;

  std::unique_ptr<std::ifstream> file_;
  std::istream* in_;
  std::string name_;
  std::uint64_t line_ = 0;
  int declared_cpus_ = 0;
  std::vector<Op> boot_ops_;
  int cpu_count_ = kMaxTraceCpus;
  std::vector<std::deque<Pending>> pending_;
  std::size_t pending_count_ = 0;
  std::size_t peak_pending_ = 0;
  // Per CPU, the line of its open "irq {", or 0.
  std::vector<std::uint64_t> irq_open_;
  // find_last_lines(): whether it ran and found them; per CPU, its last op line (0: none); the
  // last op line of all; and the last op line read so far.
  bool last_lines_searched_ = false;
  bool last_lines_known_ = false;
  std::vector<std::uint64_t> last_line_;
  std::uint64_t last_op_line_ = 0;
  std::uint64_t op_line_read_ = 0;
  // A line read while parsing the header that turned out to be an op.
  bool has_lookahead_ = false;
  std::string lookahead_;
};

// One CPU's view of a shared reader.
class TraceOpSource final : public OpSource {
 public:
  TraceOpSource(std::shared_ptr<TraceReader> reader, int cpu)
      : reader_(std::move(reader)), cpu_(cpu) {}
  bool next(Op& op) override { return reader_->next_for(cpu_, op, line_); }
  [[nodiscard]] std::string where() const override {
    return reader_->name() + ":" + std::to_string(line_);
  }

 private:
  std::shared_ptr<TraceReader> reader_;
  int cpu_;
  std::uint64_t line_ = 0;
};

class TraceWriter {
 public:
  // Writes the header at once; `cpus` becomes the "cpus" directive, `comment` (may be empty,
  // may hold several lines) is written as '#' lines after it.
  TraceWriter(std::ostream& out, int cpus, const std::string& comment = "");
  // A "boot" line; only before the first write() (std::logic_error otherwise).
  void write_boot(const Op& op);
  // An op line of `cpu`, which must be below the `cpus` given (std::logic_error otherwise).
  void write(int cpu, const Op& op);
  [[nodiscard]] std::uint64_t ops_written() const { return ops_; }

 private:
  std::ostream& out_;
  int cpus_;
  std::uint64_t ops_ = 0;
};

}  // namespace mmusim::workloads
