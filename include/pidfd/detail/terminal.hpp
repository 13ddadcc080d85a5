//
// pidfd/detail/terminal.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// The engine's side of basic_pty: what is done to a pty master beyond
// reading and writing. No Asio here: pty.hpp binds it to an executor.
//

#ifndef PIDFD_DETAIL_TERMINAL_HPP
#define PIDFD_DETAIL_TERMINAL_HPP

#include <boost/system/error_code.hpp>

namespace pidfd::detail {

// TIOCSWINSZ on the master; error::invalid_window_size for 0 rows or
// cols, before any system call.
void resize_terminal(int master, unsigned short rows, unsigned short cols,
    boost::system::error_code& ec) noexcept;

} // namespace pidfd::detail

#endif // PIDFD_DETAIL_TERMINAL_HPP
