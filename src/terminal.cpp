//
// src/terminal.cpp
// ~~~~~~~~~~~~~~~~
// The pty master's controls (the engine's part of basic_pty).
//

#include "pidfd/engine/terminal.hpp"

#include "pidfd/error.hpp"

#include "detail/syscalls.hpp"

#include <cerrno>

#include <poll.h>

namespace pidfd::detail {

void resize_terminal(int master, unsigned short rows, unsigned short cols,
    boost::system::error_code& ec) noexcept
{
  // The kernel would take 0, but programs divide by the size (stty,
  // curses), and a caller's 0 is more likely a bug than a wish.
  if (rows == 0 || cols == 0)
  {
    ec = error::invalid_window_size;
    return;
  }
  sys::set_window_size(master, rows, cols, ec);
}

std::size_t write_terminal(int master, const iovec* iov, std::size_t count,
    bool wait, boost::system::error_code& ec) noexcept
{
  // poll ignores a negative fd, and would block for ever.
  if (master < 0)
  {
    ec.assign(EBADF, boost::system::system_category());
    return 0;
  }
  for (;;)
  {
    // The master stays writable after the last holder of the terminal
    // side has closed it (the master's own reference keeps it open),
    // but polls POLLHUP from then on (TTY_OTHER_CLOSED). That is a
    // state, not an event: a process that opens the terminal side again
    // by its name clears it, and writes work again. A master's write
    // itself never raises SIGPIPE.
    const short revents = sys::poll_one(master, POLLOUT, wait ? -1 : 0, ec);
    if (ec)
      return 0;
    if (revents & POLLHUP)
    {
      ec.assign(EPIPE, boost::system::system_category());
      return 0;
    }
    // Nothing polled (only without `wait`): no room. POLLERR or POLLNVAL:
    // the write reports the error.
    if (!(revents & (POLLOUT | POLLERR | POLLNVAL)))
    {
      ec.assign(EAGAIN, boost::system::system_category());
      return 0;
    }
    // Blocking, a write of more than the room would sleep for the rest.
    const long n = sys::writev_non_blocking(master, iov, count, ec);
    if (n >= 0)
      return static_cast<std::size_t>(n);
    // The room can go between poll and writev (output stopped by
    // tcflow): wait again.
    if (!wait || ec.value() != EAGAIN)
      return 0;
  }
}

} // namespace pidfd::detail
