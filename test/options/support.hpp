//
// test/options/support.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
// Helpers shared by the options tests: the child's "report", blocking pipe
// I/O; the guards of process-wide state come from test/support.
//

#ifndef PIDFD_TEST_OPTIONS_SUPPORT_HPP
#define PIDFD_TEST_OPTIONS_SUPPORT_HPP

#include "support/fixture.hpp"
#include "support/guards.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace pidfd_options_test {

using pidfd_test::cwd_guard;
using pidfd_test::env_guard;
using pidfd_test::redirect_guard;
using pidfd_test::subreaper_guard;
using pidfd_test::unique_fd;

/// The intermediate process that runs the library (spawner.cpp); the child
/// it and the tests spawn is pidfd_test::child_program.
/// Defined in support.cpp, the one file compiled with its path.
extern const char* const spawner;

/// What "child report PATH" wrote.
struct report
{
  std::map<std::string, std::string> values;
  std::vector<std::string> env; // in the child's order

  /// The value of a key, or "<missing KEY>".
  std::string operator[](const std::string& key) const;
};

report read_report(const std::string& path);

/// As the child describes an fd: "<link>|<r|w|rw>|<append>|<dev>:<ino>",
/// or "closed".
std::string describe(int fd);

/// A pipe; both ends close-on-exec unless asked otherwise.
struct pipe_fds
{
  unique_fd read;
  unique_fd write;
};
pipe_fds make_pipe(bool cloexec = true);

/// Blocking I/O on a plain fd.
void write_all(int fd, std::string_view text);
std::string read_to_eof(int fd);
/// Reads up to and including the next '\n' (without it in the result).
std::string read_line(int fd);

/// Opens a file (close-on-exec unless asked otherwise); throws on failure.
unique_fd open_file(const std::string& path, int flags, bool cloexec = true);

/// The canonical form of a path.
std::string canonical(const std::string& path);

} // namespace pidfd_options_test

#endif // PIDFD_TEST_OPTIONS_SUPPORT_HPP
