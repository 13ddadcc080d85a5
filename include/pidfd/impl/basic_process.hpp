//
// pidfd/impl/basic_process.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Template definitions for basic_process.
//

#ifndef PIDFD_IMPL_BASIC_PROCESS_HPP
#define PIDFD_IMPL_BASIC_PROCESS_HPP

#include "pidfd/detail/backoff_timer.hpp"
#include "pidfd/detail/handler_associator.hpp"
#include "pidfd/detail/run_support.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <optional>

namespace pidfd {
namespace detail {

template <typename Executor>
basic_process<Executor> make_process(
    const Executor& ex, std::shared_ptr<process_io> impl)
{
  return basic_process<Executor>(ex, std::move(impl));
}

// What an async_wait decides, apart from its handler: compiled once,
// whatever the handler (out of line, so that a handler's code only calls
// it). A wait is a readiness wait on the process's readiness fd, then the
// collect step, again until it collects; the shared_ptr keeps the state
// alive when the process object is destroyed or moved while the wait is
// outstanding. Every step is a wait on a descriptor of the process's
// executor (descriptor_for): the readiness fd, the back-off's timerfd, or
// one that holds no fd, for a completion that must not run inline.
class wait_state
{
public:
  using descriptor_type = process_io::descriptor_type;

  explicit wait_state(std::shared_ptr<process_io> impl) noexcept
    : impl_(std::move(impl))
  {
  }

  BOOST_NOINLINE wait_state(wait_state&& other) noexcept = default;
  wait_state& operator=(wait_state&&) = delete;
  BOOST_NOINLINE ~wait_state() = default;

  // The first step's descriptor; see resume(). For a process object that
  // has no process, the caller has made `unopened` on its executor.
  BOOST_NOINLINE descriptor_type* start(std::unique_lock<std::mutex>& lock,
      std::optional<descriptor_type>& unopened)
  {
    if (!impl_)
    {
      result_.ec = error::no_process;
      step_ = step::posted;
      return &*unopened;
    }
    generation_ = impl_->cancel_generation();
    if (impl_->collected(result_))
    {
      step_ = step::posted;
      return &unopened.emplace(impl_->unopened_descriptor());
    }
    step_ = step::readiness;
    return descriptor_for(lock, unopened);
  }

  // A step completed with `ec`; `cancelled` if the operation's
  // cancellation was requested meanwhile. The next step's descriptor: the
  // caller waits on it (with `lock` held until the wait is queued, and
  // `unopened` alive until then), or, if it is nullptr, completes with
  // result().
  BOOST_NOINLINE descriptor_type* resume(boost::system::error_code ec,
      bool cancelled, std::unique_lock<std::mutex>& lock,
      std::optional<descriptor_type>& unopened)
  {
    resumed_ = true;
    switch (step_)
    {
    case step::posted:
      return finish();
    case step::not_armed: // the reactor's bad_descriptor means nothing
      ec = not_armed_ec_;
      step_ = step::readiness;
      break;
    default:
      break;
    }
    // A cancelled wait reports operation_aborted and collects nothing,
    // even if the process has exited meanwhile: a later wait gets it. A
    // cancellation requested after the readiness wait or the sleep
    // completed (its handler already queued) reached no sub-operation: it
    // still counts.
    if (ec || cancelled)
    {
      result_ = {step_ == step::readiness && ec
              ? ec
              : boost::system::error_code(
                  boost::asio::error::operation_aborted),
          {}};
      return finish();
    }
    switch (impl_->step(generation_, result_))
    {
    case collect_step::collected:
      return finish();
    case collect_step::rearm:
      step_ = step::readiness;
      break;
    case collect_step::backoff:
      step_ = step::backoff;
      break;
    }
    return descriptor_for(lock, unopened);
  }

  const wait_result& result() const noexcept { return result_; }

  // True once a step has completed: the next is a continuation.
  bool resumed() const noexcept { return resumed_; }

  bool has_process() const noexcept { return impl_ != nullptr; }

  // True while the step is the wait on an unopened descriptor.
  bool completing() const noexcept
  {
    return step_ == step::posted || step_ == step::not_armed;
  }

private:
  // The descriptor for step_ (readiness or backoff).
  descriptor_type* descriptor_for(std::unique_lock<std::mutex>& lock,
      std::optional<descriptor_type>& unopened)
  {
    boost::system::error_code ec;
    if (step_ == step::readiness)
    {
      if (descriptor_type* d = impl_->readiness_descriptor(lock, ec))
        return d;
      // Collected, closed or refused: what the readiness wait would have
      // reported, once the wait below completes.
      not_armed_ec_ = ec;
      step_ = step::not_armed;
    }
    else if (descriptor_type* t = arm_timer(ec))
      return t;
    else
    {
      result_ = {ec, {}};
      step_ = step::posted;
    }
    return &unopened.emplace(impl_->unopened_descriptor());
  }

  // The back-off timer, armed with the next of backoff_delays; nullptr
  // with ec set if it cannot be.
  descriptor_type* arm_timer(boost::system::error_code& ec)
  {
    if (!timer_)
    {
      timer_ = std::make_unique<descriptor_type>(impl_->unopened_descriptor());
      const int fd = open_backoff_timer(backoff_, ec);
      if (!ec)
        timer_->assign(fd, ec);
      if (ec && fd >= 0 && !timer_->is_open())
        close_backoff_timer(fd);
    }
    else
      rearm_backoff_timer(timer_->native_handle(), backoff_, ec);
    if (ec)
      return nullptr;
    backoff_ = backoff_delays::next(backoff_);
    return timer_.get();
  }

  // Done: what the operation held goes before the handler runs (which may
  // destroy the io_context).
  descriptor_type* finish() noexcept
  {
    timer_.reset();
    impl_.reset();
    return nullptr;
  }

  enum class step : unsigned char
  {
    starting,
    posted, // complete once the unopened descriptor's wait does
    not_armed, // the same, with not_armed_ec_ as the readiness wait's
    readiness,
    backoff
  };

  std::shared_ptr<process_io> impl_;
  wait_result result_;
  step step_ = step::starting;
  bool resumed_ = false;
  boost::system::error_code not_armed_ec_;
  std::uint64_t generation_ = 0;
  std::chrono::milliseconds backoff_ = backoff_delays::first;
  std::unique_ptr<descriptor_type> timer_;
};

// The operation behind async_wait: the one type that holds the handler,
// and the handler of each of its steps, which are all the same Asio
// operation (wait_state), so that a handler type costs one completion
// path. The handler's executor, allocator and other associations are this
// object's (associator below); its cancellation slot is the operation's
// own, filtered, so that a cancellation that reaches no step still counts.
template <typename Handler>
class wait_handler_op
{
public:
  using cancellation_slot_type = boost::asio::cancellation_slot;

  wait_handler_op(Handler&& handler, std::shared_ptr<process_io> impl)
    : handler_(std::move(handler)),
      // A wait has no side effect, so every kind of cancellation is safe.
      cancel_(boost::asio::get_associated_cancellation_slot(handler_),
          boost::asio::enable_total_cancellation()),
      state_(std::move(impl))
  {
  }

  // Starts the operation; `ex` is the process object's.
  template <typename Executor>
  void start(const Executor& ex)
  {
    std::unique_lock<std::mutex> lock;
    std::optional<wait_state::descriptor_type> unopened;
    if (!state_.has_process())
      unopened.emplace(ex);
    wait_on(state_.start(lock, unopened));
  }

  // Each step completes here.
  void operator()(boost::system::error_code ec)
  {
    std::unique_lock<std::mutex> lock;
    std::optional<wait_state::descriptor_type> unopened;
    wait_on(state_.resume(ec,
        cancel_.cancelled() != boost::asio::cancellation_type::none, lock,
        unopened));
  }

  // None for a wait on an unopened descriptor: that descriptor is gone
  // once the wait is queued, and the slot's handler would refer to it. The
  // operation's own state still records a cancellation meanwhile.
  cancellation_slot_type get_cancellation_slot() const noexcept
  {
    return state_.completing() ? cancellation_slot_type() : cancel_.slot();
  }

  const Handler& handler() const noexcept { return handler_; }

  friend bool asio_handler_is_continuation(wait_handler_op* op)
  {
    return op->state_.resumed();
  }

private:
  // Out of line: the first step and the others share one copy of the
  // initiation and of the upcall.
  BOOST_NOINLINE void wait_on(wait_state::descriptor_type* d)
  {
    if (d)
      return d->async_wait(
          wait_state::descriptor_type::wait_read, std::move(*this));
    const wait_result r = state_.result();
    std::move(handler_)(r.ec, r.status);
  }

  Handler handler_;
  boost::asio::cancellation_state cancel_;
  wait_state state_;
};

// async_wait without a process object: for operations that wait as one of
// their steps.
template <typename Executor, typename Token>
auto async_wait_impl(
    std::shared_ptr<process_io> impl, const Executor& ex, Token&& token)
{
  return boost::asio::async_initiate<Token,
      void(boost::system::error_code, exit_status)>(
      [](auto&& handler, std::shared_ptr<process_io> impl, const Executor& ex) {
        wait_handler_op<std::decay_t<decltype(handler)>>(
            std::move(handler), std::move(impl))
            .start(ex);
      },
      token, std::move(impl), ex);
}

// The composed operation behind async_wait_tree: cgroup.events in the
// reactor, waited for with wait_error (the kernel signals each change of
// the file as POLLPRI, with POLLERR), and "populated" read again after
// each wake. The file is read once right after it is registered: a change
// before that is seen by the read, one after it wakes the wait (epoll
// re-polls the file when the wait is queued; io_uring's poll checks the
// file's state when it is armed, and the state stays "changed" until the
// file is read).
//
// Once the cgroup is empty the fd is closed and a cgroup the library
// created is removed, by the last of its watchers (the other waits, a
// kill_tree): removed under an open fd, its next read would fail with
// ENODEV. The kernel may refuse the removal (EBUSY) for a short while
// after the cgroup reads empty, while the tasks killed are released; the
// wait then retries after a growing delay, and completes once it is
// removed, or with device_or_resource_busy when tree_removal_backoff's
// total has passed. With only_if_empty, a tree that still runs is not
// waited for: the operation completes at once, with success.
template <typename Executor>
class tree_wait_op
{
public:
  tree_wait_op(std::shared_ptr<process_io> impl, const Executor& ex,
      bool only_if_empty = false)
    : impl_(std::move(impl)), executor_(ex), only_if_empty_(only_if_empty)
  {
  }

  template <typename Self>
  void operator()(Self& self)
  {
    // A wait has no side effect, so every kind of cancellation is safe.
    // (Removing the cgroup of a tree that is gone is no change a caller
    // could see.)
    self.reset_cancellation_state(boost::asio::enable_total_cancellation());
    boost::system::error_code ec;
    int fd = -1;
    if (!impl_)
      ec = error::no_process;
    else
      fd = impl_->open_tree_events(ec);
    if (!ec && fd >= 0)
    {
      events_ = std::make_unique<descriptor_type>(executor_);
      events_->assign(fd, ec);
      if (ec)
      {
        close_fd(fd);
        events_.reset();
        impl_->close_tree_events();
      }
    }
    // -1 without an error: the library removed the cgroup, the tree is
    // gone.
    if (ec || fd < 0)
      return complete_later(self, ec);
    if (populated(ec))
    {
      if (only_if_empty_)
        return complete_later(self, ec);
      step_ = step::readiness;
      return events_->async_wait(descriptor_type::wait_error, std::move(self));
    }
    if (ec)
      return complete_later(self, ec);
    remove(self);
  }

  // The readiness wait, or the delay before another removal.
  template <typename Self>
  void operator()(Self& self, boost::system::error_code ec)
  {
    if (step_ == step::posted)
      return finish(self, ec);
    if (step_ == step::backoff)
    {
      // The tree is gone; only its cgroup is left. A cancelled delay gets
      // one last attempt.
      boost::system::error_code busy = impl_->remove_tree();
      if (!busy)
        return finish(self, {});
      if (ec || waited_ >= tree_removal_backoff::total)
        return finish(self, ec ? ec : busy);
      return retry_later(self);
    }
    if (!ec && self.cancelled() != boost::asio::cancellation_type::none)
      ec = boost::asio::error::operation_aborted;
    if (!ec && populated(ec))
      return events_->async_wait(descriptor_type::wait_error, std::move(self));
    if (ec)
      return finish(self, ec);
    remove(self);
  }

private:
  using descriptor_type = boost::asio::posix::basic_stream_descriptor<Executor>;
  using timer_type =
      boost::asio::basic_waitable_timer<std::chrono::steady_clock,
          boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;

  bool populated(boost::system::error_code& ec)
  {
    return impl_->tree_populated(events_->native_handle(), ec);
  }

  // The tree is empty: our fd goes, then a created cgroup, unless another
  // watcher is left to remove it.
  template <typename Self>
  void remove(Self& self)
  {
    // Once: close_events() would count this watcher gone a second time,
    // and the cgroup could be removed under another watcher's fd.
    events_.reset();
    boost::system::error_code ec = impl_->close_tree_events();
    if (ec == boost::system::errc::device_or_resource_busy)
      return retry_later(self);
    complete_later(self, ec);
  }

  template <typename Self>
  void retry_later(Self& self)
  {
    if (!timer_)
      timer_ = std::make_unique<timer_type>(executor_);
    timer_->expires_after(delay_);
    waited_ += delay_;
    delay_ = tree_removal_backoff::next(delay_);
    step_ = step::backoff;
    timer_->async_wait(std::move(self));
  }

  void close_events()
  {
    if (!events_)
      return;
    events_.reset();
    // Not after seeing the tree empty (remove() has run): a removal this
    // makes for another watcher that saw it empty, if refused, is retried
    // by the cgroup's destructor.
    impl_->close_tree_events();
  }

  // Not inline: the handler must not run inside the initiating function.
  template <typename Self>
  void complete_later(Self& self, const boost::system::error_code& ec)
  {
    step_ = step::posted;
    auto ex = self.get_io_executor(); // before self is moved
    boost::asio::post(ex, boost::asio::append(std::move(self), ec));
  }

  template <typename Self>
  void finish(Self& self, const boost::system::error_code& ec)
  {
    close_events(); // before the upcall
    timer_.reset();
    impl_.reset();
    self.complete(ec);
  }

  enum class step : unsigned char
  {
    posted,
    readiness,
    backoff
  };

  std::shared_ptr<process_io> impl_;
  Executor executor_;
  bool only_if_empty_;
  step step_ = step::posted;
  std::unique_ptr<descriptor_type> events_;
  std::unique_ptr<timer_type> timer_;
  std::chrono::milliseconds delay_ = tree_removal_backoff::first;
  std::chrono::milliseconds waited_{0};
};

// async_wait_tree without a process object.
// With only_if_empty, a tree still running is not waited for (see
// tree_wait_op).
template <typename Executor, typename Token>
auto async_wait_tree_impl(std::shared_ptr<process_io> impl, const Executor& ex,
    Token&& token, bool only_if_empty = false)
{
  return boost::asio::async_compose<Token, void(boost::system::error_code)>(
      tree_wait_op<Executor>(std::move(impl), ex, only_if_empty), token, ex);
}

// The composed operation behind async_terminate: SIGTERM to the child (or to
// its tree), and a grace timer beside the waits that sends SIGKILL to what is
// left if they have not completed by then. With the tree scope and a cgroup,
// the tree is waited for first (until the cgroup is empty), the child last,
// for its status. Only the waits complete into the operation: the timer's
// handler touches nothing but the (thread-safe) process state, so the
// operation is safe on an io_context run by several threads, with no strand
// from the user. (async_run stops its child itself: it already waits for the
// child, on its strand, and its stop signal is the caller's.)
template <typename Executor>
class terminate_op
{
public:
  terminate_op(std::shared_ptr<process_io> impl, const Executor& ex,
      terminate_scope scope, std::chrono::steady_clock::duration grace)
    : impl_(std::move(impl)), executor_(ex),
      tree_(scope == terminate_scope::tree), grace_(grace)
  {
  }

  template <typename Self>
  void operator()(Self& self)
  {
    // Sending signals is a side effect that cannot be undone, so only
    // terminal cancellation is supported.
    self.reset_cancellation_state(boost::asio::enable_terminal_cancellation());
    boost::system::error_code ec;
    if (!impl_)
      ec = error::no_process;
    else if (grace_ < std::chrono::steady_clock::duration::zero())
      ec = error::invalid_grace_period;
    else
      send(*impl_, tree_, SIGTERM, ec);
    // process_done: the child has exited (for a tree: the cgroup the
    // library made is gone, or the group's leader was collected); what is
    // left is the child's status.
    if (ec == error::process_done)
      return async_wait_impl(impl_, executor_, std::move(self));
    if (ec)
    {
      auto ex = self.get_io_executor(); // before self is moved
      return boost::asio::post(
          ex, boost::asio::append(std::move(self), ec, exit_status()));
    }

    timer_ = std::make_unique<timer_type>(executor_, grace_);
    over_ = std::make_shared<std::atomic<bool>>(false);
    timer_->async_wait([impl = impl_, over = over_, tree = tree_](
                           const boost::system::error_code& timer_ec) {
      boost::system::error_code ignored; // the child (or tree) may be gone
      if (!timer_ec && !over->load())
        send(*impl, tree, SIGKILL, ignored);
    });
    if (tree_ && impl_->has_cgroup())
      return async_wait_tree_impl(impl_, executor_, std::move(self));
    async_wait_impl(impl_, executor_, std::move(self));
  }

  // The tree wait: the tree is gone, the child has exited; collect it.
  template <typename Self>
  void operator()(Self& self, boost::system::error_code ec)
  {
    if (ec)
      return (*this)(self, ec, exit_status());
    async_wait_impl(impl_, executor_, std::move(self));
  }

  // The child's wait (or an immediate error).
  template <typename Self>
  void operator()(Self& self, boost::system::error_code ec, exit_status status)
  {
    if (over_)
    {
      // Cancelled, or the process is gone: SIGKILL is not to be sent.
      over_->store(true);
      timer_.reset(); // its handler runs with operation_aborted
    }
    if (self.get_cancellation_state().cancelled()
            != boost::asio::cancellation_type::none
        && ec == boost::asio::error::operation_aborted)
      return self.complete(boost::asio::error::operation_aborted, {});
    self.complete(ec, status);
  }

private:
  using timer_type =
      boost::asio::basic_waitable_timer<std::chrono::steady_clock,
          boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;

  static void send(
      process_io& impl, bool tree, int sig, boost::system::error_code& ec)
  {
    if (tree)
      impl.signal_tree(sig, ec);
    else
      impl.signal(sig, ec);
  }

  std::shared_ptr<process_io> impl_;
  Executor executor_;
  bool tree_;
  std::chrono::steady_clock::duration grace_;
  std::unique_ptr<timer_type> timer_;
  std::shared_ptr<std::atomic<bool>> over_;
};

// async_terminate without a process object.
template <typename Executor, typename Token>
auto async_terminate_impl(std::shared_ptr<process_io> impl, const Executor& ex,
    terminate_scope scope, std::chrono::steady_clock::duration grace,
    Token&& token)
{
  return boost::asio::async_compose<Token,
      void(boost::system::error_code, exit_status)>(
      terminate_op<Executor>(std::move(impl), ex, scope, grace), token, ex);
}

template <typename Executor>
const std::shared_ptr<process_io>& impl_of(
    const basic_process<Executor>& p) noexcept
{
  return p.impl_;
}

} // namespace detail

template <typename Executor>
class basic_process<Executor>::initiate_async_wait
{
public:
  using executor_type = Executor;

  explicit initiate_async_wait(basic_process* self) noexcept : self_(self) {}

  executor_type get_executor() const noexcept { return self_->executor_; }

  template <typename Handler>
  void operator()(Handler&& handler) const
  {
    detail::async_wait_impl(
        self_->impl_, self_->executor_, std::forward<Handler>(handler));
  }

private:
  basic_process* self_;
};

template <typename Executor>
class basic_process<Executor>::initiate_async_wait_tree
{
public:
  using executor_type = Executor;

  explicit initiate_async_wait_tree(basic_process* self) noexcept : self_(self)
  {
  }

  executor_type get_executor() const noexcept { return self_->executor_; }

  template <typename Handler>
  void operator()(Handler&& handler) const
  {
    detail::async_wait_tree_impl(
        self_->impl_, self_->executor_, std::forward<Handler>(handler));
  }

private:
  basic_process* self_;
};

template <typename Executor>
class basic_process<Executor>::initiate_async_signal
{
public:
  using executor_type = Executor;

  explicit initiate_async_signal(
      basic_process* self, bool group = false) noexcept
    : self_(self), group_(group)
  {
  }

  executor_type get_executor() const noexcept { return self_->executor_; }

  template <typename Handler>
  void operator()(Handler&& handler, int sig) const
  {
    boost::system::error_code ec;
    if (group_)
      self_->signal_group(sig, ec);
    else
      self_->signal(sig, ec);
    boost::asio::post(self_->executor_,
        boost::asio::append(std::forward<Handler>(handler), ec));
  }

private:
  basic_process* self_;
  bool group_;
};

template <typename Executor>
class basic_process<Executor>::initiate_async_terminate
{
public:
  using executor_type = Executor;

  explicit initiate_async_terminate(basic_process* self,
      terminate_scope scope = terminate_scope::process) noexcept
    : self_(self), scope_(scope)
  {
  }

  executor_type get_executor() const noexcept { return self_->executor_; }

  template <typename Handler>
  void operator()(
      Handler&& handler, std::chrono::steady_clock::duration grace) const
  {
    detail::async_terminate_impl(self_->impl_, self_->executor_, scope_, grace,
        std::forward<Handler>(handler));
  }

private:
  basic_process* self_;
  terminate_scope scope_;
};

template <typename Executor>
exit_status basic_process<Executor>::wait(boost::system::error_code& ec)
{
  if (!impl_)
  {
    ec = error::no_process;
    return {};
  }
  detail::wait_result r;
  impl_->wait_blocking(r);
  ec = r.ec;
  return r.status;
}

template <typename Executor>
std::optional<exit_status> basic_process<Executor>::try_wait(
    boost::system::error_code& ec)
{
  ec.clear();
  if (!impl_)
  {
    ec = error::no_process;
    return std::nullopt;
  }
  detail::wait_result r;
  if (!impl_->try_collect(r))
    return std::nullopt;
  ec = r.ec;
  if (ec)
    return std::nullopt;
  return r.status;
}

template <typename Executor>
typename basic_process<Executor>::native_handle_type basic_process<
    Executor>::release()
{
  if (!impl_)
    return -1;
  int fd = impl_->release();
  impl_.reset();
  return fd;
}

} // namespace pidfd

namespace boost::asio {

// The wait's handler is the user's as far as Asio is concerned: its
// associated executor, allocator (and any other associator but the
// cancellation slot, which wait_handler_op has of its own) are the
// handler's.
template <template <typename, typename> class Associator, typename Handler,
    typename DefaultCandidate>
struct associator<Associator, pidfd::detail::wait_handler_op<Handler>,
    DefaultCandidate>
  : pidfd::detail::handler_associator<Associator,
        pidfd::detail::wait_handler_op<Handler>, Handler, DefaultCandidate>
{
};

} // namespace boost::asio

#endif // PIDFD_IMPL_BASIC_PROCESS_HPP
