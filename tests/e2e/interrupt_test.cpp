// An interrupted mmusim: SIGINT or SIGTERM during a run or a sweep stops it cleanly. It prints
// one line saying what was not written, exits with 128 + the signal, leaves no partial or
// temporary file, and leaves the previous result (if any) as it was.
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/types.h>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A run that would go on for days: 4 CPUs making 2^40 accesses each.
constexpr const char* kEndless = R"({
  "platform": {"cpus": 4},
  "workload": {"kind": "hw_synthetic", "hw_synthetic": {"accesses_per_cpu": 1099511627776}}
})";

// The same as a sweep of three points.
constexpr const char* kEndlessSweep = R"({
  "platform": {"cpus": 4},
  "workload": {"kind": "hw_synthetic", "hw_synthetic": {"accesses_per_cpu": 1099511627776}},
  "sweep": {"run.seed": [1, 2, 3]}
})";

struct Outcome {
  int status = -1;  // the exit status; -1 when killed by a signal
  std::string err;
};

class Interrupt : public testing::Test {
 protected:
  void SetUp() override {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(testing::TempDir()) /
           ("mmusim_interrupt_" + std::string(info->name()) + "_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "endless.json") << kEndless;
    std::ofstream(dir_ / "sweep.json") << kEndlessSweep;
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // Starts mmusim in the test's folder with stdout and stderr in files.
  pid_t start(const std::vector<std::string>& args) {
    const pid_t pid = fork();
    if (pid == 0) {
      if (chdir(dir_.c_str()) != 0) _exit(127);
      if (!freopen("stdout.txt", "w", stdout) || !freopen("stderr.txt", "w", stderr)) _exit(127);
      std::vector<char*> argv;
      std::string binary = MMUSIM_BINARY;
      argv.push_back(binary.data());
      std::vector<std::string> copy = args;
      for (std::string& arg : copy)
        argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    return pid;
  }

  // Waits until `pid` catches SIGINT and SIGTERM (its handlers are installed), as
  // /proc/PID/status shows. Returns false if the process ended first.
  static bool wait_for_handlers(pid_t pid) {
    const std::uint64_t wanted =
        (std::uint64_t{1} << (SIGINT - 1)) | (std::uint64_t{1} << (SIGTERM - 1));
    for (int attempt = 0; attempt < 6000; ++attempt) {
      std::ifstream status("/proc/" + std::to_string(pid) + "/status");
      std::string line;
      while (std::getline(status, line)) {
        if (line.rfind("SigCgt:", 0) == 0) {
          const std::uint64_t caught = std::stoull(line.substr(7), nullptr, 16);
          if ((caught & wanted) == wanted) return true;
        }
        if (line.rfind("State:", 0) == 0 && line.find('Z') != std::string::npos) return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Waits until `path` holds at least `bytes` (a recording growing: the simulation runs).
  static bool wait_for_size(const fs::path& path, std::uintmax_t bytes) {
    for (int attempt = 0; attempt < 6000; ++attempt) {
      std::error_code ignored;
      if (fs::exists(path) && fs::file_size(path, ignored) >= bytes) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // The child processes of `pid` once there are `count` (or none if that never happens).
  static std::vector<pid_t> wait_for_children(pid_t pid, std::size_t count) {
    const std::string list =
        "/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children";
    for (int attempt = 0; attempt < 6000; ++attempt) {
      std::ifstream in(list);
      std::vector<pid_t> children;
      pid_t child = 0;
      while (in >> child)
        children.push_back(child);
      if (children.size() >= count) return children;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return {};
  }

  // Sends `signal` once the handlers are in place, and waits for the end.
  Outcome interrupt(pid_t pid, int signal) {
    EXPECT_TRUE(wait_for_handlers(pid));
    kill(pid, signal);
    int raw = 0;
    waitpid(pid, &raw, 0);
    Outcome outcome;
    outcome.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    outcome.err = slurp(dir_ / "stderr.txt");
    return outcome;
  }

  // Files under `folder` whose names say they are temporary or partial.
  std::vector<std::string> leftovers(const fs::path& folder) {
    std::vector<std::string> found;
    if (!fs::exists(folder)) return found;
    for (const auto& entry : fs::recursive_directory_iterator(folder)) {
      const std::string name = entry.path().filename().string();
      if (name.find(".tmp") != std::string::npos || name.rfind(".child-", 0) == 0)
        found.push_back(entry.path().string());
    }
    return found;
  }

  fs::path dir_;
};

TEST_F(Interrupt, SigintKeepsThePreviousResult) {
  // A complete earlier result in the output folder.
  fs::create_directories(dir_ / "out");
  const std::string previous_stats = "{\"an\": \"earlier result\"}\n";
  const std::string previous_config = "{\"an\": \"earlier config\"}\n";
  std::ofstream(dir_ / "out" / "stats.json") << previous_stats;
  std::ofstream(dir_ / "out" / "config.json") << previous_config;

  const Outcome outcome = interrupt(start({"run", "endless.json", "--out", "out"}), SIGINT);
  EXPECT_EQ(outcome.status, 130);
  EXPECT_EQ(outcome.err,
            "mmusim: interrupted by SIGINT; out/stats.json not written (the previous result, if "
            "any, is untouched)\n");
  EXPECT_EQ(slurp(dir_ / "out" / "stats.json"), previous_stats);
  EXPECT_EQ(slurp(dir_ / "out" / "config.json"), previous_config);
  EXPECT_FALSE(fs::exists(dir_ / "out" / "vmallocinfo.txt"));
  EXPECT_EQ(leftovers(dir_), std::vector<std::string>{});
}

TEST_F(Interrupt, SigtermLeavesNothingAndNoRecording) {
  const pid_t pid = start(
      {"run", "endless.json", "--out", "fresh", "--record", "run.trace", "--timeline", "run.json"});
  // Signalled in the middle of the simulation: once a megabyte of ops has been recorded.
  EXPECT_TRUE(wait_for_size(dir_ / "run.trace.tmp", std::uintmax_t{1} << 20));
  const Outcome outcome = interrupt(pid, SIGTERM);
  EXPECT_EQ(outcome.status, 143);
  EXPECT_EQ(outcome.err,
            "mmusim: interrupted by SIGTERM; fresh/stats.json, run.trace, run.json not written "
            "(the previous result, if any, is untouched)\n");
  EXPECT_FALSE(fs::exists(dir_ / "fresh" / "stats.json"));
  EXPECT_FALSE(fs::exists(dir_ / "fresh" / "config.json"));
  EXPECT_FALSE(fs::exists(dir_ / "run.trace"));
  EXPECT_FALSE(fs::exists(dir_ / "run.json"));
  EXPECT_EQ(leftovers(dir_), std::vector<std::string>{});
}

TEST_F(Interrupt, SweepStopsLaunchingPointsAndKeepsThePreviousResults) {
  fs::create_directories(dir_ / "s");
  const std::string previous = "point,dir\n0,p000_earlier\n";
  std::ofstream(dir_ / "s" / "results.csv") << previous;

  const pid_t pid = start({"run", "sweep.json", "--out", "s", "--jobs", "2"});
  // Two points running, each with its handlers in place (both are simulating then).
  const std::vector<pid_t> points = wait_for_children(pid, 2);
  ASSERT_EQ(points.size(), 2u);
  for (const pid_t point : points)
    EXPECT_TRUE(wait_for_handlers(point));
  // The parent alone gets the signal (as from kill(1)); it passes it on to its points.
  const Outcome outcome = interrupt(pid, SIGTERM);
  EXPECT_EQ(outcome.status, 143);
  // The sweep names its folder as an absolute path, from the working folder the kernel reports.
  const std::string out = (fs::canonical(dir_) / "s").string();
  EXPECT_EQ(outcome.err, "mmusim: interrupted by SIGTERM after 0 of 3 points; " + out +
                             "/results.csv and results.json not written (the previous results, "
                             "if any, are untouched)\n");
  EXPECT_EQ(slurp(dir_ / "s" / "results.csv"), previous);
  EXPECT_FALSE(fs::exists(dir_ / "s" / "results.json"));
  EXPECT_FALSE(fs::exists(dir_ / "s" / "failed.txt"));
  // The third point never started, and the two that ran wrote nothing.
  for (const auto& entry : fs::directory_iterator(dir_ / "s")) {
    if (entry.is_directory()) {
      EXPECT_FALSE(fs::exists(entry.path() / "stats.json")) << entry.path();
    }
  }
  EXPECT_EQ(leftovers(dir_), std::vector<std::string>{});
  // No point is left running: every child was waited for.
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
}

}  // namespace
