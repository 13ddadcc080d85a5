//
// src/run.cpp
// ~~~~~~~~~~~
//

#include "pidfd/detail/run_support.hpp"

#include "detail/syscalls.hpp"

#include <cerrno>

#include <fcntl.h>
#include <unistd.h>

namespace pidfd::detail {

captured_fds::~captured_fds()
{
  for (int fd : fds_)
    ::close(fd);
}

int captured_fds::copy(int fd)
{
  const int dup = fd < 0 ? -1 : ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0)
  {
    if (!ec)
      ec.assign(fd < 0 ? EBADF : errno, boost::system::system_category());
    return fd;
  }
  fds_.push_back(dup);
  return dup;
}

void captured_fds::capture(spawn_options& options, bool stdin_replaced)
{
  if (!stdin_replaced && options.in.type() == stdio::kind::parent_fd)
    options.in = stdio::fd(copy(options.in.parent_fd()));
  for (fd_mapping& m : options.inherited_fds)
    m.parent_fd = copy(m.parent_fd);
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
