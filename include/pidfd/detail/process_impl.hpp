//
// pidfd/detail/process_impl.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The shared state behind a basic_process: the pidfd, its registration with
// the reactor, and the collected exit status.
//

#ifndef PIDFD_DETAIL_PROCESS_IMPL_HPP
#define PIDFD_DETAIL_PROCESS_IMPL_HPP

#include "pidfd/exit_status.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <mutex>
#include <utility>

#include <sys/types.h>

namespace pidfd::detail {

class wait4_state;

// The outcome of a wait: an error, or the status.
struct wait_result
{
  boost::system::error_code ec;
  exit_status status;
};

// One per process handle, shared (std::shared_ptr) between the handle and
// its outstanding asynchronous operations, so that an operation can finish
// safely after the handle was moved or destroyed. Every member is
// thread-safe: the io_context may run a wait's completion on one thread while
// the owner calls try_wait() or signal() on another.
class process_impl : public std::enable_shared_from_this<process_impl>
{
public:
  using descriptor_type =
      boost::asio::posix::basic_stream_descriptor<boost::asio::any_io_executor>;

  // Spawned children report ECHILD when someone else reaped them; adopted
  // processes may not be our children at all, and then report the status
  // the kernel keeps for them (PIDFD_GET_INFO), if any.
  enum class origin : unsigned char
  {
    spawned,
    adopted
  };

  // Takes ownership of pidfd.
  process_impl(const boost::asio::any_io_executor& ex, int pidfd, pid_t pid,
      origin o) noexcept;

  // The wait4 fallback (no pidfd support): the process is waited for by a
  // pool thread (see wait4_state), which makes event_fd readable when the
  // outcome is known; the reactor watches event_fd instead of a pidfd.
  process_impl(const boost::asio::any_io_executor& ex,
      std::shared_ptr<wait4_state> state, int event_fd, pid_t pid,
      origin o) noexcept;

  // A handle whose process is already gone (adopting a pid that does not
  // exist, as Go's os.FindProcess does): waits report ECHILD, signals
  // process_done.
  process_impl(const boost::asio::any_io_executor& ex, pid_t pid) noexcept;

  process_impl(const process_impl&) = delete;
  process_impl& operator=(const process_impl&) = delete;
  ~process_impl();

  pid_t pid() const noexcept { return pid_; }
  // -1 in the wait4 fallback, where fd_ is an eventfd.
  int pidfd() const noexcept { return wait4_ ? -1 : fd_; }

  // Collects the outcome if the process has finished, without blocking.
  // Returns false while it runs. Once collected, the outcome is kept and
  // returned again.
  bool try_collect(wait_result& out);

  // try_collect for a wait that began in cancel generation `generation`:
  // if the waits were cancelled since (cancel(), or the handle destroyed
  // or closed), out is operation_aborted and nothing is collected. One
  // lock for both, so a handle destroyed with kill_on_destroy cannot have
  // its killed child's status collected by the wait it aborted.
  bool try_collect(wait_result& out, std::uint64_t generation);

  // The outcome if it was collected already; no system call.
  bool collected(wait_result& out) const;

  // Blocks the calling thread until the outcome is known.
  void wait_blocking(wait_result& out);

  // Sends sig through the pidfd; process_done if the process has exited,
  // even when the kernel would still accept a signal for its zombie.
  void signal(int sig, boost::system::error_code& ec);

  // Signals the process group the child leads (kill(-pid) under the lock
  // that reaping takes, so the group id cannot have been reused).
  void signal_group(int sig, boost::system::error_code& ec);

  // Cancels the outstanding waits (they finish with operation_aborted).
  void cancel();

  // The owning handle is going away: cancels the outstanding waits. A
  // spawned child that has not been collected is killed first if
  // kill_on_destroy was set, and either way reaped in the background once
  // it exits (by a wait on the io_context, or by the pool thread in the
  // wait4 fallback), so no zombie is left; other handles just close.
  void abandon();

  // Closes the pidfd now, cancelling the outstanding waits.
  void close();

  void set_kill_on_destroy(bool kill) noexcept { kill_on_destroy_ = kill; }

  // Like close(), but hands the pidfd to the caller instead of closing it.
  int release();

  // --- used by async_wait's composed operation ---

  // Starts a readiness wait on the pidfd; handler gets an error_code. The
  // pidfd joins the reactor at the first wait, so a process nobody waits
  // for costs no epoll_ctl. The reactor is edge-triggered, but it re-arms
  // the registration (EPOLL_CTL_MOD) whenever a wait is queued on an idle
  // descriptor, so an exit that happened while nothing waited is reported
  // to the next wait at once.
  template <typename Handler>
  void arm(Handler&& handler);

  // True once close() was called.
  bool closed() const;

  // True if the pidfd (or, in the wait4 fallback, the eventfd) is readable
  // now: the process has exited (or was collected).
  bool readable() const;

  // Changes on every cancel(), so that an operation sleeping on a timer
  // (the rare ptrace case) notices a cancellation when it wakes.
  std::uint64_t cancel_generation() const;

private:
  void reap_orphan(const boost::system::error_code& ec);
  void arm_orphan_locked();
  void close_locked();
  bool collect_locked(wait_result& out);
  void finish_locked(wait_result result);
  bool arm_locked(boost::system::error_code& ec);

  mutable std::mutex mutex_;
  descriptor_type descriptor_;
  int fd_ = -1;
  pid_t pid_ = 0;
  origin origin_ = origin::spawned;
  std::shared_ptr<wait4_state> wait4_;
  bool done_ = false;
  bool closed_ = false;
  bool kill_on_destroy_ = false;
  std::uint64_t generation_ = 0;
  wait_result result_;
};

template <typename Handler>
void process_impl::arm(Handler&& handler)
{
  boost::system::error_code ec;
  {
    std::lock_guard lock(mutex_);
    if (arm_locked(ec))
    {
      descriptor_.async_wait(
          descriptor_type::wait_read, std::forward<Handler>(handler));
      return;
    }
  }
  // Already collected, closed, or refused by the reactor: complete without
  // running the handler inline; append keeps the handler's associated
  // executor, allocator and cancellation slot.
  boost::asio::post(descriptor_.get_executor(),
      boost::asio::append(std::forward<Handler>(handler), ec));
}

} // namespace pidfd::detail

#endif // PIDFD_DETAIL_PROCESS_IMPL_HPP
