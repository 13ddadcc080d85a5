//
// src/detail/wait4_mechanism.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The wait4 mechanism (see wait4_mechanism.hpp): a pool thread per waiting
// child, an eventfd for readiness, and signals by PID made safe by reaping
// only under the lock that signal() holds.
//

#include "detail/wait4_mechanism.hpp"

#include "pidfd/error.hpp"

#include "detail/proc_stat.hpp"
#include "detail/rusage.hpp"
#include "detail/syscalls.hpp"
#include "detail/blocking_pool.hpp"

#include <cstdint>
#include <optional>
#include <system_error>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

namespace pidfd::detail {
namespace {

using boost::system::error_code;
namespace errc = boost::system::errc;

// waitid(P_PID, WNOWAIT): has the process exited? It stays unreaped.
// __WALL: children whose exit signal is not SIGCHLD count too.
bool has_exited(pid_t pid, int options, error_code& ec) noexcept
{
  siginfo_t info{};
  sys::waitid_pid(pid, WEXITED | WNOWAIT | __WALL | options, info, ec);
  return !ec && info.si_pid != 0;
}

} // namespace

wait4_state::wait4_state(pid_t pid, process_origin o) noexcept
  : pid_(pid), origin_(o),
    start_time_(proc_stat_field(pid, proc_stat_start_time).value_or(0))
{
}

bool wait4_state::same_process() const
{
  if (start_time_ == 0)
    return true;
  std::optional<long long> now = proc_stat_field(pid_, proc_stat_start_time);
  return !now || *now == start_time_;
}

void wait4_state::attach_event_fd(int fd)
{
  std::lock_guard lock(mutex_);
  event_fd_ = fd;
  if (done_)
    notify_locked();
}

void wait4_state::detach_event_fd()
{
  std::lock_guard lock(mutex_);
  event_fd_ = -1;
}

void wait4_state::notify_locked()
{
  if (event_fd_ < 0)
    return;
  // Cannot fail but with EAGAIN, once the counter is near its maximum,
  // when the fd is readable anyway.
  const std::uint64_t one = 1;
  error_code ignored;
  sys::write(event_fd_, &one, sizeof one, ignored);
}

bool wait4_state::collect(wait_result& out)
{
  std::lock_guard lock(mutex_);
  return collect_locked(out);
}

bool wait4_state::collect_locked(wait_result& out)
{
  if (!done_)
  {
    error_code ec;
    const bool exited = has_exited(pid_, WNOHANG, ec);
    if (!ec && !same_process())
    {
      // Reaped elsewhere, and the PID already belongs to another child of
      // ours: neither its status nor its exit is ours to collect.
      ec = errc::make_error_code(errc::no_child_process);
    }
    else if (!ec && !exited)
    {
      return false;
    }
    if (!ec)
    {
      int status = 0;
      rusage usage{};
      const pid_t r = sys::wait4(pid_, status, WNOHANG | __WALL, usage, ec);
      if (r == 0)
        return false;
      if (r < 0)
      {
        result_ = {ec, {}};
      }
      else
      {
        result_.status = exit_status::from_wait_status(status);
        attach_usage(result_.status, usage);
      }
    }
    else
    {
      // ECHILD: reaped by someone else, or (adopted) not our child, whose
      // status no interface but a pidfd can give.
      result_ = {ec, {}};
    }
    done_ = true;
    notify_locked();
  }
  out = result_;
  return true;
}

void wait4_state::signal(int sig, error_code& ec)
{
  std::lock_guard lock(mutex_);
  if (done_)
  {
    ec = error::process_done;
    return;
  }
  // The kernel accepts signals for zombies silently; an exited process is
  // done. While it is unreaped (and only we reap it, under this mutex) its
  // PID cannot be reused, so the kill below reaches it and nothing else.
  bool exited = has_exited(pid_, WNOHANG, ec);
  const bool spawned = origin_ == process_origin::spawned;
  if (ec == errc::no_child_process && spawned)
  {
    // Our child, reaped by someone else: its PID may already be reused.
    ec = error::process_done;
    return;
  }
  if (exited || (!ec && !same_process()))
  {
    ec = error::process_done;
    return;
  }
  // Adopted processes that are not our children (ECHILD) are signalled by
  // PID, as Go's os.Process does without pidfds: no kernel interface makes
  // that race-free.
  sys::kill(pid_, sig, ec);
  if (ec == errc::no_such_process)
    ec = error::process_done;
}

void wait4_state::signal_group(int sig, error_code& ec)
{
  std::lock_guard lock(mutex_);
  if (done_)
  {
    ec = error::process_done;
    return;
  }
  // The group's id is the child's PID, which stays its own while it is
  // unreaped, even as a zombie (whose group may still have members to
  // signal); only we reap it, under this mutex. A child reaped by someone
  // else (ECHILD) has lost its PID, which may lead another group already.
  error_code wait_ec;
  has_exited(pid_, WNOHANG, wait_ec);
  if ((wait_ec == errc::no_child_process && origin_ == process_origin::spawned)
      || !same_process())
  {
    ec = error::process_done;
    return;
  }
  // Adopted processes that are not our children are signalled by id, with
  // only the start-time check: no interface but a pidfd makes that safe.
  sys::kill(-pid_, sig, ec);
}

void wait4_state::start_waiting(error_code& ec)
{
  {
    std::lock_guard lock(mutex_);
    if (waiting_ || done_)
    {
      ec.clear();
      return;
    }
    waiting_ = true;
  }
  try
  {
    blocking_pool::submit(
        [self = shared_from_this()] { self->blocking_wait(); });
    ec.clear();
  }
  catch (const std::system_error& e)
  {
    std::lock_guard lock(mutex_);
    waiting_ = false;
    ec = sys::last_error(e.code().value());
  }
}

void wait4_state::blocking_wait()
{
  wait_result ignored;
  for (;;)
  {
    error_code ec;
    // Blocks without reaping; then collect under the mutex. If someone else
    // collected meanwhile, collect reports the kept outcome.
    has_exited(pid_, 0, ec);
    if (collect(ignored))
      return;
  }
}

namespace {

wait4_state& state_of(const wait_target& t) noexcept
{
  return static_cast<wait4_state&>(*t.data);
}

// The mechanism's face towards the process state; the work is wait4_state's.
class wait4_wait final : public wait_mechanism
{
public:
  wait_target watch(pid_t pid, int /*pidfd: none here*/, process_origin origin,
      error_code& ec) const override
  {
    ec.clear();
    if (origin == process_origin::adopted)
    {
      // Only a child of ours can be waited for; another process is still
      // signalled by PID. ESRCH: it does not exist.
      sys::kill(pid, 0, ec);
      if (ec == errc::no_such_process)
        return {};
      ec.clear();
      // kill() takes a thread id for its process; pidfd_open refuses it,
      // and so does this mechanism, to behave the same.
      std::optional<pid_t> group = proc_thread_group(pid);
      if (group && *group != pid)
      {
        ec = errc::make_error_code(errc::invalid_argument);
        return {};
      }
    }
    const int fd = sys::eventfd(ec);
    if (fd < 0)
      return {};
    auto state = std::make_shared<wait4_state>(pid, origin);
    state->attach_event_fd(fd);
    return {fd, pid, origin, true, std::move(state)};
  }

  const char* watch_call() const noexcept override { return "eventfd"; }

  void start_waiting(wait_target& t, error_code& ec) const override
  {
    state_of(t).start_waiting(ec);
  }

  bool collect(wait_target& t, wait_result& out) const override
  {
    return state_of(t).collect(out);
  }

  void signal(wait_target& t, int sig, error_code& ec) const override
  {
    state_of(t).signal(sig, ec);
  }

  void signal_group(wait_target& t, int sig, error_code& ec) const override
  {
    state_of(t).signal_group(sig, ec);
  }

  bool readable(const wait_target& t) const override
  {
    return t.fd >= 0 && sys::is_readable(t.fd);
  }

  void detach(wait_target& t) const noexcept override
  {
    state_of(t).detach_event_fd();
  }

  int pidfd(const wait_target&) const noexcept override
  {
    return -1; // the eventfd is no pidfd
  }

  bool collect_before_blocking() const noexcept override
  {
    // The pool's eventfd is written when a wait on the PID returns, and a
    // PID reaped elsewhere may belong to another running child by then,
    // which only the collect step sees.
    return true;
  }

  bool reaps_abandoned(wait_target& t) const override
  {
    // The pool thread reaps it; nothing needs the io_context.
    error_code ignored;
    state_of(t).start_waiting(ignored);
    return true;
  }
};

} // namespace

const wait_mechanism& wait4_mechanism() noexcept
{
  static const wait4_wait mechanism;
  return mechanism;
}

} // namespace pidfd::detail
