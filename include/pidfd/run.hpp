//
// pidfd/run.hpp
// ~~~~~~~~~~~~~
// Run a program to completion and capture its output: subprocess.run with
// capture_output and timeout, or Go's cmd.Output(), done the Asio way.
//

#ifndef PIDFD_RUN_HPP
#define PIDFD_RUN_HPP

#include "pidfd/spawn.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/writable_pipe.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace pidfd {

/// Options for async_run.
struct run_options
{
  /// How the child is started. async_run sets @c spawn.out and
  /// @c spawn.err (captured), and @c spawn.in when @c input is given.
  spawn_options spawn{};

  /// Data for the child's stdin, which is then closed; without it the
  /// child gets @c spawn.in (by default the parent's stdin).
  std::optional<std::string> input{};

  /// If the child has not exited and its output ended (and its input
  /// been written) after this long, the child is stopped with
  /// async_terminate(grace), reading and writing stop, and
  /// run_result::timed_out is set. Without it, async_run waits for the
  /// child and for the end of its output (a grandchild that keeps stdout
  /// open keeps async_run waiting, as with Python's subprocess.run).
  std::optional<std::chrono::steady_clock::duration> timeout{};

  /// The grace period between SIGTERM and SIGKILL after a timeout.
  std::chrono::steady_clock::duration grace = std::chrono::seconds(5);
};

/// What async_run collected.
struct run_result
{
  /// How the child ended.
  exit_status status{};
  /// Everything it wrote to stdout and stderr.
  std::string out{};
  std::string err{};
  /// From spawn to the end of the wait and of the output.
  std::chrono::steady_clock::duration elapsed{};
  /// True if the timeout expired before the run was over; the child was
  /// then terminated (or just collected, if it had exited already).
  bool timed_out = false;
};

namespace detail {

// Writes all of data to a non-blocking pipe fd; a reader that went away is
// not an error (the child chose not to read). The write never raises
// SIGPIPE in the parent.
boost::system::error_code write_no_sigpipe(
    int fd, const char*& data, std::size_t& size);

template <typename Executor>
boost::asio::awaitable<void, Executor> read_all(
    boost::asio::basic_readable_pipe<Executor>& pipe, std::string& into)
{
  // Ends at EOF, or when cancelled after a timeout.
  co_await boost::asio::async_read(pipe, boost::asio::dynamic_buffer(into),
      boost::asio::as_tuple(boost::asio::use_awaitable_t<Executor>()));
}

// `room` waits for the pipe to accept more; it belongs to the caller, so
// that a timeout can cancel that wait.
template <typename Executor>
boost::asio::awaitable<void, Executor> write_all(
    boost::asio::basic_writable_pipe<Executor>& pipe,
    boost::asio::posix::basic_stream_descriptor<Executor>& room,
    const std::optional<std::string>& input)
{
  if (!input)
    co_return;
  // Asio's pipe writes would raise SIGPIPE in the parent if the child
  // closes its stdin early; write here instead, and wait for room through
  // a descriptor on a duplicate fd (writable_pipe has no async_wait, and
  // one fd cannot be registered with the reactor twice).
  const char* data = input->data();
  std::size_t size = input->size();
  const int flags = ::fcntl(pipe.native_handle(), F_GETFL);
  if (flags == -1
      || ::fcntl(pipe.native_handle(), F_SETFL, flags | O_NONBLOCK) == -1)
    size = 0;
  while (size > 0 && pipe.is_open())
  {
    boost::system::error_code ec =
        write_no_sigpipe(pipe.native_handle(), data, size);
    if (ec != boost::asio::error::would_block)
      break;
    if (!room.is_open())
    {
      int fd = ::fcntl(pipe.native_handle(), F_DUPFD_CLOEXEC, 0);
      if (fd < 0)
        break;
      room.assign(fd, ec);
      if (ec)
      {
        ::close(fd);
        break;
      }
    }
    auto [wait_ec] = co_await room.async_wait(room.wait_write,
        boost::asio::as_tuple(boost::asio::use_awaitable_t<Executor>()));
    if (wait_ec)
      break;
  }
  boost::system::error_code ignored;
  room.close(ignored);
  pipe.close(ignored); // EOF for the child
}

template <typename Executor>
boost::asio::awaitable<std::tuple<boost::system::error_code, run_result>,
    Executor>
run(Executor ex, std::string program, std::vector<std::string> args,
    run_options options)
{
  using namespace boost::asio::experimental::awaitable_operators;
  using token = boost::asio::use_awaitable_t<Executor>;

  boost::asio::basic_readable_pipe<Executor> out(ex), err(ex);
  boost::asio::basic_writable_pipe<Executor> in(ex);
  boost::asio::posix::basic_stream_descriptor<Executor> room(ex);
  options.spawn.out = stdio::pipe(out);
  options.spawn.err = stdio::pipe(err);
  if (options.input)
    options.spawn.in = stdio::pipe(in);

  run_result result;
  const auto start = std::chrono::steady_clock::now();
  boost::system::error_code ec;
  basic_process<Executor> child = spawn(ex, program, args, options.spawn, ec);
  if (ec)
    co_return std::make_tuple(ec, std::move(result));

  boost::asio::basic_waitable_timer<std::chrono::steady_clock,
      boost::asio::wait_traits<std::chrono::steady_clock>, Executor>
      timer(ex);
  bool finished = false;
  boost::system::error_code terminate_ec;

  // The child's exit, the end of its output and of its input: what
  // async_run waits for.
  auto work = [&]() -> boost::asio::awaitable<void, Executor> {
    auto wait = [&]() -> boost::asio::awaitable<void, Executor> {
      std::tie(ec, result.status) =
          co_await child.async_wait(boost::asio::as_tuple(token()));
    };
    co_await (read_all(out, result.out) && read_all(err, result.err)
        && write_all(in, room, options.input) && wait());
    finished = true;
    timer.cancel();
  };

  // The timeout bounds all of that work, not just the wait: a grandchild
  // may keep the output open, or hold stdin without reading, after the
  // child itself has exited. It stops the child, then the I/O, and the
  // wait above gets the final status.
  auto guard = [&]() -> boost::asio::awaitable<void, Executor> {
    if (!options.timeout)
      co_return;
    timer.expires_after(*options.timeout);
    auto [timer_ec] = co_await timer.async_wait(boost::asio::as_tuple(token()));
    if (timer_ec || finished)
      co_return;
    result.timed_out = true;
    terminate_ec = std::get<0>(co_await child.async_terminate(
        options.grace, boost::asio::as_tuple(token())));
    // A terminate that failed (e.g. a negative grace) signalled nothing:
    // the wait would not end either.
    if (terminate_ec)
      child.cancel();
    boost::system::error_code ignored;
    out.cancel(ignored);
    err.cancel(ignored);
    room.cancel(ignored);
    in.close(ignored);
  };

  co_await (work() && guard());
  if (terminate_ec)
    ec = terminate_ec;
  result.elapsed = std::chrono::steady_clock::now() - start;
  co_return std::make_tuple(ec, std::move(result));
}

template <typename Executor>
class initiate_run
{
public:
  using executor_type = Executor;

  explicit initiate_run(const Executor& ex) : ex_(ex) {}

  executor_type get_executor() const noexcept { return ex_; }

  template <typename Handler>
  void operator()(Handler&& handler, std::string program,
      std::vector<std::string> args, run_options options) const
  {
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    auto handler_ex = boost::asio::get_associated_executor(handler, ex_);
    // Cancelling async_run cancels the coroutine, which leaves the child
    // as it is at that moment (a wait is cancelled, nothing is killed).
    boost::asio::co_spawn(ex_,
        run<Executor>(
            ex_, std::move(program), std::move(args), std::move(options)),
        boost::asio::bind_cancellation_slot(slot,
            [h = std::forward<Handler>(handler),
                work = boost::asio::make_work_guard(handler_ex)](
                std::exception_ptr e,
                std::tuple<boost::system::error_code, run_result> r) mutable {
              if (e)
                std::rethrow_exception(e); // only std::bad_alloc
              auto ex = work.get_executor();
              work.reset();
              boost::asio::dispatch(ex,
                  boost::asio::append(
                      std::move(h), std::get<0>(r), std::move(std::get<1>(r))));
            }));
  }

private:
  Executor ex_;
};

} // namespace detail

/// Runs a program to completion, capturing its stdout and stderr.
/**
 * Spawns the program (see pidfd::spawn), reads stdout and stderr
 * concurrently into strings (so a child that fills one pipe while we read
 * the other cannot deadlock), writes @c options.input to its stdin, and
 * waits for it to exit and for its output to end. With @c options.timeout,
 * a run not over by then is ended: the child is stopped with
 * async_terminate and the reading and writing stop.
 *
 * @par Completion Signature
 * @code void(boost::system::error_code ec, pidfd::run_result result) @endcode
 * @c ec is a spawn error (then nothing ran) or a wait error; the exit
 * status of a program that ran, successfully or not, is in
 * @c result.status.
 *
 * @par Per-Operation Cancellation
 * Supports @c terminal cancellation: the operation completes with
 * @c operation_aborted and the child is left as it is (it is reaped in the
 * background once it exits).
 */
template <detail::executor Executor,
    typename RunToken = boost::asio::default_completion_token_t<Executor>>
auto async_run(const Executor& ex, std::string_view program,
    const argument_list& args, run_options options = {},
    RunToken&& token = boost::asio::default_completion_token_t<Executor>())
{
  std::vector<std::string> owned(args.items().begin(), args.items().end());
  return boost::asio::async_initiate<RunToken,
      void(boost::system::error_code, run_result)>(
      detail::initiate_run<Executor>(ex), token, std::string(program),
      std::move(owned), std::move(options));
}

/// Runs a program to completion using the execution context's executor;
/// see the executor overload.
template <detail::execution_context ExecutionContext,
    typename RunToken = boost::asio::default_completion_token_t<
        typename ExecutionContext::executor_type>>
auto async_run(ExecutionContext& context, std::string_view program,
    const argument_list& args, run_options options = {},
    RunToken&& token = boost::asio::default_completion_token_t<
        typename ExecutionContext::executor_type>())
{
  return async_run(context.get_executor(), program, args, std::move(options),
      std::forward<RunToken>(token));
}

} // namespace pidfd

#endif // PIDFD_RUN_HPP
