//
// test/support/child.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// What the helper child (test/support/child.cpp) and the programs that
// spawn it agree on: its path, the exit codes with which it reports its own
// failures, and the bytes its "flood" mode writes. A program that spawns it
// links the CMake target pidfd_test_child_path.
//

#ifndef PIDFD_TEST_SUPPORT_CHILD_HPP
#define PIDFD_TEST_SUPPORT_CHILD_HPP

#include <cstddef>

namespace pidfd_test {

/// The helper child program: argv[1] names its mode; "--help" lists them.
/// Defined in child_path.cpp, the one translation unit that is compiled
/// with the build tree's path, so that the others do not depend on where
/// the tree is (a compiler cache then serves a clone in another folder).
extern const char* const child_program;

/// No mode, or the wrong operands for one (the mode's synopsis goes to
/// stderr).
inline constexpr int child_usage_error = 100;

/// A system call the child needed failed (it reports nothing else).
inline constexpr int child_io_error = 101;

/// "signal-self" survived the signal it raised.
inline constexpr int child_still_alive = 102;

/// argv[1] names no mode (the name goes to stderr).
inline constexpr int child_unknown_mode = 103;

/// Byte i of what "flood" writes to stream s (0: stdout, 1: stderr): a
/// pattern that differs between the streams, and that a lost, repeated or
/// swapped 64 KiB chunk breaks.
inline char flood_pattern(std::size_t i, int s)
{
  const std::size_t v = i * 7 + i / 65536 + static_cast<std::size_t>(s);
  return static_cast<char>('a' + v % 26);
}

} // namespace pidfd_test

#endif // PIDFD_TEST_SUPPORT_CHILD_HPP
