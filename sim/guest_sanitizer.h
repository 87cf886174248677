// sanitizer.check_invariants_after_purge: the guest's books (vmalloc/invariants.h) checked
// after every lazy purge and, when the run completes, a teardown: the last CPU to run out of
// ops frees everything the run left allocated (what the trace handles hold, then every busy
// area), purges, and checks that nothing but early areas and page tables is left. The checks
// take no simulated time; the teardown's frees and flushes do, like any guest call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mmusim::sim {

class Platform;

class GuestSanitizer {
 public:
  static constexpr std::size_t kMessagesKept = 20;

  explicit GuestSanitizer(Platform& platform) : platform_(platform) {}

  // The check after a purge, on the purging CPU (other CPUs may be inside the guest).
  void after_purge();
  // Counts one check and its violations; the first few go to the log and the statistics.
  void record(const std::vector<std::string>& violations, const std::string& when);

  void set_teardown(std::string state) { teardown_ = std::move(state); }
  void count_teardown_free() { ++teardown_frees_; }

  [[nodiscard]] std::uint64_t checks() const { return checks_; }
  [[nodiscard]] std::uint64_t violations() const { return violations_; }
  [[nodiscard]] const std::vector<std::string>& messages() const { return messages_; }
  // "checked", or why the teardown did not run.
  [[nodiscard]] const std::string& teardown() const { return teardown_; }
  [[nodiscard]] std::uint64_t teardown_frees() const { return teardown_frees_; }

 private:
  Platform& platform_;
  std::uint64_t checks_ = 0;
  std::uint64_t violations_ = 0;
  std::vector<std::string> messages_;
  std::string teardown_ = "not run: the run did not complete";
  std::uint64_t teardown_frees_ = 0;
};

}  // namespace mmusim::sim
