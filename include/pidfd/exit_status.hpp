//
// pidfd/exit_status.hpp
// ~~~~~~~~~~~~~~~~~~~~~
// How a process ended, and what it cost.
//

#ifndef PIDFD_EXIT_STATUS_HPP
#define PIDFD_EXIT_STATUS_HPP

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

namespace pidfd {

/// The kernel's own account of a core dump (@c PIDFD_INFO_COREDUMP, Linux
/// 6.16), beyond the status word's "core dumped" bit.
struct core_dump_info
{
  /// A core dump was generated.
  bool dumped = false;
  /// A core dump was due but its generation was skipped.
  bool skipped = false;
  /// The dump was written with the process's own credentials.
  bool as_user = false;
  /// The dump was written as root (a set-id program with
  /// @c fs.suid_dumpable = 2): treat it as sensitive.
  bool as_root = false;

  friend bool operator==(
      const core_dump_info&, const core_dump_info&) noexcept = default;
};

/// How a process ended: exited with a code, killed by a signal, or (for a
/// process that is not our child, on kernels that do not keep it) unknown.
/**
 * An exit code and a terminating signal are kept apart: a child killed by
 * SIGKILL has @c signaled() true and @c signal() == SIGKILL, never an exit
 * code of 9.
 *
 * Resource usage (@c user_time(), @c system_time(), @c max_rss()) is filled
 * in when the status was collected with @c waitid from our own child; it is
 * zero for statuses learned otherwise (adopted processes that are not our
 * children).
 *
 * Whether a core was dumped comes from the status word (its 0x80 bit),
 * for children and, where the kernel keeps it (Linux 6.15), for adopted
 * processes that are not our children. Where the kernel gives its own
 * account of the dump, @c core_dump() has it.
 *
 * @par Thread Safety
 * A value type: distinct objects safe, shared objects safe for reading.
 */
class exit_status
{
public:
  /// A status that says "exited, status unknown".
  constexpr exit_status() noexcept = default;

  /// A status decoded from a @c waitpid wait status word (as from
  /// <tt>waitpid(pid, &status, 0)</tt>).
  static exit_status from_wait_status(int wait_status) noexcept;

  /// True if the process called exit (or returned from main).
  bool exited() const noexcept { return kind_ == kind::exited; }

  /// The exit code (0-255) if exited(), else -1.
  int code() const noexcept;

  /// True if the process was terminated by a signal.
  bool signaled() const noexcept { return kind_ == kind::signaled; }

  /// The terminating signal if signaled(), else 0.
  int signal() const noexcept;

  /// True if the process was terminated by a signal and dumped core.
  bool core_dumped() const noexcept;

  /// The kernel's account of the core dump, if it gave one: from
  /// @c PIDFD_GET_INFO (Linux 6.16) for a process killed by a signal that
  /// dumps core, waited for through a pidfd. Empty for statuses from the
  /// wait4 fallback, on older kernels, and where the kernel fills nothing
  /// in: Linux 6.18 fills it in for cores given to a coredump socket
  /// (@c core_pattern "@..."), not for cores written to a file, which
  /// core_dumped() still reports.
  std::optional<core_dump_info> core_dump() const noexcept
  {
    if (!(core_dump_ & core_given))
      return std::nullopt;
    return core_dump_info{(core_dump_ & core_dumped_bit) != 0,
        (core_dump_ & core_skipped) != 0, (core_dump_ & core_as_user) != 0,
        (core_dump_ & core_as_root) != 0};
  }

  /// True if the kernel told how the process ended (exited or signaled).
  bool known() const noexcept { return kind_ != kind::unknown; }

  /// True if the process exited with code 0.
  bool success() const noexcept { return exited() && code() == 0; }

  /// The status word in @c waitpid format (use WIFEXITED etc. on it);
  /// 0 when the status is unknown.
  int native() const noexcept { return wait_status_; }

  /// CPU time the process spent in user mode (including its waited-for
  /// descendants, as @c wait4 reports it).
  std::chrono::microseconds user_time() const noexcept { return utime_; }

  /// CPU time the process spent in the kernel.
  std::chrono::microseconds system_time() const noexcept { return stime_; }

  /// Peak resident set size in bytes (from @c ru_maxrss).
  std::uint64_t max_rss() const noexcept { return max_rss_; }

  /// True if the kernel reported resource usage with the status (waitid
  /// or wait4 on our own child); false for statuses learned otherwise
  /// (adopted non-children, children the kernel reaped itself), whose
  /// user_time(), system_time() and max_rss() are 0.
  bool usage_known() const noexcept { return usage_known_; }

  /// Attaches resource usage; used by the library when it collects a
  /// status with waitid/wait4.
  void set_usage(std::chrono::microseconds user,
      std::chrono::microseconds system, std::uint64_t max_rss_bytes) noexcept
  {
    utime_ = user;
    stime_ = system;
    max_rss_ = max_rss_bytes;
    usage_known_ = true;
  }

  /// Attaches the kernel's account of a core dump; used by the library.
  void set_core_dump(const core_dump_info& info) noexcept
  {
    core_dump_ = static_cast<std::uint8_t>(core_given
        | (info.dumped ? core_dumped_bit : 0)
        | (info.skipped ? core_skipped : 0) | (info.as_user ? core_as_user : 0)
        | (info.as_root ? core_as_root : 0));
  }

  /// A readable description: "exited with code 3",
  /// "killed by SIGSEGV (core dumped)", "killed by SIGABRT (core dump
  /// skipped)", "exited, status unknown".
  std::string to_string() const;

  /// Equal if both describe the same ending; resource usage and the
  /// kernel's core dump account are not compared.
  friend bool operator==(const exit_status& a, const exit_status& b) noexcept
  {
    return a.kind_ == b.kind_ && a.wait_status_ == b.wait_status_;
  }

private:
  enum class kind : unsigned char
  {
    unknown,
    exited,
    signaled
  };

  // core_dump_'s bits: the account given, and its four fields.
  static constexpr std::uint8_t core_given = 1;
  static constexpr std::uint8_t core_dumped_bit = 2;
  static constexpr std::uint8_t core_skipped = 4;
  static constexpr std::uint8_t core_as_user = 8;
  static constexpr std::uint8_t core_as_root = 16;

  // 32 bytes: the small fields share the first 8 (the core dump account
  // as bits, not an optional of four bools), since every process's state
  // and every pending wait holds a status.
  kind kind_ = kind::unknown;
  bool usage_known_ = false;
  std::uint8_t core_dump_ = 0;
  int wait_status_ = 0;
  std::chrono::microseconds utime_{};
  std::chrono::microseconds stime_{};
  std::uint64_t max_rss_ = 0;
};

/// Writes exit_status::to_string().
std::ostream& operator<<(std::ostream& os, const exit_status& s);

} // namespace pidfd

#endif // PIDFD_EXIT_STATUS_HPP
