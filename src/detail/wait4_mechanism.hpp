//
// src/detail/wait4_mechanism.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The wait4 mechanism: for kernels (or seccomp policies) without
// pidfd_open, waitid(P_PIDFD) or pidfd_send_signal.
//

#ifndef PIDFD_SRC_DETAIL_WAIT4_MECHANISM_HPP
#define PIDFD_SRC_DETAIL_WAIT4_MECHANISM_HPP

#include "pidfd/engine/wait_mechanism.hpp"

#include <boost/system/error_code.hpp>

#include <memory>
#include <mutex>

#include <sys/types.h>

namespace pidfd::detail {

// Without a pidfd, a PID is only safe to signal while its process is
// unreaped. So the status is collected in two steps, as in Go's pidWait
// (blockUntilWaitable + sigMu): a pool thread blocks in waitid(P_PID,
// WEXITED | WNOWAIT), which leaves the zombie (and its PID) in place; then,
// under the mutex that signal() also holds, the process is marked done and
// reaped with wait4(WNOHANG), which collects its rusage. signal() checks
// under that mutex that the process has not exited before kill(pid), so a
// signal can never reach a recycled PID.
//
// Only a reaper elsewhere in the program (waitpid(-1)) defeats this: the
// PID is then free while we still hold it. The process's start time, read
// from /proc when the state is created, is compared before each kill and
// reap, so a process that got the PID later is neither signalled nor
// reaped; only a reuse within the same clock tick (10 ms) could pass, which
// needs the PID space to wrap in that time. With pidfds no such gap exists.
//
// Completion is announced on an eventfd that becomes readable for good, so
// the io_context waits for it exactly as for a pidfd. The pool thread holds
// this object, never the process state (whose binding's Asio objects must
// die with the io_context), and writing to an eventfd needs no io_context
// at all: a pool thread can finish after the io_context is gone without
// touching it.
//
// The eventfd belongs to the process state, which closes it with its handle:
// the pool thread writes to it only under the mutex and only while it is
// attached, so the number is never written to after it is closed (when it
// may name another file), and no fd outlives the handle on a pool thread.
class wait4_state final : public mechanism_data,
                          public std::enable_shared_from_this<wait4_state>
{
public:
  wait4_state(pid_t pid, process_origin o) noexcept;
  wait4_state(const wait4_state&) = delete;
  wait4_state& operator=(const wait4_state&) = delete;

  // The eventfd to make readable once the process is collected (at once if
  // it already is). The caller keeps owning it.
  void attach_event_fd(int fd);

  // Forgets the eventfd; the caller closes it afterwards.
  void detach_event_fd();

  // Collects the outcome without blocking; false while the process runs.
  bool collect(wait_result& out);

  // kill(pid, sig), unless the process has exited: then process_done.
  void signal(int sig, boost::system::error_code& ec);

  // kill(-pid, sig) unless the child was collected or reaped elsewhere
  // (reaping takes the same mutex, so the group id is still the child's).
  void signal_group(int sig, boost::system::error_code& ec);

  // Hands the blocking wait to the pool, once.
  void start_waiting(boost::system::error_code& ec);

private:
  bool collect_locked(wait_result& out);
  bool same_process() const;
  void blocking_wait();
  void notify_locked();

  std::mutex mutex_;
  const pid_t pid_;
  const process_origin origin_;
  int event_fd_ = -1;
  const long long start_time_; // 0 if unknown
  bool waiting_ = false;
  bool done_ = false;
  wait_result result_;
};

} // namespace pidfd::detail

#endif // PIDFD_SRC_DETAIL_WAIT4_MECHANISM_HPP
