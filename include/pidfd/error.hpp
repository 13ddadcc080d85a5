//
// pidfd/error.hpp
// ~~~~~~~~~~~~~~~
// Error codes of pidfd-asio and their boost::system integration.
//

#ifndef PIDFD_ERROR_HPP
#define PIDFD_ERROR_HPP

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace pidfd {

/// Errors reported by pidfd-asio itself.
/**
 * Failures that come from a system call are reported with the system
 * category instead (for example @c ECHILD from a wait on a process that was
 * reaped elsewhere, or the @c errno of a failed @c execve), so they compare
 * equal to the matching @c boost::system::errc values.
 *
 * Each value maps to a portable @c boost::system::errc condition, so code
 * that only checks conditions does not need to know this enum.
 */
enum class error
{
  /// The process has already finished; it can no longer be signalled.
  /// Condition: @c errc::no_such_process.
  process_done = 1,

  /// A signal number outside [0, NSIG) was given.
  /// Condition: @c errc::invalid_argument.
  invalid_signal,

  /// The process object does not refer to a process (default-constructed
  /// or moved-from). Condition: @c errc::bad_file_descriptor.
  no_process,

  /// A program name, argument or environment entry contains a NUL byte,
  /// which cannot be passed to @c execve. Condition:
  /// @c errc::invalid_argument.
  embedded_nul,

  /// The program name is empty. Condition:
  /// @c errc::no_such_file_or_directory.
  empty_program,

  /// A spawn option is invalid or conflicts with another (the exception's
  /// what() names it). Condition: @c errc::invalid_argument.
  invalid_option,

  /// A negative grace period for async_terminate or async_run.
  /// Condition: @c errc::invalid_argument.
  invalid_grace_period,

  /// A negative run_options::wait_delay. Condition:
  /// @c errc::invalid_argument.
  invalid_wait_delay,

  /// A tree operation (signal_tree, kill_tree, a tree-scoped
  /// async_terminate) on a process that heads no tree: it was spawned
  /// neither into a cgroup nor into a new process group, or adopted.
  /// Condition: @c errc::operation_not_supported.
  no_tree,

  /// async_wait_tree on a process that was not spawned into a cgroup: only
  /// a cgroup tells when the last descendant is gone. Condition:
  /// @c errc::operation_not_supported.
  no_cgroup,

  /// A pseudo-terminal window size with 0 rows or 0 columns
  /// (pty_options, basic_pty::resize). Condition:
  /// @c errc::invalid_argument.
  invalid_window_size,

  /// basic_process::identity() or export_handle() where the process has no
  /// pidfs pidfd: a kernel before 6.9 (6.14 for handles), the wait4
  /// fallback, or a process adopted after it was gone. Condition:
  /// @c errc::operation_not_supported.
  no_identity,

  /// A process handle that this library did not export, or that was
  /// changed (open_handle). Condition: @c errc::invalid_argument.
  invalid_handle,

  /// open_handle: the process the handle names has gone (it was reaped,
  /// or the machine has rebooted since). Condition:
  /// @c errc::no_such_process.
  process_gone
};

/// The category of pidfd::error; its name() is "pidfd".
const boost::system::error_category& error_category() noexcept;

/// Makes an error_code of the pidfd category.
inline boost::system::error_code make_error_code(error e) noexcept
{
  return {static_cast<int>(e), error_category()};
}

namespace detail {

// Throws boost::system::system_error(ec, what): the throwing overloads of
// the I/O objects, out of line.
[[noreturn]] void throw_error(
    const boost::system::error_code& ec, const char* what);

} // namespace detail
} // namespace pidfd

namespace boost::system {

template <>
struct is_error_code_enum<pidfd::error> : std::true_type
{
};

} // namespace boost::system

#endif // PIDFD_ERROR_HPP
