//
// src/backoff_timer.cpp
// ~~~~~~~~~~~~~~~~~~~~~
// A timerfd for the wait's back-off.
//

#include "pidfd/engine/backoff_timer.hpp"

#include "detail/syscalls.hpp"

#include <algorithm>

namespace pidfd::detail {

int open_backoff_timer(
    std::chrono::nanoseconds after, boost::system::error_code& ec) noexcept
{
  const int fd = sys::timerfd_open(ec);
  if (fd < 0)
    return -1;
  rearm_backoff_timer(fd, after, ec);
  if (ec)
  {
    sys::close(fd);
    return -1;
  }
  return fd;
}

void rearm_backoff_timer(int fd, std::chrono::nanoseconds after,
    boost::system::error_code& ec) noexcept
{
  // A zero expiry would disarm the timer: at least one nanosecond.
  sys::timerfd_arm(fd, std::max(after, std::chrono::nanoseconds(1)), ec);
}

void close_backoff_timer(int fd) noexcept
{
  sys::close(fd);
}

} // namespace pidfd::detail
