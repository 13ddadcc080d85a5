//
// pidfd/spawn.hpp
// ~~~~~~~~~~~~~~~
// Starting a child process, with its pidfd taken atomically.
//

#ifndef PIDFD_SPAWN_HPP
#define PIDFD_SPAWN_HPP

#include "pidfd/basic_process.hpp"
#include "pidfd/spawn_options.hpp"

#include <boost/asio/execution_context.hpp>
#include <boost/asio/is_executor.hpp>
#include <boost/asio/execution/executor.hpp>
#include <boost/system/error_code.hpp>

#include <concepts>
#include <initializer_list>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace pidfd {

/// The arguments of a child (argv[1..]); built from a braced list of
/// strings or from any range of things convertible to std::string_view.
/// It only views the strings, which must outlive the spawn call.
class argument_list
{
public:
  /// No arguments.
  argument_list() = default;

  /// From a braced list: <tt>{"-l", "/tmp"}</tt>.
  argument_list(std::initializer_list<std::string_view> args) : items_(args) {}

  /// From a range such as @c std::vector<std::string>.
  template <std::ranges::input_range Range>
  requires std::convertible_to<std::ranges::range_reference_t<Range>,
      std::string_view>
  argument_list(const Range& args) // NOLINT: implicit by design
  {
    for (auto&& a : args)
      items_.emplace_back(a);
  }

  /// The arguments.
  std::span<const std::string_view> items() const noexcept { return items_; }

private:
  std::vector<std::string_view> items_;
};

namespace detail {

// A freshly spawned child: its pidfd (owned by the caller) and PID.
struct launched
{
  int pidfd = -1;
  pid_t pid = 0;
};

// Starts the child; on failure (including a failed execve) no child and no
// fd remain, and `detail` says what failed when it is not the program
// itself (a directory, a file, an option).
launched launch(std::string_view program,
    std::span<const std::string_view> args, const spawn_options& options,
    boost::system::error_code& ec, std::string& detail);

// The handle for a launched child; on failure the child is killed and
// reaped, and nullptr returned.
std::shared_ptr<process_impl> make_spawned(
    const boost::asio::any_io_executor& ex, const launched& child,
    const spawn_options& options, boost::system::error_code& ec);

[[noreturn]] void throw_spawn_error(const boost::system::error_code& ec,
    std::string_view program, const std::string& detail);

// Shared by both spawn overloads.
template <typename Executor>
basic_process<Executor> spawn_impl(const Executor& ex, std::string_view program,
    const argument_list& args, const spawn_options& options,
    boost::system::error_code& ec, std::string& detail)
{
  launched child = launch(program, args.items(), options, ec, detail);
  if (ec)
    return basic_process<Executor>(ex);
  return make_process(ex, make_spawned(ex, child, options, ec));
}

template <typename T>
concept executor = boost::asio::execution::is_executor<
    T>::value || boost::asio::is_executor<T>::value;

template <typename T>
concept execution_context =
    std::is_convertible_v<T&, boost::asio::execution_context&>;

} // namespace detail

/// Starts a program as a child process.
/**
 * The child is created with @c clone3(CLONE_PIDFD | CLONE_VM | CLONE_VFORK)
 * so its pidfd exists from the first instant and the parent's memory is
 * never copied; the fd table is shared until the child keeps a private
 * copy of fds 0-2 only (@c close_range with @c CLOSE_RANGE_UNSHARE), so
 * spawn cost does not grow with the parent's memory or open fds. The
 * function returns once the child has called @c execve successfully.
 *
 * @param ex The executor (or, in the other overload, execution context)
 * the process object will use.
 * @param program The program; without a slash it is looked up in @c PATH
 * (default "/bin:/usr/bin") as @c execvp does.
 * @param args argv[1..]; argv[0] is @c options.argv0 or @c program.
 * @param options See spawn_options.
 * @param ec Set on failure: the @c errno of the failed @c execve (e.g.
 * @c errc::no_such_file_or_directory, @c errc::permission_denied,
 * @c errc::executable_format_error), of @c clone3, or error::embedded_nul,
 * error::empty_program. No child, zombie or fd is left behind.
 *
 * @returns The process; does not refer to a process on failure.
 */
template <detail::executor Executor>
basic_process<Executor> spawn(const Executor& ex, std::string_view program,
    const argument_list& args, const spawn_options& options,
    boost::system::error_code& ec)
{
  std::string what;
  return detail::spawn_impl(ex, program, args, options, ec, what);
}

/// Starts a program as a child process; see the @c error_code overload.
/**
 * @throws boost::system::system_error whose what() names the program.
 */
template <detail::executor Executor>
basic_process<Executor> spawn(const Executor& ex, std::string_view program,
    const argument_list& args = {}, const spawn_options& options = {})
{
  boost::system::error_code ec;
  std::string what;
  basic_process<Executor> p =
      detail::spawn_impl(ex, program, args, options, ec, what);
  if (ec)
    detail::throw_spawn_error(ec, program, what);
  return p;
}

/// Starts a program as a child process, using the execution context's
/// executor; see the executor overload.
template <detail::execution_context ExecutionContext>
basic_process<typename ExecutionContext::executor_type> spawn(
    ExecutionContext& context, std::string_view program,
    const argument_list& args, const spawn_options& options,
    boost::system::error_code& ec)
{
  return spawn(context.get_executor(), program, args, options, ec);
}

/// Starts a program as a child process, using the execution context's
/// executor; throws as the executor overload.
template <detail::execution_context ExecutionContext>
basic_process<typename ExecutionContext::executor_type> spawn(
    ExecutionContext& context, std::string_view program,
    const argument_list& args = {}, const spawn_options& options = {})
{
  return spawn(context.get_executor(), program, args, options);
}

} // namespace pidfd

#endif // PIDFD_SPAWN_HPP
