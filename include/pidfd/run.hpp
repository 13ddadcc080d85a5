//
// pidfd/run.hpp
// ~~~~~~~~~~~~~
// Run a program to completion and capture its output: subprocess.run with
// capture_output and timeout, or Go's cmd.Output(), done the Asio way.
//

#ifndef PIDFD_RUN_HPP
#define PIDFD_RUN_HPP

#include "pidfd/engine/run_support.hpp"
#include "pidfd/pty.hpp"
#include "pidfd/spawn.hpp"

#include <boost/asio/async_result.hpp>

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pidfd {

class run_child;

namespace detail {
template <typename Executor>
class initiate_run;
} // namespace detail

/// Options for async_run.
struct run_options
{
  /// How the child is started. @c spawn.out and @c spawn.err left at
  /// stdio::inherit() (the default, which cannot be told from "not set")
  /// are captured into run_result::out and run_result::err; with
  /// @c spawn.err = stdio::merge_with_stdout() both streams go where
  /// stdout goes, interleaved as the child wrote them. A stream the caller
  /// sends elsewhere (a file, an fd, null, a pipe of its own) goes there
  /// and is not captured: its string in the result stays empty (stdout to
  /// a log file while stderr is captured). @c spawn.in is the child's
  /// stdin unless @c input is given; both together are
  /// error::invalid_option, as is any of @c spawn.in, @c out or @c err
  /// with @c on_pty (other than a merged stderr, which the pty does
  /// anyway); run_result::spawn_error names the combination. Fds named
  /// here (stdio::fd(), inherit_fd()) are duplicated when async_run is
  /// called: the caller may close them as soon as it returns. async_run
  /// owns its child, so @c spawn.kill_on_destroy is always on.
  spawn_options spawn{};

  /// Data for the child's stdin, which is then closed; without it the
  /// child gets @c spawn.in (by default the parent's stdin). Together with
  /// a @c spawn.in of the caller's it is error::invalid_option: one stdin
  /// cannot have two sources.
  std::optional<std::string> input{};

  /// Runs the child on a pseudo-terminal: stdin, stdout and stderr are
  /// stdio::pty() of a pty of the run's own (@c spawn.terminal gives its
  /// size and modes), for programs that behave differently without a
  /// terminal; a stream of the caller's in @c spawn.in, @c out or @c err
  /// is error::invalid_option. Everything the child writes goes to
  /// run_result::out (with the terminal's @c "\r\n" line ends and, unless @c
  /// spawn.terminal.echo is off, the echo of the input), and @c input is typed
  /// into the terminal. A terminal's input has no end that closing could give:
  /// a program that reads to the end of its input needs @c "\x04" (^D, at the
  /// start of a line) in @c input. The child leads a session and process group
  /// of its own, which terminate_scope::tree reaches.
  bool on_pty = false;

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

  /// How long to wait for stdout and stderr to end (and stdin to be
  /// taken) once the child has been collected, whether it exited or was
  /// stopped at the timeout (Go's Cmd.WaitDelay). A descendant that keeps
  /// the pipes open then no longer holds the run: reading and writing
  /// stop, and the run completes with what was read and
  /// run_result::output_cut set. Without it, a run that stopped its child
  /// stops reading once the child is collected, and a run whose child
  /// exited by itself waits for the end of its output (or the timeout).
  /// The delay counts from the collection: output still in the pipes then
  /// is read only while it lasts, so a delay of zero can cut output that
  /// has ended. Negative is error::invalid_wait_delay.
  std::optional<std::chrono::steady_clock::duration> wait_delay{};

  /// The most bytes kept of each of stdout and stderr; what comes past it
  /// is handled as @c on_overflow says, and run_result::out_truncated or
  /// run_result::err_truncated is set.
  std::size_t output_limit = static_cast<std::size_t>(-1);

  /// What happens to output past output_limit.
  enum class overflow
  {
    /// It is read and dropped: the child is never blocked by a full pipe.
    discard,
    /// The child is stopped as at a timeout (stop_signal, then SIGKILL
    /// after @c grace); the output read until then is kept.
    stop
  };

  /// What happens to output past output_limit.
  overflow on_overflow = overflow::discard;

  /// How far a stop (timeout, cancellation, output limit) reaches: the
  /// child alone, or with terminate_scope::tree every process of its tree
  /// (its cgroup, @c spawn.cgroup, else its own process group,
  /// @c spawn.process_group; see basic_process::signal_tree()): the stop
  /// signal and SIGKILL go to the whole tree. With a cgroup, once the
  /// child is collected, whatever of the tree is left is killed when the
  /// run stops reading (at once, or when the wait delay expires) or if
  /// the run stopped the child, and the run completes once the cgroup is
  /// empty and a cgroup it created is removed (a failed removal is the
  /// run's error): no descendant holding the pipes outlives the run.
  /// (A process group cannot be signalled safely once its leader is
  /// collected: its id may be recycled.) Without a cgroup, a descendant
  /// that left the process group (@c setsid, @c setpgid) is neither
  /// signalled nor waited for, and the run_result does not say so; only a
  /// cgroup holds every descendant. A tree scope without a cgroup or a
  /// process group of its own is error::no_tree, and nothing is spawned.
  terminate_scope stop_scope = terminate_scope::process;
};

/// What async_run collected.
struct run_result
{
  /// How the child ended.
  exit_status status{};
  /// Everything it wrote to stdout and stderr (with a merged stderr, both
  /// are in @c out and @c err is empty). A stream the caller sent
  /// elsewhere (run_options::spawn) is not captured: its string is empty.
  std::string out{};
  std::string err{};
  /// From spawn to the end of the wait and of the output.
  std::chrono::steady_clock::duration elapsed{};
  /// True if the timeout expired before the run was over; the child was
  /// then terminated (or just collected, if it had exited already).
  bool timed_out = false;
  /// True if the run stopped reading stdout or stderr before its end: the
  /// wait delay expired, or the child was stopped (timeout, cancellation,
  /// output limit) and a descendant still held the pipe once it was
  /// collected.
  bool output_cut = false;
  /// True if stdout (stderr) went past run_options::output_limit: @c out
  /// (@c err) holds its first output_limit bytes.
  bool out_truncated = false;
  bool err_truncated = false;
  /// When the child could not be spawned: which part of the spawn failed
  /// and the words spawn's exception would add after the program (for
  /// example <tt>cgroup parent "/sys/fs/cgroup/x"</tt>), as the
  /// @c error_code overload of spawn fills it; also for an fd of the
  /// options that could not be duplicated, and for streams that cannot
  /// all be honoured (part::stdio, error::invalid_option).
  /// spawn_error_info::part::none otherwise.
  spawn_error_info spawn_error{};
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
 * open only until then. The run's parts (the reads, the write, the wait,
 * the timers, cancellation requests) run on that strand, so the io_context
 * may be run by any number of threads. The run's state is allocated with
 * the handler's associated allocator, and released before the handler is
 * called, on the handler's associated executor.
 *
 * @par Completion Signature
 * @code void(boost::system::error_code ec, pidfd::run_result result) @endcode
 * @c ec is a spawn error (then nothing ran, and @c result.spawn_error
 * says which part failed), error::invalid_option for streams that cannot
 * all be honoured (see run_options::spawn), error::invalid_grace_period
 * for a negative grace, error::invalid_wait_delay for a negative wait
 * delay, error::invalid_signal for a bad stop_signal, error::no_tree for
 * a tree scope without a tree,
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
 * affected; a run cancelled before its child was spawned spawns nothing
 * and completes with @c operation_aborted.
 *
 * @note With g++ 12, do not write the options as a braced temporary inside
 * @c co_await (<tt>co_await async_run(ctx, "sort", {"-r"}, {.timeout =
 * t}, use_awaitable)</tt>): g++ 12 destroys an aggregate temporary in a
 * @c co_await expression twice (and may copy it bitwise), which no
 * library can prevent. Name the options (<tt>run_options opts{.timeout =
 * t};</tt>) or use clang. Braced arguments (<tt>{"-r"}</tt>) are safe.
 */
template <detail::executor Executor,
    typename RunToken = boost::asio::default_completion_token_t<Executor>>
auto async_run(const Executor& ex, std::string_view program,
    const argument_list& args, run_options options = {},
    RunToken&& token = boost::asio::default_completion_token_t<Executor>())
{
  std::vector<std::string> owned(args.items().begin(), args.items().end());
  auto fds = std::make_shared<detail::captured_fds>();
  fds->capture(options.spawn);
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

#include "pidfd/impl/run.hpp"

#endif // PIDFD_RUN_HPP
