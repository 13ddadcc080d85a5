//
// pidfd/kernel_support.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
// Which kernel mechanisms the library uses on this machine, and why.
//

#ifndef PIDFD_KERNEL_SUPPORT_HPP
#define PIDFD_KERNEL_SUPPORT_HPP

#include <iosfwd>
#include <string>

namespace pidfd {

/// The mechanisms chosen by the one-time capability probe.
/**
 * The probe runs once per process, on first use, like Go's @c checkPidfd:
 * it opens a pidfd on the calling process, expects @c waitid(P_PIDFD) to
 * fail with @c ECHILD, sends it signal 0 (also with
 * @c PIDFD_SIGNAL_PROCESS_GROUP), asks whether @c clone3 exists and whether
 * @c PIDFD_GET_INFO reports exit information. Any failure selects a
 * less capable mechanism instead of failing later (a compile-time choice
 * made Boost.Process fail every spawn on old kernels: boostorg/process#549).
 */
struct kernel_features
{
  /// Which level of support is in use, from best to most limited.
  enum class level
  {
    /// clone3(CLONE_PIDFD) spawns, non-blocking pidfds, waitid(P_PIDFD).
    full,
    /// clone3 is missing (Linux < 5.3) or forbidden by seccomp: children are
    /// spawned vfork-style with clone() and pidfd_open().
    no_clone3,
    /// PIDFD_NONBLOCK is rejected (Linux 5.4 to 5.9); blocking pidfds are
    /// used with readiness waits and WNOHANG, which never block.
    blocking_pidfd,
    /// pidfd_open, waitid(P_PIDFD) or pidfd_send_signal is missing: waits are
    /// blocking wait4 calls on a library thread pool.
    wait4_fallback
  };

  /// clone3 with CLONE_PIDFD spawns children.
  bool clone3 = false;
  /// pidfd_open accepts PIDFD_NONBLOCK.
  bool nonblocking_pidfd = false;
  /// pidfd_open, waitid(P_PIDFD) and pidfd_send_signal all work.
  bool pidfd = false;
  /// PIDFD_GET_INFO reports the exit status of a reaped process (Linux 6.15).
  bool exit_info = false;
  /// PIDFD_GET_INFO answers PIDFD_INFO_COREDUMP (Linux 6.16), probed from
  /// the mask it returns: exit_status::core_dump() can be filled in.
  bool core_dump_info = false;
  /// clone3 accepts CLONE_PIDFD_AUTOKILL with CLONE_AUTOREAP and CLONE_NNP
  /// (Linux 7.1), probed without creating a process: a child spawned with
  /// spawn_options::die_with_owner dies when its pidfd is closed. Without
  /// them it gets the parent-death signal and is killed on destruction.
  bool pidfd_autokill = false;
  /// pidfd_send_signal accepts PIDFD_SIGNAL_PROCESS_GROUP (Linux 6.9):
  /// signal_group() reaches the group through the child's pidfd, which no
  /// recycled process-group id can match. Otherwise (and always in the
  /// wait4 fallback) it calls @c killpg under the reap lock, which is
  /// race-free only while the library is the one that reaps the child.
  bool pidfd_group_signal = false;
  /// close_range with CLOSE_RANGE_UNSHARE exists (Linux 5.9): spawns share
  /// the fd table and the child copies only fds 0-2.
  bool close_range = false;
  /// Waits for exits through one io_uring per execution context: a poll of
  /// each pidfd there, the ring's fd the only one in the reactor (Linux
  /// 5.17 for IOSQE_CQE_SKIP_SUCCESS). False where io_uring is refused
  /// (kernel.io_uring_disabled, seccomp, Linux < 5.17) or
  /// PIDFD_ASIO_MECHANISM=epoll keeps every pidfd in the reactor. Implies
  /// @c pidfd.
  bool io_uring = false;
  /// The io_uring mechanism's ring also reaps (IORING_OP_WAITID, Linux
  /// 6.7): a child spawned with spawn_options::resource_usage false is
  /// collected by the kernel in the ring, with no waitid system call of
  /// ours. Implies @c io_uring and @c pidfd_group_signal (without which
  /// signal_group() relies on the library reaping under its lock).
  bool io_uring_waitid = false;
  /// The wait4 fallback was forced (PIDFD_ASIO_FORCE_FALLBACK=1) without
  /// probing.
  bool forced_fallback = false;
  /// Why each missing mechanism is missing, e.g.
  /// "clone3: Function not implemented"; empty when everything works.
  std::string reason;

  /// The level these features amount to (the most limited that applies).
  level support_level() const noexcept;

  /// A one-line summary: level, mechanisms in use and reasons.
  std::string to_string() const;
};

/// The features probed for this process (probed on the first call; cheap
/// afterwards). Thread-safe.
const kernel_features& kernel_support();

/// The name of a level: "full", "no_clone3", "blocking_pidfd",
/// "wait4_fallback".
const char* to_string(kernel_features::level l) noexcept;

/// Writes kernel_features::to_string().
std::ostream& operator<<(std::ostream& os, const kernel_features& f);

} // namespace pidfd

#endif // PIDFD_KERNEL_SUPPORT_HPP
