//
// src/terminal.cpp
// ~~~~~~~~~~~~~~~~
// The pty master's controls (the engine's part of basic_pty).
//

#include "pidfd/detail/terminal.hpp"

#include "pidfd/error.hpp"

#include "detail/syscalls.hpp"

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

} // namespace pidfd::detail
