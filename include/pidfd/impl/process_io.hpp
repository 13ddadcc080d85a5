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

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/detail/throw_exception.hpp>
#include <boost/asio/execution/bad_executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
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
    locked state(*this);
    close(state);
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
    return &*descriptor_;
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
      if (descriptor_)
        ex = descriptor_->get_executor();
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
    locked state(*this);
    if (!state.begin_close())
      return -1;
    release_descriptor(state);
    return state.release_fd();
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
    release_descriptor(state);
    state.close_fd();
  }

  // The descriptor never closes the fd: the state owns it. Releasing
  // deregisters it from the reactor and cancels the waits.
  void release_descriptor(locked&)
  {
    if (descriptor_ && descriptor_->is_open())
      descriptor_->release();
  }

  void cancel_descriptor(locked&)
  {
    boost::system::error_code ignored;
    if (descriptor_ && descriptor_->is_open())
      descriptor_->cancel(ignored);
  }

  bool assigned(locked&, boost::system::error_code& ec)
  {
    if (!descriptor_)
    {
      ec = boost::asio::error::shut_down;
      return false;
    }
    if (descriptor_->is_open())
      return true;
    // Registers the fd. Asio sets a descriptor non-blocking before its
    // first wait; done here, once, so that it knows.
    descriptor_->assign(readiness_fd(), ec);
    if (!ec)
      descriptor_->native_non_blocking(true, ec);
    // A descriptor that the reactor refused is reported by this wait, and
    // the next one tries again; the fd itself stays the state's.
    if (ec && descriptor_->is_open())
      descriptor_->release();
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
    locked state(*this);
    release_descriptor(state);
    descriptor_.reset();
  }

  // Its executor is the process's I/O executor: no copy of that is kept
  // beside it (a child's memory counts, ten thousand at a time). Empty once
  // the io_context has shut down.
  std::optional<descriptor_type> descriptor_;
  // Created with the first process of an execution context, after its
  // reactor, so that it shuts down before the reactor does.
  process_service& service_;
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
    {
      std::lock_guard lock(mutex_);
      shut_down_ = true;
      orphans.swap(orphans_);
    }
    for (const std::shared_ptr<process_io>& orphan : orphans)
    {
      orphan->shut_down();
      reap_in_background(orphan);
    }
  }

  std::mutex mutex_;
  bool shut_down_ = false;
  std::set<std::shared_ptr<process_io>> orphans_;
};

inline process_io::process_io(
    const boost::asio::any_io_executor& ex, const process_init& init)
  : process_state(init), descriptor_(std::in_place, ex),
    service_(boost::asio::use_service<process_service>(
        boost::asio::query(ex, boost::asio::execution::context)))
{
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
  }
  if (service_.adopt_orphan(shared_from_this()))
    arm_orphan();
}

inline void process_io::arm_orphan()
{
  boost::system::error_code ec;
  {
    locked state(*this);
    if (state.prepare_wait(ec) && assigned(state, ec))
    {
      descriptor_->async_wait(descriptor_type::wait_read,
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
      if (!descriptor_)
        return; // shut down: a library thread reaps it
      ex = descriptor_->get_executor();
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

// The binding's state for what the engine made of a spawn or an adoption;
// nullptr if ec is set.
inline std::shared_ptr<process_io> make_io(
    const boost::asio::any_io_executor& ex, const process_init& init,
    const boost::system::error_code& ec)
{
  if (ec)
    return nullptr;
  return std::make_shared<process_io>(ex, init);
}

} // namespace pidfd::detail

#endif // PIDFD_IMPL_PROCESS_IO_HPP
