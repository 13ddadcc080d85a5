//
// pidfd/engine/backoff_timer.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// A timerfd for the wait's back-off (the engine's part of it).
//

#ifndef PIDFD_ENGINE_BACKOFF_TIMER_HPP
#define PIDFD_ENGINE_BACKOFF_TIMER_HPP

#include <boost/system/error_code.hpp>

#include <chrono>

namespace pidfd::detail {

// A non-blocking, close-on-exec timerfd (CLOCK_MONOTONIC) that becomes
// readable once `after` has passed; -1 with ec set if it cannot be made.
// The wait sleeps on it in the reactor, as on any other descriptor: the
// sleep is then the same Asio operation as the wait for readiness, and a
// handler type instantiates one completion path, not one more for a timer.
int open_backoff_timer(
    std::chrono::nanoseconds after, boost::system::error_code& ec) noexcept;

// Makes it readable again once `after` has passed (the expiry that made it
// readable before is forgotten).
void rearm_backoff_timer(int fd, std::chrono::nanoseconds after,
    boost::system::error_code& ec) noexcept;

// Closes one that no descriptor took.
void close_backoff_timer(int fd) noexcept;

} // namespace pidfd::detail

#endif // PIDFD_ENGINE_BACKOFF_TIMER_HPP
