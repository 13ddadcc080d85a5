//
// benchmarks/paths.cpp
// ~~~~~~~~~~~~~~~~~~~~
// The benchmark's helper programs in the build tree, alone in a translation
// unit: the other files are then compiled without an absolute path on their
// command line, and a compiler cache serves a clone in another folder.
//

namespace bench {

extern const char* const child_program;
extern const char* const counter_program;
const char* const child_program = PIDFD_BENCH_CHILD;
const char* const counter_program = PIDFD_BENCH_COUNTER;

} // namespace bench
