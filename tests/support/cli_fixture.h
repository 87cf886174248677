// How the end-to-end tests run the mmusim binary: a fresh working folder per test, named after
// the test and this process (two build trees running ctest at once never share one), command
// lines run in it with their output captured, and files written into it. MMUSIM_BINARY is the
// binary's path, defined by the test's CMake target.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace mmusim::test_support {

struct Outcome {
  int status = -1;  // the exit status; -1 when killed by a signal
  std::string out;
  std::string err;
};

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class CliFixture : public testing::Test {
 protected:
  // `prefix` names the suite's folders: TMPDIR/PREFIX_TEST_PID.
  explicit CliFixture(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(testing::TempDir()) /
           (prefix_ + "_" + info->name() + "_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  // A failed test's folder stays, for a look at what it wrote.
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  // Runs a shell command line in the test's folder.
  Outcome shell(const std::string& line) {
    const std::filesystem::path out = dir_ / "stdout.txt";
    const std::filesystem::path err = dir_ / "stderr.txt";
    const std::string command = "cd '" + dir_.string() + "' && " + line + " >'" + out.string() +
                                "' 2>'" + err.string() + "'";
    const int raw = std::system(command.c_str());
    Outcome outcome;
    outcome.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    outcome.out = slurp(out);
    outcome.err = slurp(err);
    return outcome;
  }

  Outcome mmusim(const std::string& args) {
    return shell("'" + std::string(MMUSIM_BINARY) + "' " + args);
  }

  std::filesystem::path write(const std::string& name, const std::string& text) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path) << text;
    return path;
  }

  std::filesystem::path dir_;

 private:
  std::string prefix_;
};

}  // namespace mmusim::test_support
