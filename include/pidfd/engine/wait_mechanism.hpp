//
// pidfd/engine/wait_mechanism.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The one internal interface between a process state and the way its end
// is learnt. Each mechanism is one file of the compiled engine:
//   src/detail/pidfd_mechanism.cpp  a pidfd: readiness, waitid(P_PIDFD),
//                                   pidfd_send_signal (Linux 5.4+; the
//                                   process group from Linux 6.9)
//   src/detail/uring_mechanism.cpp  a pidfd as above, whose readability is
//                                   polled for on the execution context's
//                                   io_uring (wait_ring.hpp) rather than
//                                   in the reactor; or, for a status
//                                   wanted without the rusage, a waitid in
//                                   that ring, which reaps the child
//                                   (process_state::ring_reaped())
//   src/detail/wait4_mechanism.cpp  the wait4 fallback: a library thread
//                                   blocks in waitid(P_PID) and makes an
//                                   eventfd readable
// The probe chooses one for the whole program (chosen_mechanism(), in
// src/kernel_support.cpp), and every process state is made through it, so
// the process state and the launcher know no mechanism by name. Each way
// the binding waits for one fd to become readable: the process's own, in
// the reactor, or (waits_on_ring()) the context's ring, whose completions
// name the process.
//

#ifndef PIDFD_ENGINE_WAIT_MECHANISM_HPP
#define PIDFD_ENGINE_WAIT_MECHANISM_HPP

#include "pidfd/exit_status.hpp"

#include <boost/system/error_code.hpp>

#include <memory>

#include <sys/types.h>

namespace pidfd::detail {

// The outcome of a wait: an error, or the status.
struct wait_result
{
  boost::system::error_code ec;
  exit_status status;
};

// Spawned children report ECHILD when someone else reaped them; adopted
// processes may not be our children at all, and then report the status the
// kernel keeps for them, if any.
enum class process_origin : unsigned char
{
  spawned,
  adopted,
  // Spawned with CLONE_AUTOREAP (Linux 7.1, spawn_options::die_with_owner):
  // ours, but the kernel reaps it, so its status comes as for an adopted
  // non-child, and nobody needs to reap it when it is abandoned.
  autoreaped
};

// What a mechanism keeps for one process beyond its fd and PID, when it
// needs more (the wait4 fallback: the state its pool thread shares). Only
// the mechanism that made it knows its type.
class mechanism_data
{
public:
  virtual ~mechanism_data() = default;
};

// What a mechanism knows of one process; it lives in the process state.
struct wait_target
{
  int fd = -1; // the readiness fd: the pidfd, or the pool's eventfd
  pid_t pid = 0;
  process_origin origin = process_origin::spawned;
  // The status is wanted with the resource usage (spawn_options::
  // resource_usage); false: the collect step leaves out what a mechanism
  // collected, and the io_uring mechanism's ring may reap the child.
  bool usage = true;
  std::shared_ptr<mechanism_data> data{}; // the mechanism's own, if any
};

// Stateless: one instance per mechanism; each process's state is in its
// wait_target. Every call but watch() and start_waiting() is made with the
// process state's mutex held, which is what makes signals race-free
// against reaping.
class wait_mechanism
{
public:
  // Starts watching `pid`: a child just spawned, with the pidfd clone3
  // gave it (owned by the target from then on), or -1 if it has none (the
  // clone() path, or an adoption by PID); or an adopted process's pidfd.
  // ec = no_such_process: the process does not exist (any more);
  // invalid_argument: `pid` is a thread, not a process. On failure the
  // caller keeps the pidfd.
  virtual wait_target watch(pid_t pid, int pidfd, process_origin origin,
      boost::system::error_code& ec) const = 0;

  // The system call watch() makes for a child spawned without a pidfd,
  // for the error's detail when it fails.
  virtual const char* watch_call() const noexcept = 0;

  // Makes the readiness fd report the end; once per wait. The default
  // does nothing: a pidfd becomes readable by itself.
  virtual void start_waiting(wait_target&, boost::system::error_code& ec) const
  {
    ec.clear();
  }

  // Collects the outcome without blocking; false while it runs.
  virtual bool collect(wait_target& t, wait_result& out) const = 0;

  // Sends sig to the (unreaped, unexited) process or its process group.
  virtual void signal(
      wait_target& t, int sig, boost::system::error_code& ec) const = 0;
  virtual void signal_group(
      wait_target& t, int sig, boost::system::error_code& ec) const = 0;

  // True if the end is known or near: the readiness fd is readable.
  virtual bool readable(const wait_target& t) const = 0;

  // The fd is about to be closed or handed out: stop using it. The
  // default does nothing: only the kernel uses a pidfd.
  virtual void detach(wait_target&) const noexcept {}

  // The target's pidfd, for release() and native_handle(); -1 if it
  // holds none (the wait4 fallback's eventfd is not one).
  virtual int pidfd(const wait_target& t) const noexcept = 0;

  // A blocking wait collects once before it first waits for the readiness
  // fd when that fd might never become readable: the wait4 pool waits on
  // a PID, which, once reaped elsewhere, may name another running child.
  virtual bool collect_before_blocking() const noexcept = 0;

  // True if the binding learns of the readiness fd's readability from its
  // execution context's wait_ring rather than from the reactor.
  virtual bool waits_on_ring() const noexcept { return false; }

  // The status of a child the context's wait_ring reaped (IORING_OP_WAITID
  // reports waitid's siginfo, without the rusage): as collect() would
  // have it otherwise.
  virtual exit_status reaped_status(
      const wait_target&, int /*code*/, int /*status*/) const
  {
    return {};
  }

  // A spawned child nobody waits for any more, still running: true if the
  // mechanism sees it reaped by itself (the wait4 pool's thread does),
  // false if the owner must still wait for it.
  virtual bool reaps_abandoned(wait_target& t) const = 0;

protected:
  ~wait_mechanism() = default;
};

// The mechanism this program uses, chosen once from the probe
// (kernel_support()).
const wait_mechanism& chosen_mechanism();

// The mechanisms, for chosen_mechanism(); and the pidfd one for a pidfd
// a caller hands over, whatever was chosen.
const wait_mechanism& pidfd_mechanism() noexcept;
const wait_mechanism& wait4_mechanism() noexcept;
const wait_mechanism& uring_mechanism() noexcept;

} // namespace pidfd::detail

#endif // PIDFD_ENGINE_WAIT_MECHANISM_HPP
