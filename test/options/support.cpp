//
// test/options/support.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
//

#include "options/support.hpp"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pidfd_options_test {

const char* const spawner = PIDFD_OPTIONS_SPAWNER;

namespace {

[[noreturn]] void throw_errno(const char* what)
{
  throw std::system_error(errno, std::generic_category(), what);
}

} // namespace

std::string report::operator[](const std::string& key) const
{
  auto it = values.find(key);
  return it == values.end() ? "<missing " + key + ">" : it->second;
}

report read_report(const std::string& path)
{
  report r;
  for (const std::string& line : pidfd_test::read_lines(path))
  {
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos)
      throw std::runtime_error("bad report line: " + line);
    std::string key = line.substr(0, eq);
    std::string value = line.substr(eq + 1);
    if (key == "env")
      r.env.push_back(std::move(value));
    else
      r.values[std::move(key)] = std::move(value);
  }
  return r;
}

std::string describe(int fd)
{
  const int flags = ::fcntl(fd, F_GETFL);
  struct stat st
  {
  };
  if (flags == -1 || ::fstat(fd, &st) != 0)
    return "closed";
  const int mode = flags & O_ACCMODE;
  const char* access = mode == O_RDONLY ? "r" : mode == O_WRONLY ? "w" : "rw";
  return pidfd_test::describe_fd(fd) + "|" + access + "|"
      + ((flags & O_APPEND) ? "1" : "0") + "|" + std::to_string(st.st_dev) + ":"
      + std::to_string(st.st_ino);
}

pipe_fds make_pipe(bool cloexec)
{
  int fds[2];
  if (::pipe2(fds, cloexec ? O_CLOEXEC : 0) != 0)
    throw_errno("pipe2");
  return {unique_fd(fds[0]), unique_fd(fds[1])};
}

void write_all(int fd, std::string_view text)
{
  while (!text.empty())
  {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      throw_errno("write");
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string read_to_eof(int fd)
{
  std::string text;
  char buf[65536];
  for (;;)
  {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw_errno("read");
    if (n == 0)
      return text;
    text.append(buf, static_cast<std::size_t>(n));
  }
}

std::string read_line(int fd)
{
  std::string line;
  for (;;)
  {
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw_errno("read");
    if (n == 0 || c == '\n')
      return line;
    line.push_back(c);
  }
}

unique_fd open_file(const std::string& path, int flags, bool cloexec)
{
  int fd = ::open(path.c_str(), flags | (cloexec ? O_CLOEXEC : 0), 0644);
  if (fd < 0)
    throw_errno("open");
  return unique_fd(fd);
}

std::string canonical(const std::string& path)
{
  return std::filesystem::canonical(path).string();
}

} // namespace pidfd_options_test
