//
// src/detail/proc_stat.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
//

#include "detail/proc_stat.hpp"

#include "detail/syscalls.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>

namespace pidfd::detail {
namespace {

// Reads /proc/<pid>/<file> into buf (NUL-terminated); false if it is gone.
template <std::size_t N>
bool read_proc_file(pid_t pid, const char* file, char (&buf)[N])
{
  // On the stack: the wait4 fallback reads the stat file twice per wait.
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/%s", static_cast<int>(pid), file);
  boost::system::error_code ec;
  const int fd = sys::openat(AT_FDCWD, path, O_RDONLY, ec);
  if (fd < 0)
    return false;
  const long n = sys::read(fd, buf, N - 1, ec);
  sys::close(fd);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  return true;
}

} // namespace

std::optional<long long> proc_stat_field(pid_t pid, int field)
{
  char buf[2048];
  if (!read_proc_file(pid, "stat", buf))
    return std::nullopt;
  // Field 2, the command name in parentheses, may itself hold spaces and
  // parentheses: count fields from the last ')'.
  const char* cursor = std::strrchr(buf, ')');
  if (!cursor)
    return std::nullopt;
  int current = 2;
  for (++cursor; *cursor && current < field; ++cursor)
    if (*cursor == ' ')
      ++current;
  if (current != field || !*cursor)
    return std::nullopt;
  return std::strtoll(cursor, nullptr, 10);
}

std::optional<pid_t> proc_thread_group(pid_t tid)
{
  // Tgid is the fourth line, well inside the first KiB.
  char buf[1024];
  if (!read_proc_file(tid, "status", buf))
    return std::nullopt;
  const char* line = std::strstr(buf, "\nTgid:");
  if (!line)
    return std::nullopt;
  return static_cast<pid_t>(std::strtol(line + 6, nullptr, 10));
}

} // namespace pidfd::detail
