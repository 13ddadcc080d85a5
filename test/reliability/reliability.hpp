//
// test/reliability/reliability.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Helpers shared by the reliability tests (on top of test/support).
//

#ifndef PIDFD_TEST_RELIABILITY_RELIABILITY_HPP
#define PIDFD_TEST_RELIABILITY_RELIABILITY_HPP

#include "pidfd/exit_status.hpp"
#include "pidfd/impl/process_io.hpp"
#include "pidfd/kernel_support.hpp"
#include "support/fixture.hpp"
#include "support/guards.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <set>
#include <thread>

#include <poll.h>

namespace pidfd_rel {

/// test/reliability/limits_helper.cpp: RLIMIT_NPROC scenarios. Defined in
/// paths.cpp, the one file compiled with the build tree's path.
extern const char* const limits_helper;

/// True when the library runs the wait4 fallback (forced or probed).
inline bool fallback()
{
  return !pidfd::kernel_support().pidfd;
}

/// An upper bound for things that happen "at once" on another thread of
/// the library; only reached when the library is broken, so it is
/// generous and never a timing assertion.
inline constexpr std::chrono::seconds liveness_bound{10};

/// Blocks until the process the pidfd refers to has been reaped, by
/// anyone: a zombie still accepts signal 0, a reaped process does not.
/// The library's fallback reaps on a pool thread, which tells no one, so
/// this waits for the exit (poll) and then yields until the reap. False if
/// that did not happen within liveness_bound.
inline bool wait_reaped(int pidfd)
{
  pollfd p{pidfd, POLLIN, 0};
  while (::poll(&p, 1, -1) < 0 && errno == EINTR)
  {
  }
  const auto deadline = std::chrono::steady_clock::now() + liveness_bound;
  while (pidfd_test::pidfd_send_signal(pidfd, 0) == 0)
  {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::yield();
  }
  return errno == ESRCH;
}

/// This process's open fds once they are `expected` again, or as they are
/// after liveness_bound: for a child reaped by a library thread, which
/// closes its pidfd just after the reap that wait_reaped() sees.
inline std::set<int> open_fds_settled(const std::set<int>& expected)
{
  const auto deadline = std::chrono::steady_clock::now() + liveness_bound;
  std::set<int> now = pidfd_test::open_fds();
  while (now != expected && std::chrono::steady_clock::now() < deadline)
  {
    std::this_thread::yield();
    now = pidfd_test::open_fds();
  }
  return now;
}

/// This process's open fds, once ctx's reactor exists: it opens its own
/// fds (epoll, eventfd, timerfd) on first use; and so does the library's
/// service of ctx (the io_uring mechanism's ring: one per io_context).
inline std::set<int> open_fds_with_reactor(boost::asio::io_context& ctx)
{
  boost::asio::steady_timer timer(ctx);
  boost::asio::use_service<pidfd::detail::process_service>(ctx);
  return pidfd_test::open_fds();
}

using pidfd_test::disposition_guard;
using pidfd_test::subreaper_guard;

/// A wait's outcome, recorded by its handler.
using outcome = pidfd_test::wait_outcome;

} // namespace pidfd_rel

#endif // PIDFD_TEST_RELIABILITY_RELIABILITY_HPP
