//
// pidfd/impl/basic_process.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Template definitions for basic_process.
//

#ifndef PIDFD_IMPL_BASIC_PROCESS_HPP
#define PIDFD_IMPL_BASIC_PROCESS_HPP

#include <boost/asio/append.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>

#include <unistd.h>

namespace pidfd {
namespace detail {

template <typename Executor>
basic_process<Executor> make_process(
    const Executor& ex, std::shared_ptr<process_io> impl)
{
  return basic_process<Executor>(ex, std::move(impl));
}

// The composed operation behind async_wait: a readiness wait on the
// process's readiness fd, then the collect step, again until it collects.
// The shared_ptr keeps the state alive when the process object is destroyed
// or moved while the wait is outstanding.
class wait_op
{
public:
  explicit wait_op(std::shared_ptr<process_io> impl) noexcept
    : impl_(std::move(impl))
  {
  }

  template <typename Self>
  void operator()(Self& self)
  {
    // A wait has no side effect, so every kind of cancellation is safe.
    self.reset_cancellation_state(boost::asio::enable_total_cancellation());
    if (!impl_)
    {
      result_.ec = error::no_process;
      return complete_later(self);
    }
    generation_ = impl_->cancel_generation();
    if (impl_->collected(result_))
      return complete_later(self);
    step_ = step::readiness;
    impl_->arm(std::move(self));
  }

  template <typename Self>
  void operator()(Self& self, boost::system::error_code ec)
  {
    if (step_ != step::posted)
    {
      // A cancelled wait reports operation_aborted and collects nothing,
      // even if the process has exited meanwhile: a later wait gets it. A
      // cancellation requested after the readiness wait or the sleep
      // completed (its handler already queued) reached no sub-operation:
      // it still counts.
      if (ec || self.cancelled() != boost::asio::cancellation_type::none)
        result_ = {step_ == step::readiness && ec
                ? ec
                : boost::system::error_code(
                    boost::asio::error::operation_aborted),
            {}};
      else
        switch (impl_->step(generation_, result_))
        {
        case collect_step::collected:
          break;
        case collect_step::rearm:
          step_ = step::readiness;
          return impl_->arm(std::move(self));
        case collect_step::backoff:
          return sleep(self);
        }
    }
    impl_.reset();
    self.complete(result_.ec, result_.status);
  }

private:
  // Not inline: the handler must not run inside the initiating function.
  // Through the process's own executor, which (unlike the type-erased one
  // of the reactor) passes the handler's allocator on to post. (The
  // executor is copied before self is moved.)
  template <typename Self>
  void complete_later(Self& self)
  {
    step_ = step::posted;
    auto ex = self.get_io_executor();
    boost::asio::post(
        ex, boost::asio::append(std::move(self), boost::system::error_code()));
  }

  template <typename Self>
  void sleep(Self& self)
  {
    if (!timer_)
      timer_ =
          std::make_unique<boost::asio::steady_timer>(self.get_io_executor());
    timer_->expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(64));
    step_ = step::backoff;
    timer_->async_wait(std::move(self));
  }

  enum class step : unsigned char
  {
    posted,
    readiness,
    backoff
  };

  std::shared_ptr<process_io> impl_;
  wait_result result_;
  step step_ = step::posted;
  std::uint64_t generation_ = 0;
  std::chrono::milliseconds backoff_{1};
  std::unique_ptr<boost::asio::steady_timer> timer_;
};

// async_wait without a process object: for operations that wait as one of
// their steps.
template <typename Executor, typename Token>
auto async_wait_impl(
    std::shared_ptr<process_io> impl, const Executor& ex, Token&& token)
{
  return boost::asio::async_compose<Token,
      void(boost::system::error_code, exit_status)>(
      wait_op(std::move(impl)), token, ex);
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
        ::close(fd);
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
    delay_ = std::min(delay_ * 2, tree_removal_backoff::max);
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

#endif // PIDFD_IMPL_BASIC_PROCESS_HPP
