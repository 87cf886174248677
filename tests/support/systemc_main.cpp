// main() for test programs that use SystemC: the SystemC library calls sc_main(), which runs
// the GoogleTest suite. Each test runs in its own process under ctest (gtest_discover_tests),
// because a SystemC kernel elaborates only once.
#include <cstdlib>

#include <gtest/gtest.h>
#include <systemc>

int sc_main(int argc, char* argv[]) {
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

int main(int argc, char* argv[]) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
  return sc_core::sc_elab_and_sim(argc, argv);
}
