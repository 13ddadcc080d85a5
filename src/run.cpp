//
// src/run.cpp
// ~~~~~~~~~~~
//

#include "pidfd/detail/run_support.hpp"

#include "detail/syscalls.hpp"

#include <cerrno>
#include <string>

#include <fcntl.h>
#include <unistd.h>

namespace pidfd::detail {

captured_fds::~captured_fds()
{
  for (int fd : fds_)
    ::close(fd);
}

int captured_fds::copy(int fd, spawn_error_info::part part, int child_fd,
    const char* name, const char* fd_words)
{
  const int dup = fd < 0 ? -1 : ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0)
  {
    if (!ec)
    {
      // The words spawn itself would use (fd_setup.cpp), had the fd not
      // been copied first.
      const int error = fd < 0 ? EBADF : errno;
      ec.assign(error, boost::system::system_category());
      info.failed = part;
      info.child_fd = child_fd;
      info.detail = std::string(name) + ": " + fd_words + std::to_string(fd)
          + (error == EBADF ? " is not open" : ": F_DUPFD_CLOEXEC");
    }
    return fd;
  }
  fds_.push_back(dup);
  return dup;
}

void captured_fds::capture(spawn_options& options)
{
  stdio* streams[] = {&options.in, &options.out, &options.err};
  const char* names[] = {"stdin", "stdout", "stderr"};
  for (int fd = 0; fd < 3; ++fd)
    if (streams[fd]->type() == stdio::kind::parent_fd)
      *streams[fd] = stdio::fd(copy(streams[fd]->parent_fd(),
          spawn_error_info::part::stdio, fd, names[fd], "fd "));
  for (fd_mapping& m : options.inherited_fds)
  {
    const std::string name = "inherited fd " + std::to_string(m.child_fd);
    m.parent_fd = copy(m.parent_fd, spawn_error_info::part::inherited_fd,
        m.child_fd, name.c_str(), "parent fd ");
  }
}

boost::system::error_code write_no_sigpipe(
    int fd, const char*& data, std::size_t& size)
{
  while (size > 0)
  {
    long n = sys::write_no_sigpipe(fd, data, size);
    if (n < 0)
    {
      if (n == -EAGAIN)
        return {EAGAIN, boost::system::system_category()}; // would_block
      // EPIPE: the child closed its stdin; what it did not read is its
      // choice, not an error of the run.
      return {static_cast<int>(-n), boost::system::system_category()};
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

} // namespace pidfd::detail
