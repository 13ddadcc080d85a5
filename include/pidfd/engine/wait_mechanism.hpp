//
// pidfd/engine/wait_mechanism.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The one internal interface between a process state and the way its end
// is learnt. Each mechanism is one file of the compiled engine:
//   src/detail/pidfd_mechanism.cpp  a pidfd: readiness, waitid(P_PIDFD),
//                                   pidfd_send_signal (Linux 5.4+; the
//                                   process group from Linux 6.9)
//   src/detail/wait4_mechanism.cpp  the wait4 pool: a library thread
//                                   blocks in waitid(P_PID) and makes an
//                                   eventfd readable
// Chosen once per process, from the probe (kernel_support()). Either way
// the binding waits for one fd to become readable, so the Asio side is the
// same for both; a third mechanism (io_uring's IORING_OP_WAITID, Linux
// 6.7) would be a third file.
//

#ifndef PIDFD_ENGINE_WAIT_MECHANISM_HPP
#define PIDFD_ENGINE_WAIT_MECHANISM_HPP

#include "pidfd/exit_status.hpp"

#include <boost/system/error_code.hpp>

#include <memory>

#include <sys/types.h>

namespace pidfd::detail {

class wait4_state;

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
  adopted
};

// What a mechanism knows of one process; it lives in the process state.
struct wait_target
{
  int fd = -1; // the readiness fd: the pidfd, or the pool's eventfd
  pid_t pid = 0;
  process_origin origin = process_origin::spawned;
  std::shared_ptr<wait4_state> wait4; // the wait4 pool's half
};

// Stateless: one instance per mechanism. Every call but start_waiting is
// made with the process state's mutex held, which is what makes signals
// race-free against reaping.
class wait_mechanism
{
public:
  // Makes the readiness fd report the end (the pool: hands the blocking
  // wait to a thread, once; a pidfd needs nothing).
  virtual void start_waiting(
      wait_target& t, boost::system::error_code& ec) const = 0;

  // Collects the outcome without blocking; false while it runs.
  virtual bool collect(wait_target& t, wait_result& out) const = 0;

  // Sends sig to the (unreaped, unexited) process or its process group.
  virtual void signal(
      wait_target& t, int sig, boost::system::error_code& ec) const = 0;
  virtual void signal_group(
      wait_target& t, int sig, boost::system::error_code& ec) const = 0;

  // True if the end is known or near: the readiness fd is readable.
  virtual bool readable(const wait_target& t) const = 0;

  // The fd is about to be closed or handed out: stop using it.
  virtual void detach(wait_target& t) const noexcept = 0;

  // The pidfd to hand out with release(), or -1 (the pool's eventfd is
  // no pidfd).
  virtual bool fd_is_pidfd() const noexcept = 0;

  // A child nobody waits for any more: true if the pool reaps it (the
  // binding then has nothing to do), false if the binding must.
  virtual bool reap_when_abandoned(wait_target& t) const = 0;

protected:
  ~wait_mechanism() = default;
};

const wait_mechanism& pidfd_mechanism() noexcept;
const wait_mechanism& wait4_mechanism() noexcept;

} // namespace pidfd::detail

#endif // PIDFD_ENGINE_WAIT_MECHANISM_HPP
