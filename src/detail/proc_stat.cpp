//
// src/detail/proc_stat.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
//

#include "detail/proc_stat.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <unistd.h>

namespace pidfd::detail {

std::optional<long long> proc_stat_field(pid_t pid, int field)
{
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  char buf[2048];
  ssize_t n;
  do
    n = ::read(fd, buf, sizeof buf - 1);
  while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0)
    return std::nullopt;
  buf[n] = '\0';
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

} // namespace pidfd::detail
