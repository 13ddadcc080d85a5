//
// src/process_impl.cpp
// ~~~~~~~~~~~~~~~~~~~~
// Waiting for and signalling one process through its pidfd.
//

#include "pidfd/detail/process_impl.hpp"

#include "pidfd/basic_process.hpp"
#include "pidfd/error.hpp"
#include "pidfd/kernel_support.hpp"
#include "pidfd/spawn.hpp"

#include "detail/proc_stat.hpp"
#include "detail/syscalls.hpp"
#include "detail/wait4_state.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

namespace pidfd::detail {
namespace {

using boost::system::error_code;
namespace errc = boost::system::errc;

std::chrono::microseconds to_micros(const timeval& tv) noexcept
{
  return std::chrono::seconds(tv.tv_sec)
      + std::chrono::microseconds(tv.tv_usec);
}

// waitid's siginfo as an exit status, with the rusage the raw system call
// collected alongside.
exit_status status_from(const siginfo_t& info, const rusage& usage) noexcept
{
  int wait_status = 0;
  switch (info.si_code)
  {
  case CLD_EXITED:
    wait_status = (info.si_status & 0xff) << 8;
    break;
  case CLD_KILLED:
    wait_status = info.si_status & 0x7f;
    break;
  case CLD_DUMPED:
    wait_status = (info.si_status & 0x7f) | 0x80;
    break;
  default:
    break;
  }
  exit_status s = exit_status::from_wait_status(wait_status);
  s.set_usage(to_micros(usage.ru_utime), to_micros(usage.ru_stime),
      static_cast<std::uint64_t>(usage.ru_maxrss) * 1024);
  return s;
}

// The exit_code field of /proc/<pid>/stat: the zombie's wait status. The
// kernel shows 0 to readers it would not let ptrace-read the process, so
// the value is trusted only for root or for the process's owner.
std::optional<int> zombie_exit_code(pid_t pid)
{
  std::string dir = "/proc/" + std::to_string(pid);
  struct stat st
  {
  };
  if (::stat(dir.c_str(), &st) != 0)
    return std::nullopt;
  const uid_t me = ::geteuid();
  if (me != 0 && st.st_uid != me)
    return std::nullopt;
  std::optional<long long> code = proc_stat_field(pid, proc_stat_exit_code);
  if (!code)
    return std::nullopt;
  return static_cast<int>(*code);
}

// The status of a process that has exited but is not our child.
exit_status non_child_status(int fd, pid_t pid)
{
  if (std::optional<int> ws = sys::pidfd_exit_status(fd))
    return exit_status::from_wait_status(*ws);
  // Not reaped by its parent yet (or Linux < 6.15). The zombie still holds
  // its PID, so /proc/<pid> is it -- provided it is still unreaped after we
  // read it, which signal 0 on the pidfd confirms (ESRCH once reaped; EPERM
  // still means it exists).
  std::optional<int> ws = zombie_exit_code(pid);
  if (std::optional<int> reaped = sys::pidfd_exit_status(fd))
    return exit_status::from_wait_status(*reaped);
  error_code ec;
  sys::pidfd_send_signal(fd, 0, ec);
  if (ws && (!ec || ec == errc::operation_not_permitted))
    return exit_status::from_wait_status(*ws);
  return {};
}

} // namespace

process_impl::process_impl(const boost::asio::any_io_executor& ex, int pidfd,
    pid_t pid, origin o) noexcept
  : descriptor_(ex), fd_(pidfd), pid_(pid), origin_(o)
{
}

process_impl::process_impl(const boost::asio::any_io_executor& ex,
    std::shared_ptr<wait4_state> state, int event_fd, pid_t pid,
    origin o) noexcept
  : descriptor_(ex), fd_(event_fd), pid_(pid), origin_(o),
    wait4_(std::move(state))
{
}

process_impl::process_impl(
    const boost::asio::any_io_executor& ex, pid_t pid) noexcept
  : descriptor_(ex), pid_(pid),
    done_(true), result_{errc::make_error_code(errc::no_child_process), {}}
{
}

process_impl::~process_impl()
{
  close();
}

bool process_impl::collected(wait_result& out) const
{
  std::lock_guard lock(mutex_);
  if (done_)
    out = result_;
  return done_;
}

bool process_impl::try_collect(wait_result& out)
{
  std::lock_guard lock(mutex_);
  return collect_locked(out);
}

bool process_impl::try_collect(wait_result& out, std::uint64_t generation)
{
  std::lock_guard lock(mutex_);
  if (generation != generation_)
  {
    out = {boost::asio::error::operation_aborted, {}};
    return true;
  }
  return collect_locked(out);
}

bool process_impl::collect_locked(wait_result& out)
{
  if (done_)
  {
    out = result_;
    return true;
  }
  if (closed_)
    return false;

  if (wait4_)
  {
    wait_result r;
    if (!wait4_->collect(r))
      return false;
    finish_locked(std::move(r));
    out = result_;
    return true;
  }

  siginfo_t info{};
  rusage usage{};
  error_code ec;
  sys::waitid_pidfd(fd_, WEXITED | WNOHANG, info, usage, ec);
  if (!ec)
  {
    if (info.si_pid == 0)
      return false; // running (or exited but not yet reapable: ptrace)
    finish_locked({{}, status_from(info, usage)});
  }
  else if (ec == errc::resource_unavailable_try_again)
  {
    return false; // a non-blocking pidfd without WNOHANG semantics
  }
  else if (ec == errc::no_child_process && origin_ == origin::adopted)
  {
    // Not our child: it is done once its pidfd is readable.
    if (!sys::is_readable(fd_))
      return false;
    finish_locked({{}, non_child_status(fd_, pid_)});
  }
  else
  {
    // ECHILD for our own child: someone else collected the status.
    finish_locked({ec, {}});
  }
  out = result_;
  return true;
}

void process_impl::finish_locked(wait_result result)
{
  done_ = true;
  result_ = std::move(result);
}

void process_impl::wait_blocking(wait_result& out)
{
  if (wait4_)
  {
    // The pool thread makes fd_ (the eventfd) readable when done.
    error_code ec;
    wait4_->start_waiting(ec);
    if (ec)
    {
      out = {ec, {}};
      return;
    }
  }
  auto backoff = std::chrono::milliseconds(1);
  for (;;)
  {
    int fd;
    {
      std::lock_guard lock(mutex_);
      if (collect_locked(out))
        return;
      if (closed_)
      {
        out = {boost::asio::error::operation_aborted, {}};
        return;
      }
      fd = fd_;
    }
    if (!sys::is_readable(fd))
    {
      error_code ec;
      sys::wait_readable(fd, ec);
      if (ec)
      {
        out = {ec, {}};
        return;
      }
      continue;
    }
    // Readable but not reapable: a ptrace tracer is told of the exit
    // before the parent may reap, and the pidfd stays readable meanwhile.
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(64));
  }
}

void process_impl::signal(int sig, error_code& ec)
{
  if (sig < 0 || sig >= _NSIG)
  {
    ec = error::invalid_signal;
    return;
  }
  std::lock_guard lock(mutex_);
  if (closed_)
  {
    // Only a run_child outlives its handle's close: a process that was
    // collected is done, whoever asks.
    ec = done_ ? error::process_done : error::no_process;
    return;
  }
  if (wait4_)
  {
    if (done_)
      ec = error::process_done;
    else
      wait4_->signal(sig, ec);
    return;
  }
  // The kernel accepts a signal for a zombie and returns 0; a process that
  // has exited is done for us, as for Go's os.Process.Signal.
  if (done_ || fd_ < 0 || sys::is_readable(fd_))
  {
    ec = error::process_done;
    return;
  }
  sys::pidfd_send_signal(fd_, sig, ec);
  if (ec == errc::no_such_process)
    ec = error::process_done;
}

void process_impl::signal_group(int sig, error_code& ec)
{
  if (sig < 0 || sig >= _NSIG)
  {
    ec = error::invalid_signal;
    return;
  }
  std::lock_guard lock(mutex_);
  if (closed_)
  {
    // Only a run_child outlives its handle's close: a process that was
    // collected is done, whoever asks.
    ec = done_ ? error::process_done : error::no_process;
    return;
  }
  if (done_ || fd_ < 0)
  {
    ec = error::process_done;
    return;
  }
  if (wait4_)
    return wait4_->signal_group(sig, ec);
  // Reaping happens only under this lock: while the child is not
  // collected, its PID, which is the group's id, is still its own.
  if (::kill(-pid_, sig) != 0)
    ec = error_code(errno, boost::system::system_category());
  else
    ec.clear();
}

void process_impl::cancel()
{
  std::lock_guard lock(mutex_);
  ++generation_;
  if (descriptor_.is_open())
  {
    error_code ignored;
    descriptor_.cancel(ignored);
  }
}

void process_impl::close()
{
  std::lock_guard lock(mutex_);
  close_locked();
}

void process_impl::close_locked()
{
  if (closed_)
    return;
  closed_ = true;
  ++generation_;
  if (wait4_)
    wait4_->detach_event_fd(); // before its number may be reused
  error_code ignored;
  if (descriptor_.is_open())
    descriptor_.close(ignored); // cancels the waits, closes fd_
  else if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

void process_impl::abandon()
{
  std::unique_lock lock(mutex_);
  if (closed_ || done_ || origin_ != origin::spawned || fd_ < 0)
  {
    close_locked();
    return;
  }
  if (kill_on_destroy_)
  {
    error_code ignored;
    if (wait4_)
      wait4_->signal(SIGKILL, ignored);
    else
      sys::pidfd_send_signal(fd_, SIGKILL, ignored);
  }
  ++generation_;
  if (wait4_)
  {
    // The pool thread reaps it; nothing here needs the io_context.
    error_code ec;
    wait4_->start_waiting(ec);
    close_locked();
    return;
  }
  // The owner's waits end now; an internal wait (which keeps this object
  // alive) reaps the child when it exits.
  error_code ignored;
  if (descriptor_.is_open())
    descriptor_.cancel(ignored);
  arm_orphan_locked();
}

void process_impl::reap_orphan(const error_code& ec)
{
  std::lock_guard lock(mutex_);
  wait_result ignored;
  if (collect_locked(ignored))
  {
    close_locked();
    return;
  }
  if (closed_)
    return;
  if (ec || !sys::is_readable(fd_))
  {
    // Cancelled (the owner's waits were, just before), or a stale
    // readiness event: wait again.
    arm_orphan_locked();
    return;
  }
  // Readable but not reapable: under ptrace the tracer is told first. The
  // pidfd stays readable, so look again after a while instead of spinning.
  auto timer = std::make_shared<boost::asio::steady_timer>(
      descriptor_.get_executor(), std::chrono::milliseconds(10));
  timer->async_wait([self = shared_from_this(), timer](const error_code&) {
    std::lock_guard relock(self->mutex_);
    if (!self->closed_)
      self->arm_orphan_locked();
  });
}

void process_impl::arm_orphan_locked()
{
  error_code ec;
  if (!arm_locked(ec))
  {
    close_locked();
    return;
  }
  descriptor_.async_wait(descriptor_type::wait_read,
      [self = shared_from_this()](
          const error_code& e) { self->reap_orphan(e); });
}

int process_impl::release()
{
  std::lock_guard lock(mutex_);
  if (closed_)
    return -1;
  closed_ = true;
  ++generation_;
  if (descriptor_.is_open())
    descriptor_.release(); // cancels the waits, keeps the fd open
  int fd = fd_;
  fd_ = -1;
  if (wait4_)
  {
    // Not a pidfd: nothing to hand over. The pool thread still reaps.
    wait4_->detach_event_fd();
    ::close(fd);
    fd = -1;
  }
  return fd;
}

bool process_impl::arm_locked(error_code& ec)
{
  if (closed_)
  {
    ec = boost::asio::error::operation_aborted;
    return false;
  }
  if (done_)
  {
    ec.clear();
    return false;
  }
  if (wait4_)
  {
    wait4_->start_waiting(ec);
    if (ec)
      return false;
  }
  if (!descriptor_.is_open())
  {
    descriptor_.assign(fd_, ec);
    if (ec)
      return false;
  }
  return true;
}

bool process_impl::readable() const
{
  std::lock_guard lock(mutex_);
  return done_ || (fd_ >= 0 && sys::is_readable(fd_));
}

bool process_impl::closed() const
{
  std::lock_guard lock(mutex_);
  return closed_;
}

std::uint64_t process_impl::cancel_generation() const
{
  std::lock_guard lock(mutex_);
  return generation_;
}

// ---- creating handles ------------------------------------------------------

namespace {

std::shared_ptr<process_impl> make_wait4_impl(
    const boost::asio::any_io_executor& ex, pid_t pid, process_impl::origin o,
    error_code& ec)
{
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0)
  {
    ec = error_code(errno, boost::system::system_category());
    return nullptr;
  }
  ec.clear();
  auto state = std::make_shared<wait4_state>(pid, o);
  state->attach_event_fd(fd);
  return std::make_shared<process_impl>(ex, std::move(state), fd, pid, o);
}

} // namespace

std::shared_ptr<process_impl> make_spawned(
    const boost::asio::any_io_executor& ex, const launched& child,
    const spawn_options& options, error_code& ec)
{
  if (child.pidfd >= 0)
  {
    auto impl = std::make_shared<process_impl>(
        ex, child.pidfd, child.pid, process_impl::origin::spawned);
    impl->set_kill_on_destroy(options.kill_on_destroy);
    return impl;
  }
  std::shared_ptr<process_impl> impl =
      make_wait4_impl(ex, child.pid, process_impl::origin::spawned, ec);
  if (!impl)
  {
    // Out of fds: do not leave a child nobody can wait for.
    ::kill(child.pid, SIGKILL);
    int status;
    while (::waitpid(child.pid, &status, __WALL) < 0 && errno == EINTR)
    {
    }
    return impl;
  }
  impl->set_kill_on_destroy(options.kill_on_destroy);
  return impl;
}

std::shared_ptr<process_impl> adopt_pid(
    const boost::asio::any_io_executor& ex, pid_t pid, error_code& ec)
{
  if (pid <= 0)
  {
    // 0 and negative values name process groups for kill(), never one
    // process.
    ec = errc::make_error_code(errc::invalid_argument);
    return nullptr;
  }
  const kernel_features& features = kernel_support();
  if (!features.pidfd)
  {
    // The wait4 fallback: only a child of ours can be waited for.
    if (::kill(pid, 0) != 0 && errno == ESRCH)
    {
      ec.clear();
      return std::make_shared<process_impl>(ex, pid);
    }
    // kill() takes a thread id for its process; pidfd_open refuses it.
    std::optional<pid_t> group = proc_thread_group(pid);
    if (group && *group != pid)
    {
      ec = errc::make_error_code(errc::invalid_argument);
      return nullptr;
    }
    return make_wait4_impl(ex, pid, process_impl::origin::adopted, ec);
  }
  int fd = sys::pidfd_open(
      pid, features.nonblocking_pidfd ? PIDFD_NONBLOCK : 0u, ec);
  if (ec == errc::no_such_process)
  {
    ec.clear();
    return std::make_shared<process_impl>(ex, pid);
  }
  if (ec == errc::no_such_file_or_directory || ec == errc::invalid_argument)
  {
    // A thread id that is not a process: EINVAL before Linux 6.9, ENOENT
    // since (pidfd_open without PIDFD_THREAD).
    ec = errc::make_error_code(errc::invalid_argument);
    return nullptr;
  }
  if (ec)
    return nullptr;
  return std::make_shared<process_impl>(
      ex, fd, pid, process_impl::origin::adopted);
}

std::shared_ptr<process_impl> adopt_pidfd(
    const boost::asio::any_io_executor& ex, int pidfd, error_code& ec)
{
  std::optional<pid_t> pid = sys::pidfd_pid(pidfd, ec);
  if (!pid)
  {
    // No fdinfo entry: not an open fd.
    if (ec == errc::no_such_file_or_directory)
      ec = errc::make_error_code(errc::bad_file_descriptor);
    return nullptr;
  }
  // Pid -1: the process was already reaped; keep the fd so that the kernel
  // may still report its exit status.
  return std::make_shared<process_impl>(
      ex, pidfd, *pid, process_impl::origin::adopted);
}

void throw_error(const error_code& ec, const char* what)
{
  throw boost::system::system_error(ec, what);
}

void throw_spawn_error(
    const error_code& ec, std::string_view program, const std::string& detail)
{
  std::string what = "spawn \"";
  what.append(program.substr(0, 256));
  what += '"';
  if (!detail.empty())
    what += ": " + detail;
  throw boost::system::system_error(ec, what);
}

} // namespace pidfd::detail
