//
// src/kernel_support.cpp
// ~~~~~~~~~~~~~~~~~~~~~~
// The one-time capability probe, after Go's os.checkPidfd: every mechanism
// is tried once on the calling process itself, and any failure selects a
// less capable mechanism rather than failing later.
//

#include "pidfd/kernel_support.hpp"

#include "pidfd/engine/wait_mechanism.hpp"

#include "detail/features.hpp"
#include "detail/syscalls.hpp"
#include "detail/test_hooks.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <ostream>
#include <string>

namespace pidfd {
namespace {

using boost::system::error_code;
namespace errc = boost::system::errc;

void add_reason(std::string& reasons, const char* what, const error_code& ec)
{
  if (!reasons.empty())
    reasons += "; ";
  reasons += what;
  reasons += ": ";
  reasons += ec.message();
}

// PIDFD_INFO_EXIT arrived in Linux 6.15 without a flag of its own to probe
// for (a live process never has exit information), so the release decides.
bool kernel_at_least(int major, int minor)
{
  utsname u{};
  error_code ec;
  detail::sys::uname(u, ec);
  if (ec)
    return false;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2)
    return false;
  return ma > major || (ma == major && mi >= minor);
}

// Whether the io_uring mechanism can serve: a ring can be made and used
// (kernel.io_uring_disabled and seccomp policies refuse io_uring_setup or
// io_uring_enter; Docker's default profile refuses both), and it has what
// the mechanism needs. PIDFD_ASIO_MECHANISM=epoll keeps the reactor.
// `waitid`: whether the ring also knows IORING_OP_WAITID (Linux 6.7), with
// which it reaps the children spawned without resource usage. Not a reason
// when missing: those are then polled for as the others are.
bool io_uring_usable(std::string& reasons, bool& waitid)
{
  waitid = false;
  const char* forced = std::getenv("PIDFD_ASIO_MECHANISM");
  if (forced && std::strcmp(forced, "epoll") == 0)
  {
    if (!reasons.empty())
      reasons += "; ";
    reasons += "io_uring: epoll forced by PIDFD_ASIO_MECHANISM=epoll";
    return false;
  }
  detail::sys::uring ring;
  error_code ec;
  ring.open(2, 4, ec);
  if (ec)
  {
    add_reason(reasons, "io_uring_setup (Linux 5.1)", ec);
    return false;
  }
  const auto missing = errc::make_error_code(errc::function_not_supported);
  if (!(ring.features() & IORING_FEAT_NODROP))
  {
    add_reason(reasons, "io_uring IORING_FEAT_NODROP (Linux 5.5)", missing);
    return false;
  }
  if (!(ring.features() & IORING_FEAT_CQE_SKIP))
  {
    add_reason(
        reasons, "io_uring IOSQE_CQE_SKIP_SUCCESS (Linux 5.17)", missing);
    return false;
  }
  if (!ring.supports(IORING_OP_POLL_ADD)
      || !ring.supports(IORING_OP_POLL_REMOVE)
      || !ring.supports(IORING_OP_CLOSE))
  {
    add_reason(
        reasons, "io_uring poll and close (IORING_REGISTER_PROBE)", missing);
    return false;
  }
  // A no-op through io_uring_enter, which a policy may refuse alone.
  io_uring_sqe* nop = ring.get_sqe();
  nop->opcode = IORING_OP_NOP;
  nop->user_data = 1;
  ring.submit(ec);
  io_uring_cqe cqe{};
  if (!ec && !ring.pop(cqe))
    ec = errc::make_error_code(errc::io_error);
  if (ec)
  {
    add_reason(reasons, "io_uring_enter (Linux 5.1)", ec);
    return false;
  }
  waitid = ring.supports(detail::sys::uring_op_waitid)
      && !detail::test_hooks::refuse_ring_waitid();
  return true;
}

kernel_features probe()
{
  kernel_features f;
  if (const char* force = std::getenv("PIDFD_ASIO_FORCE_FALLBACK");
      force && std::strcmp(force, "1") == 0)
  {
    // No probing at all: a seccomp policy that kills on unknown system
    // calls (SECCOMP_RET_KILL / SIGSYS) would kill a probing process.
    f.forced_fallback = true;
    f.reason = "wait4 fallback forced by PIDFD_ASIO_FORCE_FALLBACK=1";
    return f;
  }

  std::string reasons;
  error_code ec;
  const pid_t self = detail::sys::getpid();
  int fd = detail::sys::pidfd_open(self, PIDFD_NONBLOCK, ec);
  if (ec == errc::invalid_argument)
  {
    add_reason(reasons, "PIDFD_NONBLOCK (Linux 5.10)", ec);
    fd = detail::sys::pidfd_open(self, 0, ec);
  }
  else
  {
    f.nonblocking_pidfd = !ec;
  }

  if (ec)
  {
    add_reason(reasons, "pidfd_open (Linux 5.3)", ec);
  }
  else
  {
    siginfo_t info{};
    rusage usage{};
    detail::sys::waitid_pidfd(fd, WEXITED | WNOHANG, info, usage, ec);
    // We are not our own child: ECHILD proves P_PIDFD is understood.
    // EINVAL means it is not (Linux < 5.4).
    bool waitid_ok = ec == errc::no_child_process;
    if (!waitid_ok)
      add_reason(reasons, "waitid(P_PIDFD) (Linux 5.4)",
          ec ? ec : errc::make_error_code(errc::invalid_argument));

    detail::sys::pidfd_send_signal(fd, 0, ec);
    bool signal_ok = !ec;
    if (!signal_ok)
      add_reason(reasons, "pidfd_send_signal (Linux 5.1)", ec);

    f.pidfd = waitid_ok && signal_ok;

    if (f.pidfd)
    {
      // Signal 0 to the group this process leads, if any: success, ESRCH
      // (it leads none) or EPERM all mean the scope is understood; Linux
      // < 6.9 rejects every flag with EINVAL. Signal 0 delivers nothing.
      detail::sys::pidfd_send_signal(fd, 0, PIDFD_SIGNAL_PROCESS_GROUP, ec);
      f.pidfd_group_signal = !ec || ec == errc::no_such_process
          || ec == errc::operation_not_permitted;
      if (!f.pidfd_group_signal)
        add_reason(reasons, "PIDFD_SIGNAL_PROCESS_GROUP (Linux 6.9)", ec);
    }
    // What PIDFD_GET_INFO offers, from the bits it sets for this live
    // process: PIDFD_INFO_COREDUMP (Linux 6.16) is set whenever known.
    // PIDFD_INFO_EXIT is set only once a process is reaped, so for 6.15
    // alone the version says it.
    const std::optional<std::uint64_t> info_mask =
        detail::sys::pidfd_info_mask(fd);
    f.core_dump_info = info_mask && (*info_mask & (1u << 4)) != 0;
    f.exit_info = f.core_dump_info || (info_mask && kernel_at_least(6, 15));
    detail::sys::close(fd);
  }

  ec = detail::sys::probe_clone3();
  f.clone3 = !ec;
  if (ec)
    add_reason(reasons, "clone3 (Linux 5.3)", ec);
  // Linux 7.1's lifetime flags, for spawn_options::die_with_owner. Not
  // a reason when missing: they are newer than anything else used here,
  // and the fallback is complete.
  if (f.pidfd && f.clone3)
    f.pidfd_autokill = detail::test_hooks::assume_autokill()
        || !detail::sys::probe_clone3_flags(
            CLONE_AUTOREAP | CLONE_NNP | CLONE_PIDFD_AUTOKILL);

  f.close_range = detail::sys::close_range_supported();
  if (!f.close_range)
    add_reason(reasons, "close_range (Linux 5.9)",
        errc::make_error_code(errc::function_not_supported));

  if (f.pidfd)
    f.io_uring = io_uring_usable(reasons, f.io_uring_waitid);
  // A child the ring reaps is reaped outside the lock under which
  // signal_group checks it is not: without PIDFD_SIGNAL_PROCESS_GROUP
  // (Linux 6.7 and 6.8 have IORING_OP_WAITID but not it) killpg could
  // then reach a recycled group id. The ring polls there.
  f.io_uring_waitid = f.io_uring_waitid && f.pidfd_group_signal;

  f.reason = std::move(reasons);
  return f;
}

std::atomic<bool> clone3_refused{false};

} // namespace

const kernel_features& kernel_support()
{
  static const kernel_features features = probe();
  return features;
}

kernel_features::level kernel_features::support_level() const noexcept
{
  if (!pidfd)
    return level::wait4_fallback;
  if (!nonblocking_pidfd)
    return level::blocking_pidfd;
  if (!clone3)
    return level::no_clone3;
  return level::full;
}

const char* to_string(kernel_features::level l) noexcept
{
  switch (l)
  {
  case kernel_features::level::full:
    return "full";
  case kernel_features::level::no_clone3:
    return "no_clone3";
  case kernel_features::level::blocking_pidfd:
    return "blocking_pidfd";
  case kernel_features::level::wait4_fallback:
    return "wait4_fallback";
  }
  return "unknown";
}

std::string kernel_features::to_string() const
{
  std::string s = "level ";
  s += pidfd::to_string(support_level());
  s += ": spawn with ";
  s += !pidfd  ? "clone() (vfork-style)"
      : clone3 ? "clone3(CLONE_PIDFD)"
               : "clone()+pidfd_open";
  s += ", wait with ";
  s += !pidfd             ? "wait4 on a thread pool"
      : io_uring_waitid   ? "io_uring poll of the pidfd + waitid(P_PIDFD), "
                            "or IORING_OP_WAITID without resource usage"
      : io_uring          ? "io_uring poll of the pidfd + waitid(P_PIDFD)"
      : nonblocking_pidfd ? "non-blocking pidfd + waitid(P_PIDFD)"
                          : "blocking pidfd + waitid(P_PIDFD)";
  s += ", signal with ";
  s += pidfd ? "pidfd_send_signal" : "kill under the reap lock";
  s += ", group signal with ";
  s += pidfd_group_signal ? "pidfd_send_signal(PIDFD_SIGNAL_PROCESS_GROUP)"
                          : "killpg under the reap lock";
  s += ", exit status of non-children ";
  s += !pidfd     ? "unavailable"
      : exit_info ? "from PIDFD_GET_INFO"
                  : "from /proc while a zombie";
  s += ", die_with_owner by ";
  s += pidfd_autokill ? "clone3(CLONE_PIDFD_AUTOKILL)"
                      : "the parent-death signal and kill on destroy";
  s += ", core dump account ";
  s += pidfd && core_dump_info ? "from PIDFD_INFO_COREDUMP"
                               : "from the status word only";
  if (!reason.empty())
    s += " (" + reason + ")";
  return s;
}

std::ostream& operator<<(std::ostream& os, const kernel_features& f)
{
  return os << f.to_string();
}

namespace detail {

bool clone3_usable() noexcept
{
  return kernel_support().clone3
      && !clone3_refused.load(std::memory_order_relaxed);
}

void note_clone3_unusable(int) noexcept
{
  clone3_refused.store(true, std::memory_order_relaxed);
}

} // namespace detail
} // namespace pidfd

namespace pidfd::detail {

const wait_mechanism& chosen_mechanism()
{
  const kernel_features& f = kernel_support();
  if (!f.pidfd)
    return wait4_mechanism();
  return f.io_uring ? uring_mechanism() : pidfd_mechanism();
}

} // namespace pidfd::detail
