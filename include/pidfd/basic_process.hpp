//
// pidfd/basic_process.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// A child (or adopted) process as an Asio I/O object backed by a pidfd.
//

#ifndef PIDFD_BASIC_PROCESS_HPP
#define PIDFD_BASIC_PROCESS_HPP

#include "pidfd/impl/process_io.hpp"
#include "pidfd/error.hpp"
#include "pidfd/exit_status.hpp"
#include "pidfd/engine/identity.hpp"
#include "pidfd/process_identity.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/is_executor.hpp>
#include <boost/asio/execution/executor.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <sys/types.h>

namespace pidfd {

template <typename Executor>
class basic_process;

namespace detail {

template <typename Executor>
basic_process<Executor> make_process(
    const Executor& ex, std::shared_ptr<process_io> impl);

// The shared state of a process object, for the library's own composed
// operations (async_run).
template <typename Executor>
const std::shared_ptr<process_io>& impl_of(
    const basic_process<Executor>& p) noexcept;

} // namespace detail

/// What async_terminate() stops.
enum class terminate_scope
{
  /// The process alone (the overload without a scope).
  process,
  /// The process and its descendants: its cgroup, or its process group;
  /// see basic_process::signal_tree(). Without a cgroup, a descendant
  /// that left the group (@c setsid, @c setpgid) is not reached, and
  /// nothing reports it: only a cgroup holds every descendant.
  tree
};

/// A process, waited for and signalled through its pidfd.
/**
 * A basic_process refers to one process for its whole life: it holds a
 * pidfd, so a signal can never reach another process that was given a
 * recycled PID, and a wait never needs a SIGCHLD handler. Processes are
 * created with pidfd::spawn, or adopted with adopt() / adopt_pidfd().
 *
 * Destroying a basic_process does not kill the process; outstanding waits
 * complete with @c boost::asio::error::operation_aborted.
 *
 * @par Thread Safety
 * @e Distinct @e objects: Safe.@n
 * @e Shared @e objects: Unsafe, as for Asio's own I/O objects; the
 * completion of a wait may run on any thread running the io_context while
 * the owner uses the object.
 */
template <typename Executor = boost::asio::any_io_executor>
class basic_process
{
public:
  /// The type of the executor associated with the object.
  using executor_type = Executor;

  /// Rebinds the process type to another executor.
  template <typename Executor1>
  struct rebind_executor
  {
    /// The process type when rebound to the specified executor.
    using other = basic_process<Executor1>;
  };

  /// The native handle: the pidfd.
  using native_handle_type = int;

  /// Constructs an object that does not refer to a process.
  explicit basic_process(const executor_type& ex) : executor_(ex) {}

  /// Constructs an object that does not refer to a process, using the
  /// execution context's executor.
  template <typename ExecutionContext>
  explicit basic_process(ExecutionContext& context,
      std::enable_if_t<std::is_convertible_v<ExecutionContext&,
          boost::asio::execution_context&>>* = nullptr)
    : executor_(context.get_executor())
  {
  }

  /// Move-constructs; @c other no longer refers to a process. Outstanding
  /// operations keep working.
  basic_process(basic_process&& other) noexcept
    : executor_(other.executor_), impl_(std::move(other.impl_))
  {
  }

  /// Move-constructs from a process with another executor type.
  template <typename Executor1>
  basic_process(basic_process<Executor1>&& other,
      std::enable_if_t<std::is_convertible_v<Executor1, Executor>>* =
          nullptr) noexcept
    : executor_(other.executor_), impl_(std::move(other.impl_))
  {
  }

  /// Move-assigns; the process this object referred to is released as by
  /// the destructor.
  basic_process& operator=(basic_process&& other) noexcept
  {
    if (this != &other)
    {
      close();
      executor_ = other.executor_;
      impl_ = std::move(other.impl_);
    }
    return *this;
  }

  /// Not copyable: one object owns the process; move it instead.
  basic_process(const basic_process&) = delete;
  basic_process& operator=(const basic_process&) = delete;

  /// Gives up the process. Outstanding waits complete with
  /// @c operation_aborted. A spawned child that still runs keeps running
  /// (unless spawn_options::kill_on_destroy was set: then it is killed),
  /// and is reaped in the background once it exits, by a wait on the
  /// io_context; other processes are simply released.
  ~basic_process() { close(); }

  /// Adopts a process started elsewhere, by PID (via @c pidfd_open).
  /**
   * The PID is resolved once, now; from then on the object refers to that
   * process only. If no process has that PID, the result is a process in
   * the "done" state, as Go's @c os.FindProcess: a wait reports
   * @c errc::no_child_process and a signal reports error::process_done.
   *
   * If the process is our child, waits collect its status (and reap it).
   * If not, waits complete when it exits, with the exit status when the
   * kernel keeps it (Linux 6.15 @c PIDFD_INFO_EXIT, or the zombie's
   * @c /proc entry), else with a status that is not known().
   *
   * @throws boost::system::system_error for pid <= 0 or a thread id
   * (@c errc::invalid_argument), or when @c pidfd_open fails.
   */
  static basic_process adopt(const executor_type& ex, pid_t pid)
  {
    boost::system::error_code ec;
    basic_process p = adopt(ex, pid, ec);
    if (ec)
      detail::throw_error(ec, "adopt");
    return p;
  }

  /// Adopts a process started elsewhere, by PID; see adopt().
  static basic_process adopt(
      const executor_type& ex, pid_t pid, boost::system::error_code& ec)
  {
    const detail::process_init init = detail::adopt_pid(pid, ec);
    return detail::make_process(ex, detail::make_io(ex, init, ec));
  }

  /// Adopts an existing pidfd, taking ownership of it.
  /**
   * @throws boost::system::system_error if @c pidfd is not a pidfd
   * (@c errc::bad_file_descriptor or @c errc::invalid_argument).
   */
  static basic_process adopt_pidfd(
      const executor_type& ex, native_handle_type pidfd)
  {
    boost::system::error_code ec;
    basic_process p = adopt_pidfd(ex, pidfd, ec);
    if (ec)
      detail::throw_error(ec, "adopt_pidfd");
    return p;
  }

  /// Adopts an existing pidfd, taking ownership of it (on success only).
  static basic_process adopt_pidfd(const executor_type& ex,
      native_handle_type pidfd, boost::system::error_code& ec)
  {
    const detail::process_init init = detail::adopt_pidfd(pidfd, ec);
    return detail::make_process(ex, detail::make_io(ex, init, ec));
  }

  /// Opens a process from a handle that export_handle() gave, in this or
  /// another program, on this boot: the object then signals and awaits
  /// exactly that process, as adopt_pidfd() (the exit status of a process
  /// that is not our child comes as for adopt()).
  /**
   * @throws boost::system::system_error with error::process_gone if the
   * process has been reaped (or the machine rebooted since),
   * error::invalid_handle for a string export_handle() did not make on
   * this kernel (changed, truncated, extended), error::no_identity where
   * pidfs has no handles (Linux 6.14), or the error of
   * @c open_by_handle_at (e.g. @c errc::operation_not_permitted for a
   * process the caller may not open a pidfd of).
   */
  static basic_process open_handle(
      const executor_type& ex, std::string_view handle)
  {
    boost::system::error_code ec;
    basic_process p = open_handle(ex, handle, ec);
    if (ec)
      detail::throw_error(ec, "open_handle");
    return p;
  }

  /// Opens a process from its handle; errors as open_handle().
  static basic_process open_handle(const executor_type& ex,
      std::string_view handle, boost::system::error_code& ec)
  {
    const int pidfd = detail::open_handle(handle, ec);
    if (ec)
      return basic_process(ex);
    return adopt_pidfd(ex, pidfd, ec);
  }

  /// Returns the executor associated with the object.
  executor_type get_executor() const noexcept { return executor_; }

  /// Who the process is, unlike its PID never anyone else (see
  /// process_identity): equal for every object of the same process.
  /**
   * @throws boost::system::system_error with error::no_identity where the
   * process has no pidfd on pidfs (a kernel before 6.9, the wait4
   * fallback, a process adopted after it was gone), or error::no_process.
   */
  process_identity identity() const
  {
    boost::system::error_code ec;
    process_identity id = identity(ec);
    if (ec)
      detail::throw_error(ec, "identity");
    return id;
  }

  /// Who the process is; errors as identity().
  process_identity identity(boost::system::error_code& ec) const
  {
    if (!impl_)
    {
      ec = error::no_process;
      return {};
    }
    return detail::identity_of(impl_->pidfd(), ec);
  }

  /// A handle of the process that outlives this program: a short string
  /// (ASCII, no newline) to store, for example in a supervisor's state
  /// file, and to give to open_handle() later, from any program on this
  /// boot, while the process is not reaped.
  /**
   * @throws boost::system::system_error as identity() (handles need
   * Linux 6.14).
   */
  std::string export_handle() const
  {
    boost::system::error_code ec;
    std::string handle = export_handle(ec);
    if (ec)
      detail::throw_error(ec, "export_handle");
    return handle;
  }

  /// A handle of the process; errors as export_handle().
  std::string export_handle(boost::system::error_code& ec) const
  {
    if (!impl_)
    {
      ec = error::no_process;
      return {};
    }
    return detail::export_handle(impl_->pidfd(), ec);
  }

  /// True if the object refers to a process.
  bool is_open() const noexcept { return impl_ != nullptr; }

  /// The process id, or 0 if the object refers to no process.
  /**
   * Use it for display and for tools that take a PID; signal through
   * signal() instead of @c kill(id()), which could hit a recycled PID.
   */
  pid_t id() const noexcept { return impl_ ? impl_->pid() : 0; }

  /// The pidfd, or -1 (no process, or a process adopted after it was gone).
  /// The object keeps ownership.
  native_handle_type native_handle() const noexcept
  {
    return impl_ ? impl_->pidfd() : -1;
  }

  /// Gives up ownership of the pidfd and returns it (-1 if none); the
  /// object then refers to no process. Outstanding waits complete with
  /// @c operation_aborted.
  native_handle_type release();

  /// Waits for the process to finish, blocking the calling thread.
  /**
   * @returns the exit status; a status collected earlier (by any wait on
   * this object) is returned again.
   * @throws boost::system::system_error with @c errc::no_child_process if
   * the status was collected elsewhere (another @c waitpid), or
   * error::no_process.
   */
  exit_status wait()
  {
    boost::system::error_code ec;
    exit_status s = wait(ec);
    if (ec)
      detail::throw_error(ec, "wait");
    return s;
  }

  /// Waits for the process to finish, blocking the calling thread.
  exit_status wait(boost::system::error_code& ec);

  /// Collects the exit status if the process has finished, without
  /// blocking; @c std::nullopt while it runs.
  /**
   * @throws boost::system::system_error as wait().
   */
  std::optional<exit_status> try_wait()
  {
    boost::system::error_code ec;
    std::optional<exit_status> s = try_wait(ec);
    if (ec)
      detail::throw_error(ec, "try_wait");
    return s;
  }

  /// Collects the exit status if the process has finished, without
  /// blocking; @c std::nullopt while it runs or on error.
  std::optional<exit_status> try_wait(boost::system::error_code& ec);

  /// Sends a signal through the pidfd (@c pidfd_send_signal).
  /**
   * @param sig A signal number; 0 only checks that the process is alive.
   * @throws boost::system::system_error with error::process_done if the
   * process has exited (even if its status was not collected yet),
   * error::invalid_signal for a number outside [0, NSIG), or the
   * @c pidfd_send_signal error (e.g. @c errc::operation_not_permitted).
   */
  void signal(int sig)
  {
    boost::system::error_code ec;
    signal(sig, ec);
    if (ec)
      detail::throw_error(ec, "signal");
  }

  /// Sends a signal through the pidfd; errors as signal(int).
  void signal(int sig, boost::system::error_code& ec)
  {
    if (detail::process_io* p = process(ec))
      p->signal(sig, ec);
  }

  /// Sends a signal to the child's process group (the child must lead one:
  /// spawn_options::process_group).
  /**
   * Safe against reuse of the group's id, which is the child's PID. On
   * Linux 6.9 and later the signal goes through the pidfd
   * (@c pidfd_send_signal with @c PIDFD_SIGNAL_PROCESS_GROUP), which reaches
   * only the group the child leads, never one that got its id later. Older
   * kernels and the wait4 fallback use @c killpg, which is safe because the
   * child's PID cannot be reused while it is unreaped and the library reaps
   * it only under the same lock (kernel_features::pidfd_group_signal says
   * which is in use). After the child was collected, or reaped by someone
   * else, the group is not ours to signal: error::process_done. A group
   * whose leader has exited but was not collected yet can still be
   * signalled (its other members may still run).
   * @throws boost::system::system_error as signal(), or
   * @c errc::no_such_process if the child leads no process group.
   */
  void signal_group(int sig)
  {
    boost::system::error_code ec;
    signal_group(sig, ec);
    if (ec)
      detail::throw_error(ec, "signal_group");
  }

  /// Sends a signal to the child's process group; errors as
  /// signal_group(int).
  void signal_group(int sig, boost::system::error_code& ec)
  {
    if (detail::process_io* p = process(ec))
      p->signal_group(sig, ec);
  }

  /// Sends a signal to every process of the child's tree.
  /**
   * The tree is the child's cgroup if it was spawned into one
   * (spawn_options::cgroup): every process in it and in its descendant
   * cgroups, daemonised or not, whether or not the child itself has
   * exited or been collected. SIGKILL goes through @c cgroup.kill (Linux
   * 5.14); other signals, and SIGKILL on older kernels, by freezing the
   * cgroup (@c cgroup.freeze), signalling every PID in @c cgroup.procs and
   * thawing it, so that no process can fork or exit in between, and no PID
   * signalled can be a reused one. A process that has blocked the signal
   * gets it once it unblocks it, and a child it forks before then gets
   * none (a shell blocks every signal while it forks a command): only
   * SIGKILL, which cannot be blocked, stops a tree for certain (kill_tree(),
   * or async_terminate() once its grace period has passed).
   *
   * Without a cgroup, a child that leads a process group of its own
   * (spawn_options::process_group) has its group signalled, as by
   * signal_group(); that misses descendants that left the group (setsid,
   * setpgid).
   *
   * @throws boost::system::system_error with error::no_tree if the child
   * has neither, error::process_done once the library has removed the
   * cgroup it created (the tree is gone) or, for a group, as
   * signal_group(); error::invalid_signal;
   * @c errc::resource_deadlock_would_occur if the calling process is in
   * the cgroup itself (a joined cgroup of its own, or an ancestor of it),
   * which would signal or freeze the caller; or the error of the cgroup
   * file that failed.
   */
  void signal_tree(int sig)
  {
    boost::system::error_code ec;
    signal_tree(sig, ec);
    if (ec)
      detail::throw_error(ec, "signal_tree");
  }

  /// Sends a signal to the child's tree; errors as signal_tree(int).
  void signal_tree(int sig, boost::system::error_code& ec)
  {
    if (detail::process_io* p = process(ec))
      p->signal_tree(sig, ec);
  }

  /// Kills every process of the child's tree (SIGKILL; see signal_tree()).
  /**
   * With a cgroup, returns once the cgroup is empty: nothing of the tree
   * runs any more (a killed process leaves its cgroup when it exits, before
   * it is reaped; the child itself stays to be waited for). A cgroup the
   * library created is then removed; while async_wait_tree() operations
   * are outstanding on it, the last of them removes it as it completes
   * instead (removed earlier, their reads of it would fail). A process in
   * an uninterruptible sleep makes this wait until the sleep ends. With a
   * process group, returns once the signal is sent.
   *
   * @throws boost::system::system_error as signal_tree(); also
   * @c device_or_resource_busy if the kernel still refused to remove the
   * empty cgroup after about two seconds of retries.
   */
  void kill_tree()
  {
    boost::system::error_code ec;
    kill_tree(ec);
    if (ec)
      detail::throw_error(ec, "kill_tree");
  }

  /// Kills the child's tree; errors as kill_tree().
  void kill_tree(boost::system::error_code& ec)
  {
    if (detail::process_io* p = process(ec))
      p->kill_tree(ec);
  }

  /// Cancels all outstanding asynchronous waits on this object; they
  /// complete with @c operation_aborted and the process keeps running.
  void cancel()
  {
    if (impl_)
      impl_->cancel();
  }

  /// Starts an asynchronous wait for the process to finish.
  /**
   * Completes when the process has exited and its status is collected
   * (reaping it, if it is our child). Several waits may be outstanding on
   * one object; all complete with the same status, and waits started after
   * the status was collected complete with it at once.
   *
   * Regardless of whether the operation completes immediately or not, the
   * completion handler is not invoked from within this function.
   *
   * @param token The completion token (a callback, @c use_awaitable,
   * @c deferred, @c use_future, ...).
   *
   * @par Completion Signature
   * @code void(boost::system::error_code ec, pidfd::exit_status s) @endcode
   * Errors: @c errc::no_child_process if the status was collected
   * elsewhere; @c operation_aborted if cancelled or the object was
   * destroyed; error::no_process.
   *
   * @par Per-Operation Cancellation
   * Supports @c terminal, @c partial and @c total cancellation: the wait has
   * no side effect, so a cancelled wait leaves the process running and a
   * later wait still gets its status.
   */
  template <typename WaitToken =
                boost::asio::default_completion_token_t<executor_type>>
  auto async_wait(WaitToken&& token =
                      boost::asio::default_completion_token_t<executor_type>())
  {
    return boost::asio::async_initiate<WaitToken,
        void(boost::system::error_code, exit_status)>(
        initiate_async_wait(this), token);
  }

  /// Starts an asynchronous wait for the child's whole tree to finish.
  /**
   * Completes when the child's cgroup (spawn_options::cgroup) is empty:
   * the child and every process it started, daemonised or not, have
   * exited. The child's own status is not collected: async_wait() does
   * that. A cgroup the library created is removed before the completion,
   * by the last of the operations watching it (other tree waits,
   * kill_tree()). The kernel may refuse to remove a cgroup for a moment
   * after it reports it empty (its tasks are still being released): the
   * removal is then retried after a growing delay.
   *
   * The cgroup's @c cgroup.events file is watched in the reactor (the
   * kernel reports its changes as @c POLLPRI, which @c wait_error waits
   * for, on the epoll and io_uring backends alike): no thread, no polling.
   * It works the same in the wait4 fallback, which concerns the child
   * alone.
   *
   * Regardless of whether the operation completes immediately or not, the
   * completion handler is not invoked from within this function.
   *
   * @par Completion Signature
   * @code void(boost::system::error_code ec) @endcode
   * Errors: error::no_cgroup if the child was not spawned into a cgroup;
   * error::no_process; @c operation_aborted if cancelled; the error of
   * reading @c cgroup.events; @c device_or_resource_busy if the kernel
   * still refused to remove the empty cgroup after about two seconds.
   *
   * @par Per-Operation Cancellation
   * Supports @c terminal, @c partial and @c total cancellation: the wait has
   * no side effect. cancel() and destroying the object do not end it: it
   * is independent of the child's own waits.
   */
  template <typename WaitToken =
                boost::asio::default_completion_token_t<executor_type>>
  auto async_wait_tree(
      WaitToken&& token =
          boost::asio::default_completion_token_t<executor_type>())
  {
    return boost::asio::async_initiate<WaitToken,
        void(boost::system::error_code)>(initiate_async_wait_tree(this), token);
  }

  /// Sends a signal, reporting the outcome asynchronously.
  /**
   * The signal is sent before this function returns; the handler is
   * invoked later, as if by @c post, with the result that signal() would
   * report.
   *
   * @par Completion Signature
   * @code void(boost::system::error_code ec) @endcode
   *
   * @par Per-Operation Cancellation
   * Not applicable: the operation has no waiting phase.
   */
  template <typename SignalToken =
                boost::asio::default_completion_token_t<executor_type>>
  auto async_signal(int sig,
      SignalToken&& token =
          boost::asio::default_completion_token_t<executor_type>())
  {
    return boost::asio::async_initiate<SignalToken,
        void(boost::system::error_code)>(
        initiate_async_signal(this), token, sig);
  }

  /// Sends a signal to the child's process group, reporting the outcome
  /// asynchronously; see signal_group() and async_signal().
  /**
   * @par Completion Signature
   * @code void(boost::system::error_code ec) @endcode
   */
  template <typename SignalToken =
                boost::asio::default_completion_token_t<executor_type>>
  auto async_signal_group(int sig,
      SignalToken&& token =
          boost::asio::default_completion_token_t<executor_type>())
  {
    return boost::asio::async_initiate<SignalToken,
        void(boost::system::error_code)>(
        initiate_async_signal(this, true), token, sig);
  }

  /// Stops the process politely: SIGTERM, then SIGKILL if it has not
  /// exited within @c grace.
  /**
   * Completes with the final exit status once the process is collected.
   * A process that has already exited is just collected.
   *
   * @param grace How long to wait after SIGTERM; negative is
   * error::invalid_grace_period.
   *
   * @par Completion Signature
   * @code void(boost::system::error_code ec, pidfd::exit_status s) @endcode
   *
   * @par Per-Operation Cancellation
   * Supports @c terminal cancellation: the operation stops where it is
   * (SIGTERM may have been sent, SIGKILL is not) and completes with
   * @c operation_aborted; the process is left as it is at that moment.
   */
  template <typename Rep, typename Period,
      typename TerminateToken =
          boost::asio::default_completion_token_t<executor_type>>
  auto async_terminate(std::chrono::duration<Rep, Period> grace,
      TerminateToken&& token =
          boost::asio::default_completion_token_t<executor_type>())
  {
    return boost::asio::async_initiate<TerminateToken,
        void(boost::system::error_code, exit_status)>(
        initiate_async_terminate(this), token,
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(grace));
  }

  /// Stops the process, or its whole tree: SIGTERM, then SIGKILL to what is
  /// left after @c grace.
  /**
   * With terminate_scope::process, as async_terminate(grace, token).
   *
   * With terminate_scope::tree, the signals go to the child's tree (see
   * signal_tree()). With a cgroup, the operation completes once the cgroup
   * is empty (a cgroup the library created is removed) and the child is
   * collected, with the child's status. With a process group only, it
   * completes once the child is collected: SIGKILL at the grace goes to the
   * group if the child has not exited by then, and members of the group
   * that outlive the child are not waited for.
   *
   * @param scope What to stop.
   * @param grace How long to wait after SIGTERM; negative is
   * error::invalid_grace_period.
   *
   * @par Completion Signature
   * @code void(boost::system::error_code ec, pidfd::exit_status s) @endcode
   * Errors: as async_terminate(grace, token), and for a tree those of
   * signal_tree() (error::no_tree) and async_wait_tree().
   *
   * @par Per-Operation Cancellation
   * Supports @c terminal cancellation, as async_terminate(grace, token).
   */
  template <typename Rep, typename Period,
      typename TerminateToken =
          boost::asio::default_completion_token_t<executor_type>>
  auto async_terminate(terminate_scope scope,
      std::chrono::duration<Rep, Period> grace,
      TerminateToken&& token =
          boost::asio::default_completion_token_t<executor_type>())
  {
    return boost::asio::async_initiate<TerminateToken,
        void(boost::system::error_code, exit_status)>(
        initiate_async_terminate(this, scope), token,
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(grace));
  }

private:
  template <typename>
  friend class basic_process;

  template <typename Executor1>
  friend basic_process<Executor1> detail::make_process(
      const Executor1&, std::shared_ptr<detail::process_io>);

  template <typename Executor1>
  friend const std::shared_ptr<detail::process_io>& detail::impl_of(
      const basic_process<Executor1>&) noexcept;

  basic_process(const executor_type& ex,
      std::shared_ptr<detail::process_io> impl) noexcept
    : executor_(ex), impl_(std::move(impl))
  {
  }

  // The process, or nullptr with error::no_process for an object that has
  // none (moved from, released, default-constructed).
  detail::process_io* process(boost::system::error_code& ec) const noexcept
  {
    if (!impl_)
      ec = error::no_process;
    return impl_.get();
  }

  void close() noexcept
  {
    if (impl_)
    {
      impl_->abandon();
      impl_.reset();
    }
  }

  class initiate_async_wait;
  class initiate_async_wait_tree;
  class initiate_async_signal;
  class initiate_async_terminate;

  executor_type executor_;
  std::shared_ptr<detail::process_io> impl_;
};

} // namespace pidfd

#include "pidfd/impl/basic_process.hpp"

#endif // PIDFD_BASIC_PROCESS_HPP
