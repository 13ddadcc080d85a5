//
// test/support/tsan_signal_context.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Compiled into every test and example program of a ThreadSanitizer build
// (CMakeLists.txt adds it through pidfd_warnings), and into nothing else.
//
// The ThreadSanitizer runtime of Debian bookworm's clang 14 defers a
// signal that arrives outside a blocking call, and records it in a
// per-thread context that it allocates at the thread's first blocking
// call. That allocation is not guarded against the signal handler: a
// signal arriving while it runs is recorded in a second context that the
// first then replaces, and the program never sees the signal. The
// supervisor example, signalled right after its start, lost its SIGHUP or
// SIGTERM that way in 7 of 337 runs under clang-tsan (strace: a
// 73,728-byte mmap, the signal, the same mmap inside the handler, and no
// write to Asio's signal pipe after it); in none of 150 with this file. A
// later runtime allocates the context with a compare-and-swap.
//
// One blocking call before main() allocates the main thread's context
// before anyone can signal the program.
//

#include <poll.h>

namespace pidfd_tsan_startup {
namespace {

__attribute__((constructor)) void allocate_signal_context()
{
  ::poll(nullptr, 0, 0);
}

} // namespace
} // namespace pidfd_tsan_startup
