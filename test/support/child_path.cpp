//
// test/support/child_path.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The helper child's path in the build tree. Alone in its translation unit:
// every other test file is then compiled without an absolute path on its
// command line, and a compiler cache keyed on it serves a clone of the
// repository in another folder.
//

#include "support/child.hpp"

namespace pidfd_test {

const char* const child_program = PIDFD_TEST_CHILD;

} // namespace pidfd_test
