//
// src/detail/pidfd_mechanism.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The pidfd mechanism: the pidfd becomes readable when the process exits,
// waitid(P_PIDFD, WNOHANG) collects the status, and pidfd_send_signal
// reaches the process (or, with PIDFD_SIGNAL_PROCESS_GROUP, the group it
// leads) and never another that got its PID.
//

#include "pidfd/engine/wait_mechanism.hpp"

#include "pidfd/error.hpp"
#include "pidfd/kernel_support.hpp"

#include "detail/proc_stat.hpp"
#include "detail/rusage.hpp"
#include "detail/syscalls.hpp"

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace pidfd::detail {
namespace {

using boost::system::error_code;
namespace errc = boost::system::errc;

// waitid's siginfo (its si_code and si_status) as an exit status.
exit_status status_from(int code, int status) noexcept
{
  int wait_status = 0;
  switch (code)
  {
  case CLD_EXITED:
    wait_status = (status & 0xff) << 8;
    break;
  case CLD_KILLED:
    wait_status = status & 0x7f;
    break;
  case CLD_DUMPED:
    wait_status = (status & 0x7f) | 0x80;
    break;
  default:
    break;
  }
  return exit_status::from_wait_status(wait_status);
}

// A signal whose default action is to dump core (signal(7)): only such an
// end has a core dump for the kernel to tell of.
bool dumps_core(int sig) noexcept
{
  switch (sig)
  {
  case SIGQUIT:
  case SIGILL:
  case SIGTRAP:
  case SIGABRT:
  case SIGBUS:
  case SIGFPE:
  case SIGSEGV:
  case SIGXCPU:
  case SIGXFSZ:
  case SIGSYS:
    return true;
  default:
    return false;
  }
}

// Attaches the kernel's account of the core dump (PIDFD_COREDUMPED, _SKIP,
// _USER, _ROOT: bits 0-3 of the coredump mask) when it gave one; a mask
// of 0 says nothing (Linux 6.18 leaves it 0 for a core written to a file).
void attach_core_dump(
    exit_status& s, std::optional<std::uint32_t> mask) noexcept
{
  if (!mask || *mask == 0 || !s.signaled())
    return;
  core_dump_info info;
  info.dumped = (*mask & (1u << 0)) != 0;
  info.skipped = (*mask & (1u << 1)) != 0;
  info.as_user = (*mask & (1u << 2)) != 0;
  info.as_root = (*mask & (1u << 3)) != 0;
  s.set_core_dump(info);
}

// For a status collected by waitid: asks the pidfd for the account when
// the kernel may have one. One ioctl, only for ends by a core-dumping
// signal.
void attach_core_dump(exit_status& s, int pidfd) noexcept
{
  if (s.signaled() && dumps_core(s.signal()) && kernel_support().core_dump_info)
    attach_core_dump(s, sys::pidfd_coredump_mask(pidfd));
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
  error_code ec;
  sys::stat(dir.c_str(), st, ec);
  if (ec)
    return std::nullopt;
  const uid_t me = sys::geteuid();
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
  auto from_kernel = [](const sys::pidfd_exit& e) {
    exit_status s = exit_status::from_wait_status(e.wait_status);
    attach_core_dump(s, e.coredump_mask);
    return s;
  };
  if (std::optional<sys::pidfd_exit> e = sys::pidfd_exit_info(fd))
    return from_kernel(*e);
  // Not reaped by its parent yet (or Linux < 6.15). The zombie still holds
  // its PID, so /proc/<pid> is it -- provided it is still unreaped after we
  // read it, which signal 0 on the pidfd confirms (ESRCH once reaped; EPERM
  // still means it exists).
  std::optional<int> ws = zombie_exit_code(pid);
  if (std::optional<sys::pidfd_exit> reaped = sys::pidfd_exit_info(fd))
    return from_kernel(*reaped);
  error_code ec;
  sys::pidfd_send_signal(fd, 0, ec);
  if (ws && (!ec || ec == errc::operation_not_permitted))
  {
    exit_status s = exit_status::from_wait_status(*ws);
    attach_core_dump(s, fd);
    return s;
  }
  return {};
}

// Signal 0 through the pidfd fails with ESRCH once the process is reaped;
// a zombie still accepts it (and EPERM still means it exists).
bool pidfd_reaped(int fd) noexcept
{
  error_code ec;
  sys::pidfd_send_signal(fd, 0, ec);
  return ec == errc::no_such_process;
}

class pidfd_wait final : public wait_mechanism
{
public:
  wait_target watch(pid_t pid, int pidfd, process_origin origin,
      error_code& ec) const override
  {
    ec.clear();
    if (pidfd < 0)
    {
      // Race-free for a child of ours: it is unreaped, so its PID cannot
      // be reused before the pidfd refers to it. For an adopted PID the
      // pidfd is as good as the PID was when it was given.
      pidfd = sys::pidfd_open(
          pid, kernel_support().nonblocking_pidfd ? PIDFD_NONBLOCK : 0u, ec);
      if (ec == errc::no_such_file_or_directory)
      {
        // A thread id that is not a process: EINVAL before Linux 6.9,
        // ENOENT since (pidfd_open without PIDFD_THREAD).
        ec = errc::make_error_code(errc::invalid_argument);
      }
      if (ec)
        return {};
    }
    return {pidfd, pid, origin, true, nullptr};
  }

  const char* watch_call() const noexcept override { return "pidfd_open"; }

  bool collect(wait_target& t, wait_result& out) const override
  {
    if (t.fd < 0)
      return false;
    siginfo_t info{};
    rusage usage{};
    error_code ec;
    sys::waitid_pidfd(t.fd, WEXITED | WNOHANG, info, usage, ec);
    if (!ec)
    {
      if (info.si_pid == 0)
        return false; // running (or exited but not yet reapable: ptrace)
      out = {{}, status_from(info.si_code, info.si_status)};
      attach_usage(out.status, usage);
      attach_core_dump(out.status, t.fd);
      return true;
    }
    // EAGAIN: a non-blocking pidfd of a process that still runs.
    if (ec == errc::resource_unavailable_try_again)
      return false;
    if (ec == errc::no_child_process && t.origin != process_origin::spawned)
    {
      // Not our child, or one the kernel reaps: it is done once its pidfd
      // is readable.
      if (!sys::is_readable(t.fd))
        return false;
      out = {{}, non_child_status(t.fd, t.pid)};
      return true;
    }
    // ECHILD for our own child: someone else collected the status.
    out = {ec, {}};
    return true;
  }

  void signal(wait_target& t, int sig, error_code& ec) const override
  {
    // The kernel accepts a signal for a zombie; an exited process is done.
    if (t.fd < 0 || sys::is_readable(t.fd))
    {
      ec = error::process_done;
      return;
    }
    sys::pidfd_send_signal(t.fd, sig, ec);
    if (ec == errc::no_such_process)
      ec = error::process_done;
  }

  void signal_group(wait_target& t, int sig, error_code& ec) const override
  {
    // A leader that has exited but is unreaped still holds the group's id
    // (its PID), so the group, whose other members may still run, is
    // signalled. Once reaped (by someone else: the caller holds the lock
    // under which we reap, and checked that we have not) the group is not
    // ours any more: process_done, as for signal().
    if (t.fd < 0 || pidfd_reaped(t.fd))
    {
      ec = error::process_done;
      return;
    }
    if (kernel_support().pidfd_group_signal)
    {
      // Linux 6.9: the kernel signals the group whose id is the pidfd's
      // PID, found from the pidfd's struct pid. A process that later gets
      // the same number gets another struct pid, so a recycled group id is
      // never reached, even if the leader is reaped during the call.
      sys::pidfd_send_signal(t.fd, sig, PIDFD_SIGNAL_PROCESS_GROUP, ec);
    }
    else
    {
      // Older kernels: by id. Race-free while the library reaps the child
      // (only under the caller's lock); a reaper elsewhere leaves a window
      // between the check above and this call.
      sys::kill(-t.pid, sig, ec);
    }
    // ESRCH: the child leads no group, or it was reaped and its group
    // emptied since the check.
    if (ec == errc::no_such_process && pidfd_reaped(t.fd))
      ec = error::process_done;
  }

  bool readable(const wait_target& t) const override
  {
    return t.fd >= 0 && sys::is_readable(t.fd);
  }

  int pidfd(const wait_target& t) const noexcept override { return t.fd; }

  exit_status reaped_status(
      const wait_target& t, int code, int status) const override
  {
    exit_status s = status_from(code, status);
    attach_core_dump(s, t.fd);
    return s;
  }

  bool collect_before_blocking() const noexcept override
  {
    // The pidfd becomes readable at the exit, and once reaped elsewhere
    // too; a first waitid would only cost a system call for a child that
    // still runs.
    return false;
  }

  bool reaps_abandoned(wait_target& t) const override
  {
    // The binding's wait on the reactor reaps it, unless the kernel does.
    return t.origin == process_origin::autoreaped;
  }
};

} // namespace

const wait_mechanism& pidfd_mechanism() noexcept
{
  static const pidfd_wait mechanism;
  return mechanism;
}

} // namespace pidfd::detail
