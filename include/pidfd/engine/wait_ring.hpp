//
// pidfd/engine/wait_ring.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// The io_uring mechanism's one completion source per execution context: an
// io_uring on which each waited-for process has a poll for its pidfd's
// readability, so that the reactor watches one fd (the ring's) for every
// process instead of one per process. A child whose status is wanted
// without the resource usage is reaped in the ring instead
// (IORING_OP_WAITID), its status handed to its process_state. Compiled
// into the library (in src/detail/uring_mechanism.cpp), so it holds no
// Asio type: the binding's service owns it and waits for its fd with one
// Asio descriptor.
//

#ifndef PIDFD_ENGINE_WAIT_RING_HPP
#define PIDFD_ENGINE_WAIT_RING_HPP

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <memory>
#include <vector>

#include <sys/types.h>

namespace pidfd::detail {

class process_state;

// Every member is thread-safe. Requests (polls, removals, closes) are
// queued in the ring's submission queue and reach the kernel together, in
// one io_uring_enter: at the end of a batch (the binding reaping the ring's
// completions on this thread), or through a flush the binding posts for
// requests made elsewhere.
class wait_ring
{
public:
  // A poll's token: 0 for none.
  using token = std::uint64_t;

  // The ring of a new execution context if the chosen mechanism waits
  // through one; nullptr otherwise, or with ec set if the kernel refused a
  // ring now (processes then wait through the reactor, as the pidfd
  // mechanism's do).
  static std::unique_ptr<wait_ring> open(boost::system::error_code& ec);

  ~wait_ring();
  wait_ring(const wait_ring&) = delete;
  wait_ring& operator=(const wait_ring&) = delete;

  // The ring's fd, readable while completions wait to be taken.
  int fd() const noexcept;

  // Queues a poll for the readability of `pidfd` (the process has exited,
  // or was reaped), or, where the ring can and `owner` allows it (see
  // process_state::ring_may_reap_locked()), a waitid that reaps the child:
  // its outcome comes with the completion next() hands back, for the
  // binding to give its owner (process_state::locked::ring_reaped()), and
  // the completion otherwise reads as a poll's. Called with
  // the owner's lock held. `owner` is kept until the request completes.
  // Returns the request's token; 0 with ec set if the ring is shut down
  // (asio's shut_down is the binding's to report).
  token arm(int pidfd, std::shared_ptr<process_state> owner,
      boost::system::error_code& ec);

  // Queues the removal of a poll, or the cancellation of a reap; it then
  // completes as cancelled (a reap may have reaped first), its owner
  // handed back by next() as for any completion.
  void disarm(token t) noexcept;

  // Closes `fd`: with the next submission if this thread is reaping this
  // ring (a submission is then certain to follow, at the batch's end),
  // else at once, after submitting what is queued (a queued poll may name
  // the fd, which must not name another file by the time it is submitted).
  void close(int fd) noexcept;

  // Submits what is queued now, unless it is nothing: before an fd that a
  // queued poll names is handed to someone else (release()).
  void settle() noexcept;

  // True, once per submission, if requests made outside a batch wait to
  // be submitted: the caller then arranges for flush() to run soon.
  bool claim_flush() noexcept;

  // Submits what is queued: one io_uring_enter, none if nothing is.
  void flush(boost::system::error_code& ec) noexcept;

  // True while polls are in the kernel: the binding waits on fd() then.
  // No lock: a count kept under the ring's, read as it stands.
  bool busy() const noexcept;

  // True while this thread reaps the ring (a batch of it is alive): what
  // is queued meanwhile is submitted as the batch ends, and the binding
  // waits for fd() again after that.
  bool reaping_here() const noexcept;

  // While a batch is alive, this thread reaps the ring: requests made on
  // it are submitted when the batch ends, in one system call with the
  // others.
  class batch
  {
  public:
    explicit batch(wait_ring& ring) noexcept;
    ~batch();
    batch(const batch&) = delete;
    batch& operator=(const batch&) = delete;

  private:
    wait_ring& ring_;
    const wait_ring* outer_;
  };

  // A completed request, as next() hands it back.
  struct completion
  {
    std::shared_ptr<process_state> owner;
    token t = 0;
    // The poll's events, or -errno: -ECANCELED once removed.
    int result = 0;
    // A reap (IORING_OP_WAITID) whose outcome its owner has not had yet:
    // the request's result and waitid's siginfo, for the owner's
    // ring_reaped(), before its waiters look for the status.
    bool reap = false;
    int res = 0;
    int code = 0;
    int status = 0;
    pid_t pid = 0;
  };

  // The next completed request; false if none is left. `more`: whether
  // another completion was waiting as this one was taken (the batch's
  // last call need not look again).
  bool next(completion& out, bool& more);

  // For a thread that is not the binding's: takes the completions in the
  // queue now (submitting what is queued first), so that the reaps among
  // them reach their process states (ring_reaped()) at once; next() hands
  // them all to the binding later, woken for them by a no-op's
  // completion. True if there were any.
  bool harvest();

  // The execution context is going away: no request is armed from now
  // on, queued closes are done, the reaps in the kernel are cancelled and
  // their outcomes delivered (a status the kernel took is not lost with
  // the ring), and the owners of the requests still in the kernel are
  // handed back, to be shut down by the binding (the ring's fd, closed
  // with the ring, cancels the polls).
  std::vector<std::shared_ptr<process_state>> shut_down();

private:
  struct impl;
  explicit wait_ring(std::unique_ptr<impl> i) noexcept;
  std::unique_ptr<impl> impl_;
};

} // namespace pidfd::detail

#endif // PIDFD_ENGINE_WAIT_RING_HPP
