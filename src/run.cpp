//
// src/run.cpp
// ~~~~~~~~~~~
//

#include "pidfd/engine/run_support.hpp"

#include "detail/syscalls.hpp"

#include <cerrno>
#include <string>

namespace pidfd::detail {

captured_fds::~captured_fds()
{
  for (int fd : fds_)
    sys::close(fd);
}

int captured_fds::copy(int fd, spawn_error_info::part part, int child_fd,
    const char* name, const char* fd_words)
{
  boost::system::error_code dup_ec;
  const int dup = fd < 0 ? -1 : sys::dup_cloexec(fd, dup_ec);
  if (dup < 0)
  {
    if (!ec)
    {
      // The words spawn itself would use (fd_setup.cpp), had the fd not
      // been copied first.
      ec = fd < 0 ? sys::last_error(EBADF) : dup_ec;
      info.failed = part;
      info.child_fd = child_fd;
      info.detail = std::string(name) + ": " + fd_words + std::to_string(fd)
          + (ec.value() == EBADF ? " is not open" : ": F_DUPFD_CLOEXEC");
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
      return sys::last_error(static_cast<int>(-n));
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

boost::system::error_code make_non_blocking(int fd) noexcept
{
  boost::system::error_code ec;
  sys::set_non_blocking(fd, ec);
  return ec;
}

int duplicate_fd(int fd, boost::system::error_code& ec) noexcept
{
  return sys::dup_cloexec(fd, ec);
}

void close_fd(int fd) noexcept
{
  sys::close(fd);
}

} // namespace pidfd::detail
