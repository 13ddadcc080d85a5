//
// pidfd/run.hpp
// ~~~~~~~~~~~~~
// Run a program to completion and capture its output: subprocess.run with
// capture_output and timeout, or Go's cmd.Output(), done the Asio way.
//

#ifndef PIDFD_RUN_HPP
#define PIDFD_RUN_HPP

#include "pidfd/detail/run_support.hpp"
#include "pidfd/spawn.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/writable_pipe.hpp>

#include <chrono>
#include <csignal>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace pidfd {

class run_child;

/// Options for async_run.
struct run_options
{
  /// How the child is started. async_run sets @c spawn.out (captured),
  /// @c spawn.err (captured, unless it is stdio::merge_with_stdout(): then
  /// both streams go to run_result::out, interleaved as the child wrote
  /// them), and @c spawn.in when @c input is given. Fds named here
  /// (stdio::fd(), inherit_fd()) are duplicated when async_run is called:
  /// the caller may close them as soon as it returns. async_run owns its
  /// child, so @c spawn.kill_on_destroy is always on.
  spawn_options spawn{};

  /// Data for the child's stdin, which is then closed; without it the
  /// child gets @c spawn.in (by default the parent's stdin).
  std::optional<std::string> input{};

  /// If the child has not exited and its output ended (and its input
  /// been written) after this long, the child is stopped (stop_signal,
  /// then SIGKILL after @c grace), reading and writing stop, and
  /// run_result::timed_out is set. Without it, async_run waits for the
  /// child and for the end of its output (a grandchild that keeps stdout
  /// open keeps async_run waiting, as with Python's subprocess.run).
  std::optional<std::chrono::steady_clock::duration> timeout{};

  /// The grace period between stop_signal and SIGKILL, after a timeout or
  /// a partial or total cancellation; negative is
  /// error::invalid_grace_period.
  std::chrono::steady_clock::duration grace = std::chrono::seconds(5);

  /// The signal that starts a graceful stop (a timeout, or a partial or
  /// total cancellation); SIGKILL follows if the child is still there
  /// after @c grace. Outside [1, _NSIG) it is error::invalid_signal.
  int stop_signal = SIGTERM;

  /// Called once the child runs, before anything is read or written, on
  /// the run's own strand: the caller's handle on the child (its pid, and
  /// signals through its pidfd). An exception it throws kills the child
  /// and propagates out of the io_context's @c run().
  std::function<void(const run_child&)> on_spawn{};
};

/// What async_run collected.
struct run_result
{
  /// How the child ended.
  exit_status status{};
  /// Everything it wrote to stdout and stderr (with a merged stderr, both
  /// are in @c out and @c err is empty).
  std::string out{};
  std::string err{};
  /// From spawn to the end of the wait and of the output.
  std::chrono::steady_clock::duration elapsed{};
  /// True if the timeout expired before the run was over; the child was
  /// then terminated (or just collected, if it had exited already).
  bool timed_out = false;
};

/// The running child of an async_run, as run_options::on_spawn sees it.
/**
 * A copyable view of the process that async_run owns: it can be kept and
 * used while the run goes on, and after the run has completed its signals
 * report error::process_done. It cannot wait for the child (the run does
 * that) or keep it alive. Like an I/O object, it must not outlive the
 * run's execution context.
 */
class run_child
{
public:
  /// The child's process id.
  pid_t id() const noexcept { return impl_->pid(); }

  /// The child's pidfd while the run lasts (-1 in the wait4 fallback);
  /// the run keeps ownership.
  int native_handle() const noexcept { return impl_->pidfd(); }

  /// Sends a signal through the pidfd; see basic_process::signal().
  void signal(int sig) const
  {
    boost::system::error_code ec;
    signal(sig, ec);
    if (ec)
      detail::throw_error(ec, "signal");
  }

  /// Sends a signal through the pidfd; errors as basic_process::signal().
  void signal(int sig, boost::system::error_code& ec) const
  {
    impl_->signal(sig, ec);
  }

  /// Signals the child's process group; see basic_process::signal_group().
  void signal_group(int sig) const
  {
    boost::system::error_code ec;
    signal_group(sig, ec);
    if (ec)
      detail::throw_error(ec, "signal_group");
  }

  /// Signals the child's process group; errors as
  /// basic_process::signal_group().
  void signal_group(int sig, boost::system::error_code& ec) const
  {
    impl_->signal_group(sig, ec);
  }

  /// @cond internal
  explicit run_child(std::shared_ptr<detail::process_state> impl) noexcept
    : impl_(std::move(impl))
  {
  }
  /// @endcond

private:
  std::shared_ptr<detail::process_state> impl_;
};

namespace detail {

// Shared by a run and the handler it installs in the caller's
// cancellation slot: the strongest cancellation asked for, and how to wake
// the run (set by the run while it lasts). Used on the run's strand only.
struct run_control
{
  boost::asio::cancellation_type requested =
      boost::asio::cancellation_type::none;
  std::function<void()> wake;

  void request(boost::asio::cancellation_type type)
  {
    requested |= type;
    if (wake)
      wake();
  }
};

// What the caller's cancellation slot holds: a request, carried to the
// run's strand (the slot may be emitted from any handler of the caller's).
template <typename Strand>
struct run_cancellation
{
  std::shared_ptr<run_control> control;
  Strand strand;

  void operator()(boost::asio::cancellation_type type) const
  {
    if (type == boost::asio::cancellation_type::none)
      return;
    boost::asio::post(strand, [c = control, type] { c->request(type); });
  }
};

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

// The run itself, on a strand of the caller's executor, so that its parts
// (the reads, the write, the wait, the guard) and the cancellation
// requests never run at the same time, whatever threads run the
// io_context.
template <typename Executor>
boost::asio::awaitable<std::tuple<boost::system::error_code, run_result>,
    Executor>
run(Executor ex, std::string program, std::vector<std::string> args,
    run_options options, std::shared_ptr<captured_fds> fds,
    std::shared_ptr<run_control> control)
{
  using namespace boost::asio::experimental::awaitable_operators;
  using token = boost::asio::use_awaitable_t<Executor>;
  using clock = std::chrono::steady_clock;

  run_result result;
  if (fds->ec)
    co_return std::make_tuple(fds->ec, std::move(result));
  // Checked before anything runs: a stop that could not be carried out
  // would leave the child running.
  if (options.grace < clock::duration::zero())
    co_return std::make_tuple(
        boost::system::error_code(error::invalid_grace_period),
        std::move(result));
  if (options.stop_signal <= 0 || options.stop_signal >= _NSIG)
    co_return std::make_tuple(
        boost::system::error_code(error::invalid_signal), std::move(result));

  boost::asio::basic_readable_pipe<Executor> out(ex), err(ex);
  boost::asio::basic_writable_pipe<Executor> in(ex);
  boost::asio::posix::basic_stream_descriptor<Executor> room(ex);
  const bool merged = options.spawn.err.type() == stdio::kind::stdout_merge;
  options.spawn.out = stdio::pipe(out);
  if (!merged)
    options.spawn.err = stdio::pipe(err);
  if (options.input)
    options.spawn.in = stdio::pipe(in);
  // The run owns its child: however the run ends, even by the io_context
  // being destroyed, the child does not outlive it.
  options.spawn.kill_on_destroy = true;

  const auto start = clock::now();
  boost::system::error_code ec;
  basic_process<Executor> child = spawn(ex, program, args, options.spawn, ec);
  fds.reset(); // the child has its copies now
  if (ec)
    co_return std::make_tuple(ec, std::move(result));
  if (options.on_spawn)
    options.on_spawn(run_child(impl_of(child)));

  // Wakes the guard: at the deadline, or early for a cancellation request
  // or the end of the work.
  boost::asio::basic_waitable_timer<clock, boost::asio::wait_traits<clock>,
      Executor>
      timer(ex);
  bool finished = false; // the work below is over
  bool stopping = false; // the guard is stopping the child
  bool killed = false; // SIGKILL was sent
  bool aborted = false; // a cancellation came before the run was over
  boost::system::error_code terminate_ec;

  auto kill_child = [&] {
    killed = true;
    boost::system::error_code ignored; // process_done if it has exited
    child.signal(SIGKILL, ignored);
  };
  auto terminal_requested = [&] {
    return (control->requested & boost::asio::cancellation_type::terminal)
        != boost::asio::cancellation_type::none;
  };
  // The frame may end without reaching the end of this function (its
  // io_context destroyed): wake must not outlive what it refers to.
  struct wake_reset
  {
    run_control& control;
    ~wake_reset() { control.wake = nullptr; }
  } reset_wake{*control};
  control->wake = [&] {
    if (finished)
      return;
    aborted = true;
    // A graceful stop under way becomes SIGKILL at a terminal request.
    if (stopping && terminal_requested() && !killed)
      kill_child();
    timer.cancel();
  };

  // The child's exit, the end of its output and of its input: what
  // async_run waits for.
  auto work = [&]() -> boost::asio::awaitable<void, Executor> {
    auto wait = [&]() -> boost::asio::awaitable<void, Executor> {
      std::tie(ec, result.status) =
          co_await child.async_wait(boost::asio::as_tuple(token()));
    };
    if (merged)
      co_await (read_all(out, result.out) && write_all(in, room, options.input)
          && wait());
    else
      co_await (read_all(out, result.out) && read_all(err, result.err)
          && write_all(in, room, options.input) && wait());
    finished = true;
    timer.cancel();
  };

  // The timeout and cancellation bound all of that work, not just the
  // wait: a grandchild may keep the output open, or hold stdin without
  // reading, after the child itself has exited. The guard stops the child
  // (gracefully, or with SIGKILL for a terminal cancellation), waits until
  // it is collected, then stops the I/O; the wait above gets the final
  // status.
  auto guard = [&]() -> boost::asio::awaitable<void, Executor> {
    const auto deadline =
        options.timeout ? start + *options.timeout : clock::time_point::max();
    while (!finished)
    {
      if (control->requested == boost::asio::cancellation_type::none)
      {
        if (clock::now() < deadline)
        {
          timer.expires_at(deadline);
          co_await timer.async_wait(boost::asio::as_tuple(token()));
          continue;
        }
        result.timed_out = true;
      }
      else
        aborted = true;
      stopping = true;
      if (terminal_requested())
      {
        kill_child();
        co_await child.async_wait(boost::asio::as_tuple(token()));
      }
      else
      {
        terminate_ec = std::get<0>(co_await async_terminate_impl(impl_of(child),
            ex, options.stop_signal, options.grace,
            boost::asio::as_tuple(token())));
        if (terminate_ec)
        {
          // Nothing was signalled (the options were checked, so this is
          // unexpected): never leave the child running.
          kill_child();
          co_await child.async_wait(boost::asio::as_tuple(token()));
        }
      }
      boost::system::error_code ignored;
      out.cancel(ignored);
      err.cancel(ignored);
      room.cancel(ignored);
      in.close(ignored);
      break;
    }
  };

  co_await (work() && guard());
  if (aborted)
    ec = boost::asio::error::operation_aborted;
  else if (terminate_ec)
    ec = terminate_ec;
  result.elapsed = clock::now() - start;
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
      std::vector<std::string> args, run_options options,
      std::shared_ptr<captured_fds> fds) const
  {
    using strand_type = decltype(boost::asio::make_strand(ex_));
    strand_type strand = boost::asio::make_strand(ex_);
    auto control = std::make_shared<run_control>();
    // Cancellation is ours to carry out, not the coroutine's: a cancelled
    // run stops its child and completes once the child is collected.
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected())
      slot.template emplace<run_cancellation<strand_type>>(
          run_cancellation<strand_type>{control, strand});
    auto handler_ex = boost::asio::get_associated_executor(handler, ex_);
    boost::asio::co_spawn(strand,
        run<strand_type>(strand, std::move(program), std::move(args),
            std::move(options), std::move(fds), control),
        [h = std::forward<Handler>(handler),
            work = boost::asio::make_work_guard(handler_ex)](
            std::exception_ptr e,
            std::tuple<boost::system::error_code, run_result> r) mutable {
          auto slot = boost::asio::get_associated_cancellation_slot(h);
          if (slot.is_connected())
            slot.clear();
          if (e)
            std::rethrow_exception(e); // std::bad_alloc, or from on_spawn
          auto ex = work.get_executor();
          work.reset();
          boost::asio::dispatch(ex,
              boost::asio::append(
                  std::move(h), std::get<0>(r), std::move(std::get<1>(r))));
        });
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
 * a run not over by then is ended: the child is stopped (stop_signal, then
 * SIGKILL after the grace period) and the reading and writing stop.
 *
 * The child is spawned when the operation runs, on a strand of @c ex, not
 * inside this function; a spawn error is delivered to the handler. The
 * strings and the options are copied, and the fds the options name are
 * duplicated before this function returns: the caller's fds need to stay
 * open only until then.
 *
 * @par Completion Signature
 * @code void(boost::system::error_code ec, pidfd::run_result result) @endcode
 * @c ec is a spawn error (then nothing ran), error::invalid_grace_period
 * for a negative grace, error::invalid_signal for a bad stop_signal,
 * @c operation_aborted after a cancellation, or a wait error; the exit
 * status of a program that ran, successfully or not, is in
 * @c result.status.
 *
 * @par Per-Operation Cancellation
 * The run owns its child, so cancelling it stops the child: @c terminal
 * cancellation sends SIGKILL at once; @c partial and @c total cancellation
 * stop it gracefully (run_options::stop_signal, then SIGKILL after
 * run_options::grace). Either way the reading and writing then stop, and
 * the operation completes once the child is collected, with
 * @c operation_aborted, the child's status and the output read so far. A
 * run whose child has already exited and whose output has ended is not
 * affected.
 */
template <detail::executor Executor,
    typename RunToken = boost::asio::default_completion_token_t<Executor>>
auto async_run(const Executor& ex, std::string_view program,
    const argument_list& args, run_options options = {},
    RunToken&& token = boost::asio::default_completion_token_t<Executor>())
{
  std::vector<std::string> owned(args.items().begin(), args.items().end());
  auto fds = std::make_shared<detail::captured_fds>();
  fds->capture(options.spawn, options.input.has_value());
  return boost::asio::async_initiate<RunToken,
      void(boost::system::error_code, run_result)>(
      detail::initiate_run<Executor>(ex), token, std::string(program),
      std::move(owned), std::move(options), std::move(fds));
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
