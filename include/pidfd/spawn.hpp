//
// pidfd/spawn.hpp
// ~~~~~~~~~~~~~~~
// Starting a child process, with its pidfd taken atomically.
//

#ifndef PIDFD_SPAWN_HPP
#define PIDFD_SPAWN_HPP

#include "pidfd/basic_process.hpp"
#include "pidfd/process.hpp"
#include "pidfd/engine/launch.hpp"
#include "pidfd/spawn_error_info.hpp"
#include "pidfd/spawn_options.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/basic_readable_pipe.hpp>
#include <boost/asio/basic_writable_pipe.hpp>
#include <boost/asio/error.hpp>

#include <boost/asio/execution_context.hpp>
#include <boost/asio/is_executor.hpp>
#include <boost/asio/execution/executor.hpp>
#include <boost/system/error_code.hpp>

#include <array>
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
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
  /**
   * A constructor of one or more strings rather than an
   * std::initializer_list: g++ 12 rejects an initializer_list temporary
   * inside a @c co_await expression ("array used as initializer"), and
   * <tt>co_await async_run(ctx, "sort", {"-r"}, ...)</tt> is the common
   * shape.
   */
  template <typename... Args>
  requires(sizeof...(Args) > 0
      && (std::convertible_to<const Args&, std::string_view> && ...))
      argument_list(const Args&... args) // NOLINT: implicit by design
  {
    (add(std::string_view(args)), ...);
  }

  /// From a range such as @c std::vector<std::string>.
  template <std::ranges::input_range Range>
  requires std::convertible_to<std::ranges::range_reference_t<Range>,
      std::string_view>
  argument_list(const Range& args) // NOLINT: implicit by design
  {
    for (auto&& a : args)
      add(std::string_view(a));
  }

  /// The arguments.
  std::span<const std::string_view> items() const noexcept
  {
    if (size_ <= inline_capacity)
      return {inline_.data(), size_};
    return spilled_;
  }

private:
  // A command line of up to this many arguments is held in the object
  // itself, so that spawning with a braced list costs no heap allocation
  // (issue #13). No member points into the object: copies stay valid.
  static constexpr std::size_t inline_capacity = 8;

  void add(std::string_view a)
  {
    if (size_ < inline_capacity)
      inline_[size_] = a;
    else
    {
      if (size_ == inline_capacity)
        spilled_.assign(inline_.begin(), inline_.end());
      spilled_.push_back(a);
    }
    ++size_;
  }

  std::array<std::string_view, inline_capacity> inline_{};
  std::vector<std::string_view> spilled_; // beyond inline_capacity
  std::size_t size_ = 0;
};

namespace detail {

// Checked by the binding, not the engine: the error is Asio's, and the
// child must not run when its pipe (or pty) cannot be handed over.
inline bool pipes_are_closed(const spawn_options& options,
    boost::system::error_code& ec, spawn_error_info& info)
{
  const std::pair<const stdio*, const char*> streams[] = {
      {&options.in, "stdin"}, {&options.out, "stdout"},
      {&options.err, "stderr"}};
  for (int fd = 0; fd < 3; ++fd)
    if (streams[fd].first->pipe_is_open())
    {
      ec = boost::asio::error::already_open;
      info.failed = spawn_error_info::part::stdio;
      info.child_fd = fd;
      info.detail = std::string(streams[fd].second)
          + (streams[fd].first->type() == stdio::kind::pty
                  ? ": the pty object is already open"
                  : ": the pipe object is already open");
      return false;
    }
  return true;
}

// Shared by both spawn overloads.
template <typename Executor>
basic_process<Executor> spawn_impl(const Executor& ex, std::string_view program,
    const argument_list& args, const spawn_options& options,
    boost::system::error_code& ec, spawn_error_info& info)
{
  ec.clear();
  info = {};
  if (!pipes_are_closed(options, ec, info))
    return basic_process<Executor>(ex);
  launched child = launch(program, args.items(), options, ec, info);
  if (ec)
    return basic_process<Executor>(ex);
  const process_init init = make_spawned(child, options, ec, info);
  return make_process(ex, make_io(ex, init, ec));
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
  spawn_error_info info;
  return detail::spawn_impl(ex, program, args, options, ec, info);
}

/// Starts a program as a child process, saying which part failed.
/**
 * As the other @c error_code overload; on failure @c info also says which
 * part of the spawn failed (the program, the working directory, which
 * stdio stream, which inherited fd, ...), in the words the exception's
 * what() would use. Cleared on success.
 */
template <detail::executor Executor>
basic_process<Executor> spawn(const Executor& ex, std::string_view program,
    const argument_list& args, const spawn_options& options,
    boost::system::error_code& ec, spawn_error_info& info)
{
  return detail::spawn_impl(ex, program, args, options, ec, info);
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
  spawn_error_info info;
  basic_process<Executor> p =
      detail::spawn_impl(ex, program, args, options, ec, info);
  if (ec)
    detail::throw_spawn_error(ec, program, info.detail);
  return p;
}

/// Starts a program as a child process, using the execution context's
/// executor; see the executor overload.
/**
 * As in Asio (<tt>tcp::socket s(ctx)</tt>), a process made from a context
 * is a pidfd::process, whose executor is an @c any_io_executor; pass
 * <tt>context.get_executor()</tt> for a process of that executor's type.
 */
template <detail::execution_context ExecutionContext>
process spawn(ExecutionContext& context, std::string_view program,
    const argument_list& args, const spawn_options& options,
    boost::system::error_code& ec)
{
  return spawn(boost::asio::any_io_executor(context.get_executor()), program,
      args, options, ec);
}

/// Starts a program as a child process, using the execution context's
/// executor, saying which part failed; see the executor overload.
/**
 * Returns a pidfd::process, as the other execution context overloads.
 */
template <detail::execution_context ExecutionContext>
process spawn(ExecutionContext& context, std::string_view program,
    const argument_list& args, const spawn_options& options,
    boost::system::error_code& ec, spawn_error_info& info)
{
  return spawn(boost::asio::any_io_executor(context.get_executor()), program,
      args, options, ec, info);
}

/// Starts a program as a child process, using the execution context's
/// executor; throws as the executor overload.
/**
 * Returns a pidfd::process, as the other execution context overloads.
 */
template <detail::execution_context ExecutionContext>
process spawn(ExecutionContext& context, std::string_view program,
    const argument_list& args = {}, const spawn_options& options = {})
{
  return spawn(boost::asio::any_io_executor(context.get_executor()), program,
      args, options);
}

} // namespace pidfd

#endif // PIDFD_SPAWN_HPP
