//
// test/options/support.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
// Helpers shared by the options tests: the child's "report", blocking pipe
// I/O, and guards for process-wide state a test changes for its duration.
//

#ifndef PIDFD_TEST_OPTIONS_SUPPORT_HPP
#define PIDFD_TEST_OPTIONS_SUPPORT_HPP

#include "support/fixture.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace pidfd_options_test {

using pidfd_test::subreaper_guard;
using pidfd_test::unique_fd;

/// The intermediate process that runs the library (spawner.cpp); the child
/// it and the tests spawn is pidfd_test::child_program.
inline constexpr const char* spawner = PIDFD_OPTIONS_SPAWNER;

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

/// Sets (or with nullopt unsets) an environment variable of this process
/// until destroyed.
class env_guard
{
public:
  env_guard(const char* name, std::optional<std::string> value);
  env_guard(const env_guard&) = delete;
  env_guard& operator=(const env_guard&) = delete;
  ~env_guard();

private:
  std::string name_;
  std::optional<std::string> old_;
};

/// Changes this process's working directory until destroyed.
class cwd_guard
{
public:
  explicit cwd_guard(const std::string& dir);
  cwd_guard(const cwd_guard&) = delete;
  cwd_guard& operator=(const cwd_guard&) = delete;
  ~cwd_guard();

private:
  unique_fd old_;
};

/// Points one of this process's fds at another file until destroyed.
/// Nothing may report a test failure while fd 1 or 2 is redirected.
class redirect_guard
{
public:
  redirect_guard(int fd, int to);
  redirect_guard(const redirect_guard&) = delete;
  redirect_guard& operator=(const redirect_guard&) = delete;
  ~redirect_guard();

private:
  int fd_;
  unique_fd saved_;
};

} // namespace pidfd_options_test

#endif // PIDFD_TEST_OPTIONS_SUPPORT_HPP
