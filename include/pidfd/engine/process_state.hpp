//
// pidfd/engine/process_state.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The engine's side of one process: its fd, its wait mechanism, the
// collected exit status, and the collect step that every wait drives.
// Compiled into the library, so it holds no Asio type: the Asio binding
// (process_io.hpp) derives from it in the user's own translation units.
//

#ifndef PIDFD_ENGINE_PROCESS_STATE_HPP
#define PIDFD_ENGINE_PROCESS_STATE_HPP

#include "pidfd/engine/wait_mechanism.hpp"
#include "pidfd/exit_status.hpp"

#include <boost/system/error_code.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>

#include <sys/types.h>

namespace pidfd::detail {

class cgroup_tree;
class wait_ring;

// The delays between attempts at something the kernel will allow shortly:
// `first`, then each twice the one before, up to `max`. Short at first,
// for the common case, and bounded, so that a long wait costs a wake-up
// every 64 ms at most.
struct backoff_delays
{
  static constexpr std::chrono::milliseconds first{1};
  static constexpr std::chrono::milliseconds max{64};

  static constexpr std::chrono::milliseconds next(
      std::chrono::milliseconds delay) noexcept
  {
    return delay * 2 < max ? delay * 2 : max;
  }
};

// Removing a cgroup that reads empty but that the kernel still refuses
// to remove (EBUSY; see the tree members of process_state): backoff_delays
// between attempts, for `total` in all.
struct tree_removal_backoff : backoff_delays
{
  static constexpr std::chrono::milliseconds total{2000};
};

// What the collect step says a wait should do next.
enum class collect_step : unsigned char
{
  // The outcome is in `out` (the status, an error, or operation_aborted).
  collected,
  // Not over yet: wait for the readiness fd to become readable again.
  rearm,
  // The readiness fd is readable but the status cannot be collected yet:
  // ptrace tells the tracer of an exit before the parent may reap, and the
  // pidfd stays readable meanwhile, so a readiness wait would return at
  // once. Look again after a short sleep (backoff_delays) instead of
  // spinning.
  backoff
};

// How a process state starts: what the chosen wait mechanism made of a
// spawn or an adoption. No allocation for a pidfd; the mechanism's own
// per-process data otherwise (the wait4 fallback's).
struct process_init
{
  const wait_mechanism* mechanism = nullptr; // nullptr: already gone
  wait_target target{};
  bool kill_on_destroy = false;
  // The child's cgroup (spawn_options::cgroup), if any.
  std::shared_ptr<cgroup_tree> tree{};
  // The child leads a process group of its own (new_group, new_session).
  bool own_group = false;
};

// One per process handle, shared (std::shared_ptr, through the binding's
// process_io) between the handle and its outstanding operations, so that
// an operation can finish safely after the handle was moved or destroyed.
// Every member is thread-safe.
class process_state
{
public:
  // A generation that matches every generation: for waits that no
  // cancel() ends (the blocking wait, orphan reaping).
  static constexpr std::uint64_t any_generation =
      std::numeric_limits<std::uint64_t>::max();

  explicit process_state(const process_init& init) noexcept;
  process_state(const process_state&) = delete;
  process_state& operator=(const process_state&) = delete;
  // Closes the fd if the binding has not.
  ~process_state();

  pid_t pid() const noexcept { return target_.pid; }

  // The pidfd, or -1 (the wait4 fallback, a process gone at adoption, or
  // once closed). Non-blocking, for whoever takes it into a loop of their
  // own: clone3 and a caller's adopted fd may give a blocking one, and the
  // flag is set here, the first time it is handed out, rather than on
  // every spawn (the library's own waits never need it: they use WNOHANG).
  int pidfd() const;

  // True if the binding learns of the end from its execution context's
  // wait_ring (the io_uring mechanism) rather than from the reactor.
  bool waits_on_ring() const noexcept { return waits_on_ring_; }

  // The fd whose readability announces the end: the pidfd, or the wait4
  // pool's eventfd; -1 if there is none. Fixed for the state's lifetime
  // until closed.
  int readiness_fd() const noexcept { return target_.fd; }

  // The collect step: collects the outcome if it is known, or says how to
  // wait for it. A wait begun in `generation` (cancel_generation()) that
  // was cancelled since, or a closed state, gives operation_aborted. The
  // asynchronous wait, the blocking wait and orphan reaping all drive
  // this one step.
  collect_step step(std::uint64_t generation, wait_result& out);

  // Collects the outcome if the process has finished, without blocking;
  // false while it runs. Once collected, the outcome is kept. `ring`: the
  // execution context's, whose completion may hold the outcome (see
  // ring_reaped()).
  bool try_collect(wait_result& out, wait_ring* ring = nullptr);

  // The outcome if it was collected already; no system call.
  bool collected(wait_result& out) const;

  // Blocks the calling thread until the outcome is known; `ring` as for
  // try_collect().
  void wait_blocking(wait_result& out, wait_ring* ring = nullptr);

  // The execution context's ring reaped the child, or tried to
  // (IORING_OP_WAITID; see wait_ring::arm): `res` is the request's result,
  // and the rest waitid's siginfo. Called once per reap armed: by the
  // binding for a completion next() handed it (under the lock it takes
  // for the waiters: locked::ring_reaped()), by the ring itself for the
  // completions it takes otherwise (harvest(), shut_down()), never under
  // the ring's lock. Until then the child's status may be in the
  // ring's completion queue rather than the kernel's process table: a
  // collect that finds the child gone (ECHILD) takes the ring's
  // completions (wait_ring::harvest()) instead of reporting it so.
  void ring_reaped(int res, int code, int status, pid_t pid);

  // Returns once no reap of this process is in the ring any more (after
  // the binding has cancelled it): release() hands over a child that
  // nobody reaps behind the caller's back.
  void settle_ring_reaps(wait_ring& ring);

  // Sends sig; process_done if the process has exited, even when the
  // kernel would still accept a signal for its zombie.
  void signal(int sig, boost::system::error_code& ec);

  // Signals the process group the child leads; the group id is never one
  // that was reused (see the mechanisms: PIDFD_SIGNAL_PROCESS_GROUP, else
  // killpg under the reap lock).
  void signal_group(int sig, boost::system::error_code& ec);

  // ---- the tree: the child and its descendants ----
  //
  // With a cgroup, these act on every process in it, whether or not the
  // child itself has been collected; without one, on the process group the
  // child leads (signal_group's rules). Otherwise error::no_tree.

  // Sends sig to the tree.
  void signal_tree(int sig, boost::system::error_code& ec);

  // SIGKILL to the tree. With a cgroup, returns once the cgroup is empty
  // (a process killed leaves it at once, even before it is reaped) and
  // removes a cgroup the library created, unless asynchronous tree waits
  // still watch it: the last of them removes it as it completes.
  void kill_tree(boost::system::error_code& ec);

  // True if the child was spawned into a cgroup.
  bool has_cgroup() const noexcept { return tree_ != nullptr; }

  // For the binding's asynchronous tree wait: a new non-blocking fd on the
  // cgroup's cgroup.events (error::no_cgroup without a cgroup; -1 with ec
  // clear once the tree is known to be gone). The cgroup is watched, and
  // so not removed, until close_tree_events().
  int open_tree_events(boost::system::error_code& ec) const;

  // Whether the cgroup is populated, read from an open_tree_events() fd.
  bool tree_populated(int events_fd, boost::system::error_code& ec) const;

  // The binding has closed its open_tree_events() fd. If the tree was seen
  // empty and nobody else watches, removes a created cgroup. The kernel
  // may refuse that for a short while after the cgroup reads empty:
  // device_or_resource_busy, for the binding to retry with
  // remove_tree() after a delay (tree_removal_backoff).
  boost::system::error_code close_tree_events() const noexcept;

  // Retries the removal close_tree_events() left; its errors.
  boost::system::error_code remove_tree() const noexcept;

  // Changes on every cancel and close, so that a wait can tell that it
  // was cancelled while it slept.
  std::uint64_t cancel_generation() const;

  // ---- the seam: what the binding does under the state's lock ----
  //
  // The binding keeps its Asio descriptor for the readiness fd under the
  // same lock, so that the fd is never closed while a wait on it is being
  // queued. Holding a `locked` is holding the lock; these are the only
  // calls made with it, and the only way the binding reaches the lock.
  class locked
  {
  public:
    explicit locked(process_state& state) : state_(state), lock_(state.mutex_)
    {
    }

    // For a destructor, where no other thread can reach the state any
    // more: the same calls, without the lock.
    locked(process_state& state, std::defer_lock_t) noexcept
      : state_(state), lock_(state.mutex_, std::defer_lock)
    {
    }

    // Before a readiness wait: false with ec = operation_aborted if
    // closed, false with ec clear if the outcome is known already
    // (complete at once), else true once the mechanism watches the
    // process.
    bool prepare_wait(boost::system::error_code& ec)
    {
      return state_.prepare_wait_locked(ec);
    }

    // ring_reaped(), with the lock held.
    void ring_reaped(int res, int code, int status, pid_t pid)
    {
      state_.ring_reaped_locked(res, code, status, pid);
    }

    // Cancels the outstanding waits (they see a new generation).
    void cancel() noexcept { state_.new_generation_locked(); }

    // Marks the state closed (waits see operation_aborted) and detaches
    // the mechanism from the fd; false if it was closed already. The
    // binding then stops using the fd and calls close_fd() (or takes it
    // with release_fd()).
    bool begin_close() noexcept { return state_.begin_close_locked(); }
    void close_fd() noexcept { state_.close_fd_locked(nullptr); }
    // The same through `ring` (wait_ring::close): with its next
    // submission if this thread is reaping it.
    void close_fd(wait_ring& ring) noexcept { state_.close_fd_locked(&ring); }
    // The pidfd, non-blocking (as pidfd()); or -1, with a readiness fd
    // that is no pidfd (the wait4 fallback's eventfd) closed.
    int release_fd() noexcept { return state_.release_fd_locked(); }

    // The owning handle is going away while a spawned child may still
    // run: kills it if kill_on_destroy was set, and returns true if
    // someone must still reap it: false if the mechanism does by itself
    // (the wait4 fallback's pool thread); true with a pidfd, for which the
    // binding arms an internal wait.
    bool abandon() { return state_.abandon_locked(); }

    // The lock itself, for a caller that holds it on until a wait is
    // queued.
    std::unique_lock<std::mutex> release() noexcept { return std::move(lock_); }

  private:
    process_state& state_;
    std::unique_lock<std::mutex> lock_;
  };

private:
  // The halves of `locked`, with mutex_ held.
  bool prepare_wait_locked(boost::system::error_code& ec);
  bool begin_close_locked() noexcept;
  void close_fd_locked(wait_ring* ring) noexcept;
  int release_fd_locked() noexcept;
  bool abandon_locked();

  void ring_reaped_locked(int res, int code, int status, pid_t pid);

  // pidfd() with mutex_ held.
  int pidfd_locked() const noexcept;

  friend void reap_in_background(std::shared_ptr<process_state> state);
  friend class wait_ring;

  // `pending`, if given, is set when the child is gone but a reap of the
  // ring may hold its status (ring_reaped()).
  bool collect_locked(wait_result& out, bool* pending = nullptr);

  // For wait_ring::arm, with mutex_ held: true if the ring may reap the
  // child itself (IORING_OP_WAITID). Only for a child of ours whose
  // status is wanted without the resource usage, and whose pidfd was
  // never handed out: it is then blocking, so that the kernel's waitid
  // waits for the exit instead of finding WNOHANG in its flags.
  bool ring_may_reap_locked() const noexcept
  {
    return !target_.usage && target_.origin == process_origin::spawned
        && !pidfd_non_blocking_ && !closed_ && !done_;
  }
  // With mutex_ held: the waits begun before end with operation_aborted.
  void new_generation_locked() noexcept
  {
    generation_.store(generation_.load(std::memory_order_relaxed) + 1,
        std::memory_order_release);
  }

  // signal() and signal_group(): the checks, then the mechanism's `how`.
  void send(int sig, boost::system::error_code& ec,
      void (wait_mechanism::*how)(wait_target&, int, boost::system::error_code&)
          const);

  const wait_mechanism* mechanism_;
  wait_target target_;
  // Set once, under mutex_, after result_ holds the outcome, which never
  // changes after that: collected() reads both without the lock.
  std::atomic<bool> done_{false};
  bool closed_ = false;
  bool kill_on_destroy_ = false;
  bool own_group_ = false;
  // The mechanism's waits_on_ring(), asked once: the binding asks at
  // every step of every wait.
  const bool waits_on_ring_;
  mutable bool pidfd_non_blocking_ = false;
  // Reaps armed on the ring whose completion ring_reaped() has not had
  // yet: at most two (a cancelled one and its successor).
  std::uint8_t ring_reaps_ = 0;
  // Immutable, and thread-safe itself: used without mutex_.
  const std::shared_ptr<cgroup_tree> tree_;
  // Changed under mutex_; read without it by cancel_generation() (every
  // wait's start), checked under it by step().
  std::atomic<std::uint64_t> generation_{0};
  wait_result result_;
  mutable std::mutex mutex_;
};

// Reaps an abandoned child on a library thread, blocking until it exits,
// then closes the state's fd: for the children still running when their
// io_context is destroyed, so that none is left a zombie.
void reap_in_background(std::shared_ptr<process_state> state);

// ---- creating states (the engine's entry points for the binding) -----

// By PID (pidfd_open); a PID that does not exist gives a state that is
// already gone (Go's os.FindProcess): waits report ECHILD, signals
// process_done.
process_init adopt_pid(pid_t pid, boost::system::error_code& ec);

// An existing pidfd, owned by the state on success.
process_init adopt_pidfd(int pidfd, boost::system::error_code& ec);

} // namespace pidfd::detail

#endif // PIDFD_ENGINE_PROCESS_STATE_HPP
