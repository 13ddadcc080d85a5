//
// pidfd/engine/terminal.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// The engine's side of basic_pty: what is done to a pty master beyond
// reading and writing. No Asio here: pty.hpp binds it to an executor.
//

#ifndef PIDFD_ENGINE_TERMINAL_HPP
#define PIDFD_ENGINE_TERMINAL_HPP

#include <boost/system/error_code.hpp>

#include <cstddef>

#include <sys/uio.h>

namespace pidfd::detail {

// TIOCSWINSZ on the master; error::invalid_window_size for 0 rows or
// cols, before any system call.
void resize_terminal(int master, unsigned short rows, unsigned short cols,
    boost::system::error_code& ec) noexcept;

// writev of terminal input to the master that never sleeps in the write
// itself, whether the master is blocking or not (its reads keep their
// mode): a blocking write of more than the room would sleep for the rest.
// EPIPE once the terminal side is closed, before anything is written
// (Linux would take the input into a buffer nobody reads, and block once
// it is full). Without `wait`, EAGAIN if the master has no room; with it,
// blocks until the master has room or the terminal side is closed.
std::size_t write_terminal(int master, const iovec* iov, std::size_t count,
    bool wait, boost::system::error_code& ec) noexcept;

} // namespace pidfd::detail

#endif // PIDFD_ENGINE_TERMINAL_HPP
