//
// test/reliability/paths.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// The helper program's path in the build tree, alone in a translation unit
// (test/support/child_path.cpp says why). Declared in reliability.hpp.
//

namespace pidfd_rel {

extern const char* const limits_helper;
const char* const limits_helper = PIDFD_REL_LIMITS_HELPER;

} // namespace pidfd_rel
