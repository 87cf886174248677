// The harnesses that link mmusim::sim never start SystemC, but its library calls sc_main()
// from its own main() and needs one to link. The harness's main (libFuzzer's or
// replay_main.cpp's) runs instead; this one is never called.
extern "C" int sc_main(int /*argc*/, char* /*argv*/[]) {
  return 1;
}
