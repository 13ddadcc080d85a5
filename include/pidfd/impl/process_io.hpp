//
// pidfd/impl/process_io.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// The Asio binding of one process: the engine's process state plus the
// descriptor that waits for its readiness fd in the reactor. A header, so
// that it is compiled with the user's Asio configuration (epoll or
// io_uring backend): the compiled library holds no Asio type.
//

#ifndef PIDFD_IMPL_PROCESS_IO_HPP
#define PIDFD_IMPL_PROCESS_IO_HPP

#include "pidfd/engine/process_state.hpp"
#include "pidfd/engine/wait_ring.hpp"
#include "pidfd/impl/asio_backend.hpp"
#include "pidfd/impl/ring_wait_op.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/detail/throw_exception.hpp>
#include <boost/asio/execution/bad_executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <type_traits>
#include <variant>
#include <vector>
#include <utility>

namespace pidfd::detail {

class process_service;

// One allocation per process: the state and its descriptor together, shared
// (std::shared_ptr) by the handle and its outstanding operations.
class process_io : public process_state,
                   public std::enable_shared_from_this<process_io>
{
public:
  using descriptor_type =
      boost::asio::posix::basic_stream_descriptor<boost::asio::any_io_executor>;

  // The readiness fd goes into the reactor with the first wait, not here:
  // a process that is only waited for with wait(), signalled or released
  // never costs the reactor's three system calls (register, the
  // descriptor's FIONBIO, deregister).
  process_io(const boost::asio::any_io_executor& ex, const process_init& init);

  process_io(const process_io&) = delete;
  process_io& operator=(const process_io&) = delete;

  ~process_io()
  {
    locked state(*this, std::defer_lock); // nobody else holds this
    close(state);
    // On Asio's io_uring backend close() only cancelled the waits
    // (let_go_of_descriptor); every wait holds this object, so none is in
    // the kernel any more. Elsewhere close() has released it already.
    release_descriptor(state);
  }

  // The descriptor to wait on for readiness, registered with the reactor,
  // with `lock` holding the state's mutex until the wait is queued (the fd
  // must not be closed meanwhile); or nullptr, with `lock` released, if
  // there is nothing to wait for: ec is operation_aborted if the state is
  // closed, the reactor's error if it refused the fd, shut_down if the
  // io_context has, and clear if the outcome is known already (the collect
  // step has it). The reactor is edge-triggered, but it re-arms the
  // registration whenever a wait is queued on an idle descriptor, so an
  // exit that happened while nothing waited is reported to the next wait
  // at once.
  descriptor_type* readiness_descriptor(
      std::unique_lock<std::mutex>& lock, boost::system::error_code& ec)
  {
    locked state(*this);
    if (!state.prepare_wait(ec) || !assigned(state, ec))
      return nullptr;
    lock = state.release();
    return descriptor();
  }

  // The context's ring, for a process that waits on it (the io_uring
  // mechanism, where the context has a ring); else nullptr. No wait is
  // queued on it once the context has shut down (live_executor() null).
  // Found through the service, not kept: every process's memory counts.
  // The blocking wait() and try_wait() take their status from it when the
  // ring reaped the child (process_state::ring_reaped()).
  wait_ring* ring() const noexcept;

  // True if the readiness waits of this process go through its context's
  // ring (ring_wait()) rather than readiness_descriptor(). Fixed from
  // construction.
  bool waits_on_ring() const noexcept { return ring() != nullptr; }

  // Right after construction, for a process that waits on the ring: the
  // context's service waits for the ring's fd with `ex` (the first such
  // process's context_executor()).
  void attach_ring(const boost::asio::any_io_executor& ex);

  // True once the context's service waits for the ring's fd: the spawns
  // after the first need not make an executor for attach_ring().
  bool ring_attached() const noexcept;

  // Before a readiness wait through the ring: as readiness_descriptor(),
  // true with `lock` holding the state's mutex until ring_wait() has
  // queued the wait, false (lock released) with ec as there.
  bool prepare_ring_wait(
      std::unique_lock<std::mutex>& lock, boost::system::error_code& ec)
  {
    locked state(*this);
    if (!state.prepare_wait(ec))
      return false;
    if (!live_executor() || !ring())
    {
      ec = boost::asio::error::shut_down;
      return false;
    }
    lock = state.release();
    return true;
  }

  // Queues `handler` (void(error_code)) until the ring reports the pidfd
  // readable, with the state's mutex held (prepare_ring_wait()'s lock).
  // The first waiter arms a poll on the ring; later ones share it. The
  // handler runs with no error once the ring reports the process, or with
  // operation_aborted after a cancellation (its slot's, cancel(), close),
  // or not at all if the context shuts down first.
  template <typename Handler>
  void ring_wait(Handler&& handler)
  {
    using handler_type = std::decay_t<Handler>;
    const boost::asio::any_io_executor& io_ex = *live_executor();
    if (ring_waiter_needs_work(handler, io_ex))
      queue_ring_waiter(
          ring_wait_op<handler_type, true>::make(std::move(handler), io_ex));
    else
      queue_ring_waiter(
          ring_wait_op<handler_type, false>::make(std::move(handler), io_ex));
  }

  // ring_wait()'s second half, with its waiter made.
  template <typename Op>
  void queue_ring_waiter(Op* op)
  {
    ring_waiter** tail = &waiters_;
    while (*tail)
      tail = &(*tail)->next;
    *tail = op;
    if (!poll_)
    {
      boost::system::error_code ec;
      poll_ = ring()->arm(readiness_fd(), shared_from_this(), ec);
      if (!poll_)
      {
        *tail = nullptr;
        op->complete(ring_waiter::how::post, ec, *live_executor());
        return;
      }
      service_ring_requested();
    }
    auto slot = boost::asio::get_associated_cancellation_slot(op->handler());
    if (slot.is_connected())
      slot.template emplace<ring_cancellation>(weak_from_this(), op);
  }

  // A descriptor on the process's executor that holds no fd: a wait on it
  // completes at once, with bad_descriptor, through the reactor (never
  // inline), and a timerfd assigned to it is waited for like the process.
  // Either is the same Asio operation as the readiness wait, so that a
  // handler type instantiates one completion path. Throws bad_executor
  // once the io_context has shut down, as every Asio object does after its
  // context is gone.
  descriptor_type unopened_descriptor()
  {
    boost::asio::any_io_executor ex;
    {
      locked state(*this);
      if (const boost::asio::any_io_executor* live = live_executor())
        ex = *live;
    }
    if (!ex)
      boost::asio::detail::throw_exception(
          boost::asio::execution::bad_executor());
    return descriptor_type(ex);
  }

  // Cancels the outstanding waits (they finish with operation_aborted).
  void cancel()
  {
    locked state(*this);
    state.cancel();
    cancel_descriptor(state);
    cancel_ring_waits(state);
  }

  // Closes the fd now, cancelling the outstanding waits.
  void close()
  {
    locked state(*this);
    close(state);
  }

  // Like close(), but hands the pidfd to the caller (-1 if none).
  int release()
  {
    int fd;
    {
      locked state(*this);
      if (!state.begin_close())
        return -1;
      let_go_of_descriptor(state);
      if (cancel_ring_waits(state))
        ring()->settle(); // the request names the fd given away
      fd = state.release_fd();
    }
    // A reap in the ring, cancelled (now, or with its last waiter), may
    // still have reaped the child: known before the caller, who reaps it
    // otherwise, has the pidfd.
    if (wait_ring* r = ring())
      settle_ring_reaps(*r);
    return fd;
  }

  // The owning handle is going away: cancels the outstanding waits. A
  // spawned child that has not been collected is killed first if
  // kill_on_destroy was set, and either way reaped once it exits (by the
  // service's wait on the io_context, or by the pool thread in the wait4
  // fallback), so no zombie is left; other handles just close.
  void abandon();

private:
  friend class process_service;

  // These take the state's lock (a `locked`) from their caller.

  void close(locked& state)
  {
    if (!state.begin_close())
      return;
    let_go_of_descriptor(state);
    cancel_ring_waits(state);
    if (wait_ring* r = ring())
      state.close_fd(*r);
    else
      state.close_fd();
  }

  // The ring's request completed (`c.result`: its events or -errno): a
  // reap's outcome is kept (locked::ring_reaped()), and the waiters of a
  // request still current complete, with no error, for the collect step
  // to find out; or with the request's error.
  void ring_completed(const wait_ring::completion& c)
  {
    ring_waiter* waiters;
    boost::system::error_code ec;
    boost::asio::any_io_executor ex;
    const wait_ring::token t = c.t;
    int result = c.result;
    {
      locked state(*this);
      if (c.reap)
        state.ring_reaped(c.res, c.code, c.status, c.pid);
      if (t != poll_)
        return; // removed (or never current): its waiters went already
      poll_ = 0;
      if (result == -ECANCELED && waiters_ && live_executor())
      {
        // Not removed by us: the kernel cancels a thread's requests when
        // the thread exits (a poll is tied to its submitter's task), and
        // the flush that submitted this one may have run on a thread of
        // the io_context that has ended since. Armed again, from here (a
        // thread that runs the io_context now).
        poll_ = ring()->arm(readiness_fd(), shared_from_this(), ec);
        if (poll_)
        {
          service_ring_requested();
          return;
        }
        result = -ec.value();
      }
      waiters = std::exchange(waiters_, nullptr);
      ex = io_executor();
    }
    if (result < 0)
      ec.assign(-result, boost::system::system_category());
    else
      ec.clear();
    complete_all(waiters, ring_waiter::how::dispatch, ec, ex);
  }

  // Completes `waiters` (a list taken off waiters_) `how`, through `ex`.
  static void complete_all(ring_waiter* waiters, ring_waiter::how how,
      const boost::system::error_code& ec,
      const boost::asio::any_io_executor& ex)
  {
    while (waiters)
    {
      ring_waiter* w = std::exchange(waiters, waiters->next);
      w->complete(how, ec, ex);
    }
  }

  // The executor the ring's waiters complete through (the process's I/O
  // executor); none once the context has shut down, when waiters_ is
  // empty.
  boost::asio::any_io_executor io_executor()
  {
    const boost::asio::any_io_executor* live = live_executor();
    return live ? *live : boost::asio::any_io_executor();
  }

  // Cancels the waits queued for the ring, if any, posting them with
  // operation_aborted (posted: the lock is held), and removes the poll.
  // True if there was a poll.
  bool cancel_ring_waits(locked& state)
  {
    abort_ring_waiters(state);
    return disarm_ring();
  }

  // The same, keeping the poll (for the orphan reaper's wait to come).
  void abort_ring_waiters(locked&)
  {
    if (waiters_)
      complete_all(std::exchange(waiters_, nullptr), ring_waiter::how::post,
          boost::asio::error::operation_aborted, io_executor());
  }

  // Removes the poll, if any: it completes as cancelled, which frees its
  // hold on this object.
  bool disarm_ring()
  {
    if (!poll_)
      return false;
    ring()->disarm(std::exchange(poll_, 0));
    service_ring_requested();
    return true;
  }

  // One queued waiter's cancellation (its slot's handler): it completes
  // with operation_aborted, unless it has left the list already; the
  // poll goes with the last waiter, so that a context with nothing to
  // wait for runs out of work.
  void cancel_ring_wait(ring_waiter* op)
  {
    boost::asio::any_io_executor ex;
    {
      locked state(*this);
      ring_waiter** link = &waiters_;
      while (*link && *link != op)
        link = &(*link)->next;
      if (!*link)
        return; // completed already
      *link = op->next;
      if (!waiters_)
        disarm_ring();
      ex = io_executor();
    }
    op->complete(
        ring_waiter::how::post, boost::asio::error::operation_aborted, ex);
  }

  // The slot handler of a queued waiter. The process is held weakly and
  // the waiter only compared with those queued: a cancellation that comes
  // after the completion finds neither.
  class ring_cancellation
  {
  public:
    ring_cancellation(std::weak_ptr<process_io> io, ring_waiter* op) noexcept
      : io_(std::move(io)), op_(op)
    {
    }

    void operator()(boost::asio::cancellation_type)
    {
      if (std::shared_ptr<process_io> io = io_.lock())
        io->cancel_ring_wait(op_);
    }

  private:
    std::weak_ptr<process_io> io_;
    ring_waiter* op_;
  };

  // A request was queued on the ring: the service makes sure it is
  // submitted and that the ring's fd is waited for.
  void service_ring_requested();

  // The descriptor never closes the fd: the state owns it. Releasing
  // deregisters it from the reactor and cancels the waits.
  void release_descriptor(locked&)
  {
    if (descriptor_type* d = descriptor(); d && d->is_open())
      d->release();
  }

  // The fd is closed or handed over: its waits end with operation_aborted.
  // Asio's io_uring backend (Boost 1.81's, and the newest Asio sources we
  // read) frees a descriptor's registration at release() even while a wait
  // of it is in the kernel, and gives the registration to the next
  // descriptor opened. That one's first operation then queues behind our
  // wait, which is submitted again on our fd's number: it waited until the
  // child exited if the fd went to the caller, or until whatever reopened
  // the number became readable (tests: ..._with_a_wait_in_the_kernel_...).
  // There the waits are only cancelled, and the registration goes with
  // this object, which every wait holds (~process_io). The reactor's
  // registration names the fd, which may be reopened as another file: it
  // goes now.
  void let_go_of_descriptor(locked& state)
  {
    if constexpr (PIDFD_ASIO_DESCRIPTORS_ON_IO_URING)
      cancel_descriptor(state);
    else
      release_descriptor(state);
  }

  void cancel_descriptor(locked&)
  {
    boost::system::error_code ignored;
    if (descriptor_type* d = descriptor(); d && d->is_open())
      d->cancel(ignored);
  }

  bool assigned(locked&, boost::system::error_code& ec)
  {
    if (auto* ex = std::get_if<boost::asio::any_io_executor>(&asio_))
    {
      // The first wait through the reactor makes the descriptor, in place
      // of the executor it takes. Its service exists (process_service made
      // it), so the construction does not throw.
      const boost::asio::any_io_executor io_ex = std::move(*ex);
      asio_.emplace<descriptor_type>(io_ex);
    }
    descriptor_type* d = descriptor();
    if (!d)
    {
      ec = boost::asio::error::shut_down;
      return false;
    }
    if (d->is_open())
      return true;
    // Registers the fd. Asio sets a descriptor non-blocking before its
    // first wait; done here, once, so that it knows.
    d->assign(readiness_fd(), ec);
    if (!ec)
      d->native_non_blocking(true, ec);
    // A descriptor that the reactor refused is reported by this wait, and
    // the next one tries again; the fd itself stays the state's.
    if (ec && d->is_open())
      d->release();
    return !ec;
  }

  // Orphan reaping, for the service: waits for readiness, then drives the
  // collect step until the child is reaped.
  void arm_orphan();
  void reap_orphan(const boost::system::error_code& ec);

  // The io_context is going away: its Asio objects go now (the state may
  // outlive the io_context on a library thread that reaps the child, and an
  // executor or descriptor must not), and no wait is armed again.
  void shut_down()
  {
    ring_waiter* waiters;
    {
      locked state(*this);
      release_descriptor(state);
      asio_.emplace<std::monostate>();
      waiters = std::exchange(waiters_, nullptr);
      poll_ = 0;
    }
    // Unrun, as Asio destroys the ops queued at shutdown; outside the
    // lock, since a waiter may hold the last reference to this object.
    complete_all(waiters, ring_waiter::how::destroy, {}, {});
  }

  // The process's I/O executor until its fd first enters the reactor, then
  // the Asio descriptor, which holds that executor (no copy is kept beside
  // it: a child's memory counts, ten thousand at a time). A process that
  // waits on the ring, or is only waited for with wait(), signalled or
  // released, never makes a descriptor, whose construction looks its
  // service up among the context's (a mutex, and type_info comparisons by
  // name). Empty (monostate) once the io_context has shut down.
  std::variant<std::monostate, boost::asio::any_io_executor, descriptor_type>
      asio_;

  // The descriptor, once the fd has entered the reactor.
  descriptor_type* descriptor() noexcept
  {
    return std::get_if<descriptor_type>(&asio_);
  }

  // The process's I/O executor; nullptr once the io_context has shut down.
  const boost::asio::any_io_executor* live_executor() noexcept
  {
    if (const auto* ex = std::get_if<boost::asio::any_io_executor>(&asio_))
      return ex;
    if (descriptor_type* d = descriptor())
      return &d->get_executor();
    return nullptr;
  }

  // Created with the first process of an execution context, after its
  // reactor, so that it shuts down before the reactor does.
  process_service& service_;

  // The io_uring mechanism's: the waits queued for the ring,
  // and the poll armed there for them (0 if none).
  ring_waiter* waiters_ = nullptr;
  wait_ring::token poll_ = 0;
};

// The per-execution-context service of the binding: owns what outlives a
// process object, the children being reaped after their handle went away.
// Its shutdown() (when the io_context is destroyed) hands those still
// running to a library thread that reaps them, so that destroying an
// io_context never leaves a zombie.
class process_service : public boost::asio::execution_context::service
{
public:
  using key_type = process_service;

  static inline boost::asio::execution_context::id id;

  explicit process_service(boost::asio::execution_context& context)
    : boost::asio::execution_context::service(context)
  {
    // The descriptors' service (and with it the reactor) is made first, so
    // that it shuts down and is destroyed after this one, whose shutdown
    // releases the processes' descriptors and whose destructor lets the
    // ring's go. A process makes its descriptor only when its fd first
    // enters the reactor, which may be long after this.
#if PIDFD_ASIO_DESCRIPTORS_ON_IO_URING
    boost::asio::use_service<boost::asio::detail::io_uring_descriptor_service>(
        context);
#else
    boost::asio::use_service<boost::asio::detail::reactive_descriptor_service>(
        context);
#endif
    // A ring only where the io_uring mechanism was chosen; a ring the
    // kernel refuses now leaves the processes in the reactor.
    boost::system::error_code ignored;
    ring_ = wait_ring::open(ignored);
  }

  // Every service of the context has shut down; the descriptors' service
  // is still there (made before this one).
  ~process_service() override
  {
    if (ring_descriptor_ && ring_descriptor_->is_open())
      ring_descriptor_->release();
  }

  // The ring, if this context has one whose fd the reactor watches (or
  // will: the first process attaches it); nullptr once the reactor has
  // refused that fd, so that the context's processes wait in the reactor
  // each, as where the kernel refused the ring.
  wait_ring* ring() noexcept
  {
    return ring_state_.load(std::memory_order_acquire) == ring_state::refused
        ? nullptr
        : ring_.get();
  }

  // A process of the context will wait on the ring: the descriptor that
  // waits for the ring's fd is made with `ex`, the first such process's
  // context_executor().
  // A refusal (EPOLL_CTL_ADD failing: ENOMEM, fs.epoll.max_user_watches)
  // comes before any process of the context has queued a wait on the ring:
  // each one's make_io() attaches, or sees it attached, first.
  void attach(const boost::asio::any_io_executor& ex)
  {
    std::lock_guard lock(mutex_);
    if (ring_state_.load() != ring_state::unattached || shut_down_)
      return;
    ring_descriptor_.emplace(ex);
    boost::system::error_code ec;
    ring_descriptor_->assign(ring_->fd(), ec);
    if (ec)
      ring_descriptor_.reset();
    ring_state_.store(ec ? ring_state::refused : ring_state::attached,
        std::memory_order_release);
  }

  // True once attach() has succeeded (it is not needed again).
  bool attached() const noexcept
  {
    return ring_state_.load(std::memory_order_acquire) == ring_state::attached;
  }

  // A request was queued on the ring: outside a batch, a flush is posted
  // unless one is pending (one system call for all the requests made
  // meanwhile), and the ring's fd is waited for.
  void ring_requested()
  {
    // Queued in ring_ready()'s batch: its end submits it and arms the
    // wait for the ring.
    if (ring_->reaping_here())
      return;
    if (ring_->claim_flush())
    {
      std::lock_guard lock(mutex_);
      if (ring_descriptor_ && !shut_down_)
        boost::asio::post(ring_descriptor_->get_executor(),
            boost::asio::bind_allocator(
                handler_memory_allocator<void>(flush_memory_), [this] {
                  boost::system::error_code ignored; // the next flush retries
                  ring_->flush(ignored);
                  arm_ring_wait();
                }));
    }
    arm_ring_wait();
  }

  // Takes a child to reap; false if the io_context has shut down, and a
  // library thread reaps it instead.
  bool adopt_orphan(std::shared_ptr<process_io> orphan)
  {
    {
      std::lock_guard lock(mutex_);
      if (!shut_down_)
      {
        orphans_.insert(std::move(orphan));
        return true;
      }
    }
    orphan->shut_down();
    reap_in_background(std::move(orphan));
    return false;
  }

  // The child is reaped (or its state closed).
  void forget(const std::shared_ptr<process_io>& orphan)
  {
    std::lock_guard lock(mutex_);
    orphans_.erase(orphan);
  }

private:
  void shutdown() override
  {
    std::set<std::shared_ptr<process_io>> orphans;
    std::vector<std::shared_ptr<process_state>> polled;
    {
      std::lock_guard lock(mutex_);
      shut_down_ = true;
      orphans.swap(orphans_);
      // The ring owns its fd: the descriptor only lets it go. In the
      // reactor it does so now, and its pending wait is destroyed with the
      // reactor's ops. Asio's io_uring backend would free the registration
      // with the wait still queued in it, where nothing destroys the wait
      // until after this service, whose memory holds it, is gone (ASan:
      // hostile_env_test.io_context_destroyed_with_waits_pending.uring).
      // There the descriptor stays registered, so that the backend's own
      // shutdown destroys the wait, and ~process_service lets it go.
      if constexpr (!PIDFD_ASIO_DESCRIPTORS_ON_IO_URING)
      {
        if (ring_descriptor_)
          ring_descriptor_->release();
        ring_descriptor_.reset();
      }
    }
    // Without the service's lock: the ring's shutdown delivers the
    // outcomes of the reaps it cancels to their processes, whose locks are
    // taken before ours (a wait queued asks for a flush).
    if (ring_)
      polled = ring_->shut_down();
    for (const std::shared_ptr<process_state>& p : polled)
      static_cast<process_io*>(p.get())->shut_down();
    polled.clear();
    for (const std::shared_ptr<process_io>& orphan : orphans)
    {
      orphan->shut_down();
      reap_in_background(orphan);
    }
  }

  // Waits for the ring's fd while polls are in the kernel: one wait at a
  // time, whoever asks. A wait armed while another thread was reaping the
  // last poll (it saw that poll still in flight) waits for nothing once
  // the ring is idle, and would keep run() from returning: the reaper's
  // call here cancels it, and ring_ready() arms it again if a poll came
  // meanwhile.
  void arm_ring_wait()
  {
    std::lock_guard lock(mutex_);
    if (shut_down_ || !ring_descriptor_)
      return;
    if (ring_wait_armed_)
    {
      if (!ring_->busy())
      {
        boost::system::error_code ignored;
        ring_descriptor_->cancel(ignored);
      }
      return;
    }
    if (!ring_->busy())
      return;
    ring_wait_armed_ = true;
    ring_descriptor_->async_wait(process_io::descriptor_type::wait_read,
        boost::asio::bind_allocator(
            handler_memory_allocator<void>(wait_memory_),
            [this](const boost::system::error_code& ec) { ring_ready(ec); }));
  }

  // The ring has completions: each completed poll's process completes its
  // waiters, here, in one batch, so that what they queue (the next polls,
  // the closes of collected processes) is submitted in one system call as
  // the batch ends; then the ring is waited for again, if it must be.
  void ring_ready(const boost::system::error_code& ec)
  {
    {
      std::lock_guard lock(mutex_);
      ring_wait_armed_ = false;
      if (shut_down_)
        return;
    }
    if (ec == boost::asio::error::operation_aborted)
    {
      arm_ring_wait(); // cancelled as idle: again if a poll came since
      return;
    }
    // Again even if a handler throws out of the batch.
    struct rearm
    {
      process_service* self;
      ~rearm() { self->arm_ring_wait(); }
    } rearm{this};
    wait_ring::batch batch(*ring_);
    wait_ring::completion c;
    bool more = true;
    while (more && ring_->next(c, more))
      static_cast<process_io*>(c.owner.get())->ring_completed(c);
  }

  std::mutex mutex_;
  bool shut_down_ = false;
  std::set<std::shared_ptr<process_io>> orphans_;
  // The io_uring mechanism's: the ring, the descriptor that waits for its
  // fd, and whether that wait is queued.
  std::unique_ptr<wait_ring> ring_;
  std::optional<process_io::descriptor_type> ring_descriptor_;
  // Whether the ring's descriptor is assigned (attach() succeeded) or was
  // refused: read without the mutex, by every spawn and every wait.
  enum class ring_state : unsigned char
  {
    unattached,
    attached,
    refused
  };
  std::atomic<ring_state> ring_state_{ring_state::unattached};
  bool ring_wait_armed_ = false;
  // The memory of the ring's wait and of the flush: no heap for either.
  handler_memory wait_memory_;
  handler_memory flush_memory_;
};

inline process_io::process_io(
    const boost::asio::any_io_executor& ex, const process_init& init)
  : process_state(init),
    asio_(std::in_place_type<boost::asio::any_io_executor>, ex),
    service_(boost::asio::use_service<process_service>(
        boost::asio::query(ex, boost::asio::execution::context)))
{
}

inline wait_ring* process_io::ring() const noexcept
{
  return process_state::waits_on_ring() ? service_.ring() : nullptr;
}

inline void process_io::attach_ring(const boost::asio::any_io_executor& ex)
{
  service_.attach(ex);
}

inline bool process_io::ring_attached() const noexcept
{
  return service_.attached();
}

inline void process_io::service_ring_requested()
{
  service_.ring_requested();
}

inline void process_io::abandon()
{
  {
    locked state(*this);
    if (!state.abandon())
    {
      close(state);
      return;
    }
    // The owner's waits end now; the service's wait (which keeps this
    // object alive) reaps the child when it exits.
    cancel_descriptor(state);
    abort_ring_waiters(state);
  }
  if (service_.adopt_orphan(shared_from_this()))
    arm_orphan();
}

inline void process_io::arm_orphan()
{
  boost::system::error_code ec;
  {
    locked state(*this);
    if (ring() && state.prepare_wait(ec))
    {
      if (live_executor())
      {
        ring_wait(
            [self = shared_from_this()](
                const boost::system::error_code& e) { self->reap_orphan(e); });
        return;
      }
      ec = boost::asio::error::shut_down;
    }
    else if (!ring() && state.prepare_wait(ec) && assigned(state, ec))
    {
      descriptor()->async_wait(descriptor_type::wait_read,
          [self = shared_from_this()](
              const boost::system::error_code& e) { self->reap_orphan(e); });
      return;
    }
  }
  reap_orphan(ec ? ec : boost::asio::error::operation_aborted);
}

inline void process_io::reap_orphan(const boost::system::error_code& ec)
{
  wait_result ignored;
  switch (step(any_generation, ignored))
  {
  case collect_step::collected:
    close();
    service_.forget(shared_from_this());
    return;
  case collect_step::rearm:
    // Cancelled (the owner's waits were, just before), or a stale
    // readiness event: wait again.
    if (ec == boost::asio::error::shut_down)
      return;
    arm_orphan();
    return;
  case collect_step::backoff:
  {
    boost::asio::any_io_executor ex;
    {
      locked state(*this);
      const boost::asio::any_io_executor* live = live_executor();
      if (!live)
        return; // shut down: a library thread reaps it
      ex = *live;
    }
    // From the default allocator: reaping an orphan serves no caller's
    // handler whose allocator it could use.
    auto timer = std::make_shared<boost::asio::steady_timer>(
        ex, std::chrono::milliseconds(10));
    timer->async_wait(
        [self = shared_from_this(), timer](
            const boost::system::error_code&) { self->arm_orphan(); });
    return;
  }
  }
}

// An executor of the context of `ex` for what the context's service does
// for all its processes (the wait for the ring's fd): the io_context's own
// where the type says the context is one, or where `ex` is a type-erased
// io_context executor; not `ex`, whose strand would put every process's
// completions behind that strand's handlers, and whose tracked work would
// keep run() from returning for as long as the context lives. Elsewhere
// `ex` itself, without its work.
template <typename Executor>
boost::asio::any_io_executor context_executor(const Executor& ex)
{
  using context_type = std::remove_reference_t<decltype(boost::asio::query(
      ex, boost::asio::execution::context))>;
  if constexpr (std::is_base_of_v<boost::asio::io_context, context_type>)
    return boost::asio::query(ex, boost::asio::execution::context)
        .get_executor();
  else
  {
    if constexpr (std::is_same_v<Executor, boost::asio::any_io_executor>)
      if (const auto* io =
              ex.template target<boost::asio::io_context::executor_type>())
        return io->context().get_executor();
    return boost::asio::prefer(boost::asio::any_io_executor(ex),
        boost::asio::execution::outstanding_work.untracked);
  }
}

// The binding's state for what the engine made of a spawn or an adoption;
// nullptr if ec is set.
template <typename Executor>
std::shared_ptr<process_io> make_io(const Executor& ex,
    const process_init& init, const boost::system::error_code& ec)
{
  if (ec)
    return nullptr;
  auto io = std::make_shared<process_io>(ex, init);
  if (io->waits_on_ring() && !io->ring_attached())
    io->attach_ring(context_executor(ex));
  return io;
}

} // namespace pidfd::detail

#endif // PIDFD_IMPL_PROCESS_IO_HPP
