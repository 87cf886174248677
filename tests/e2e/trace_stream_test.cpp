// Traces are replayed as a stream: `mmusim replay` of a trace ten times as long peaks at the
// same host memory (ru_maxrss of the child process), so a multi-gigabyte trace fits.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

// Under AddressSanitizer the child's peak memory is the sanitizer's (its quarantine of freed
// blocks and their shadow grow with the work done), not mmusim's: the bound holds only in a
// plain build, which scripts/test runs.
#if defined(__SANITIZE_ADDRESS__)
#define MMUSIM_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MMUSIM_UNDER_ASAN 1
#endif
#endif

namespace {

namespace fs = std::filesystem;

// Writes a trace of `rounds` rounds; in each, both CPUs load or store mapped kernel data and
// compute, and every 64th round each also vmallocs, touches and vfrees a buffer of its own.
// The two CPUs do the same work, so that they go through the file at the same pace (the
// reader holds the ops a CPU running ahead in simulated time reads past: a trace whose CPUs
// drift apart needs memory for the distance, as a recording never does). With `cpu1_idle`,
// CPU 1 has no op at all (it only takes interrupts, as the CPUs of a recording that ran no
// workload do) and CPU 0 has two per round. Returns the number of ops.
std::uint64_t write_trace(const fs::path& path, std::uint64_t rounds, bool cpu1_idle = false) {
  std::FILE* out = std::fopen(path.c_str(), "w");
  EXPECT_NE(out, nullptr);
  std::fputs(
      "mmusim-trace 1\ncpus 2\nboot map 0xffffd00000000000 256K global nx\n"
      "boot map 0xffffd00000100000 256K global nx\n",
      out);
  std::uint64_t ops = 0;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    const unsigned page = static_cast<unsigned>(i % 64);
    if (cpu1_idle) {
      std::fprintf(out, "0 load 0xffffd000000%02x000\n0 compute %u\n", page, 10 + page);
      ops += 2;
      continue;
    }
    std::fprintf(out, "0 load 0xffffd000000%02x000\n1 store 0xffffd000001%02x000\n", page, page);
    std::fprintf(out, "0 compute %u\n1 compute %u\n", 10 + page, 10 + page);
    ops += 4;
    if (i % 64 == 63) {
      std::fputs(
          "0 vmalloc $b0 16384\n1 vmalloc $b1 16384\n0 touch $b0 16384 store\n"
          "1 touch $b1 16384 store\n0 vfree $b0\n1 vfree $b1\n",
          out);
      ops += 6;
    }
  }
  EXPECT_EQ(std::fclose(out), 0);
  return ops;
}

struct Replay {
  int status = -1;
  long peak_rss_kib = 0;
  std::uint64_t ops = 0;
};

// Runs `mmusim replay` in a child process and takes its peak resident set from wait4().
Replay replay(const fs::path& dir, const fs::path& trace) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (chdir(dir.c_str()) != 0) _exit(127);
    if (!std::freopen("stderr.txt", "w", stderr)) _exit(127);
    execl(MMUSIM_BINARY, MMUSIM_BINARY, "replay", trace.c_str(), "--out", "out", "--quiet",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  Replay result;
  int raw = 0;
  rusage usage{};
  EXPECT_EQ(wait4(pid, &raw, 0, &usage), pid);
  result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  result.peak_rss_kib = usage.ru_maxrss;
  if (result.status == 0) {
    std::ifstream in(dir / "out" / "stats.json");
    const auto stats = nlohmann::json::parse(in);
    result.ops = stats["sim"]["ops"].get<std::uint64_t>();
  }
  return result;
}

TEST(TraceStream, PeakMemoryDoesNotGrowWithTheTrace) {
#ifdef MMUSIM_UNDER_ASAN
  GTEST_SKIP() << "peak RSS under AddressSanitizer measures the sanitizer's quarantine";
#endif
  const fs::path dir =
      fs::path(testing::TempDir()) / ("mmusim_trace_stream_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  // The traces are large: removed whatever the outcome.
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{dir};

  constexpr std::uint64_t kRounds = 50'000;  // 205 thousand ops, 4 MB
  const fs::path trace = dir / "replayed.trace";
  const std::uint64_t short_ops = write_trace(trace, kRounds);
  const Replay small = replay(dir, trace);
  ASSERT_EQ(small.status, 0);
  EXPECT_EQ(small.ops, short_ops);

  const std::uint64_t long_ops = write_trace(trace, 10 * kRounds);
  const auto long_bytes = fs::file_size(trace);
  const Replay large = replay(dir, trace);
  ASSERT_EQ(large.status, 0);
  EXPECT_EQ(large.ops, long_ops);

  // A CPU without ops reads nothing ahead: the other CPU's ops are not held for it.
  const std::uint64_t idle_ops = write_trace(trace, 20 * kRounds, true);
  const auto idle_bytes = fs::file_size(trace);
  const Replay idle = replay(dir, trace);
  fs::remove(trace);
  ASSERT_EQ(idle.status, 0);
  EXPECT_EQ(idle.ops, idle_ops);

  std::cout << "peak RSS: " << short_ops << " ops: " << small.peak_rss_kib << " KiB; " << long_ops
            << " ops (" << long_bytes / 1024 << " KiB of trace): " << large.peak_rss_kib << " KiB; "
            << idle_ops << " ops on one of two CPUs (" << idle_bytes / 1024
            << " KiB): " << idle.peak_rss_kib << " KiB\n";
  // Ten times the ops (and bytes) cost no more than a few MiB of fluctuation; holding the long
  // trace's ops would take several times its size.
  EXPECT_LE(large.peak_rss_kib, small.peak_rss_kib + 4 * 1024);
  EXPECT_LE(idle.peak_rss_kib, small.peak_rss_kib + 4 * 1024);
  EXPECT_LT(static_cast<std::uint64_t>(large.peak_rss_kib) * 1024, long_bytes);
}

}  // namespace
