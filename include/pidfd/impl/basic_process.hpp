//
// pidfd/impl/basic_process.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Template definitions for basic_process.
//

#ifndef PIDFD_IMPL_BASIC_PROCESS_HPP
#define PIDFD_IMPL_BASIC_PROCESS_HPP

#include <boost/asio/append.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>

namespace pidfd {
namespace detail {

template <typename Executor>
basic_process<Executor> make_process(
    const Executor& ex, std::shared_ptr<process_impl> impl)
{
  return basic_process<Executor>(ex, std::move(impl));
}

// The composed operation behind async_wait: a readiness wait on the pidfd,
// then waitid(P_PIDFD, WNOHANG). The shared_ptr keeps the state alive when
// the process object is destroyed or moved while the wait is outstanding.
class wait_op
{
public:
  explicit wait_op(std::shared_ptr<process_impl> impl) noexcept
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
      step_ = step::posted;
      // Not inline: the handler must not run inside the initiating
      // function. (The executor is copied before self is moved.)
      auto ex = self.get_io_executor();
      boost::asio::post(ex,
          boost::asio::append(std::move(self), boost::system::error_code()));
      return;
    }
    generation_ = impl_->cancel_generation();
    if (impl_->collected(result_))
    {
      // Through the process's own executor, which (unlike the type-erased
      // one of the reactor) passes the handler's allocator on to post.
      step_ = step::posted;
      auto ex = self.get_io_executor();
      boost::asio::post(ex,
          boost::asio::append(std::move(self), boost::system::error_code()));
      return;
    }
    step_ = step::readiness;
    impl_->arm(std::move(self));
  }

  template <typename Self>
  void operator()(Self& self, boost::system::error_code ec)
  {
    switch (step_)
    {
    case step::posted:
      break;
    case step::readiness:
      // A cancelled wait reports operation_aborted and collects nothing,
      // even if the process has exited meanwhile: a later wait gets it.
      if (ec)
      {
        result_ = {ec, {}};
        break;
      }
      // A cancellation requested after the readiness wait completed (its
      // handler already queued) reached no sub-operation: it still counts,
      // so look before collecting.
      if (self.cancelled() != boost::asio::cancellation_type::none)
      {
        result_ = {boost::asio::error::operation_aborted, {}};
        break;
      }
      if (impl_->try_collect(result_, generation_))
        break;
      // The reactor may report readiness that is gone (a stale event); wait
      // again. Readable but not reapable is ptrace: the tracer is told of
      // the exit before the parent may reap, and the pidfd stays readable
      // meanwhile, so a new readiness wait would return at once; poll with a
      // short backoff instead.
      if (!impl_->readable())
        return impl_->arm(std::move(self));
      return sleep(self);
    case step::backoff:
      if (ec || impl_->closed()
          || self.cancelled() != boost::asio::cancellation_type::none)
      {
        result_ = {boost::asio::error::operation_aborted, {}};
        break;
      }
      if (impl_->try_collect(result_, generation_))
        break;
      step_ = step::readiness;
      if (!impl_->readable())
        return impl_->arm(std::move(self));
      return sleep(self);
    }
    impl_.reset();
    self.complete(result_.ec, result_.status);
  }

private:
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

  std::shared_ptr<process_impl> impl_;
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
    std::shared_ptr<process_impl> impl, const Executor& ex, Token&& token)
{
  return boost::asio::async_compose<Token,
      void(boost::system::error_code, exit_status)>(
      wait_op(std::move(impl)), token, ex);
}

// The composed operation behind async_terminate: a first signal (SIGTERM,
// or async_run's stop signal), then a wait raced against a grace timer,
// then SIGKILL and a last wait if the timer won.
template <typename Executor>
class terminate_op
{
public:
  terminate_op(std::shared_ptr<process_impl> impl, const Executor& ex,
      int first_signal, std::chrono::steady_clock::duration grace)
    : impl_(std::move(impl)), executor_(ex), first_signal_(first_signal),
      grace_(grace)
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
      ec = error::invalid_option;
    else
      impl_->signal(first_signal_, ec);
    if (ec == error::process_done)
      return async_wait_impl(impl_, executor_, std::move(self));
    if (ec)
    {
      auto ex = self.get_io_executor(); // before self is moved
      return boost::asio::post(
          ex, boost::asio::append(std::move(self), ec, exit_status()));
    }

    timer_ = std::make_unique<
        boost::asio::basic_waitable_timer<std::chrono::steady_clock,
            boost::asio::wait_traits<std::chrono::steady_clock>, Executor>>(
        executor_, grace_);
    boost::asio::experimental::make_parallel_group(
        async_wait_impl(impl_, executor_, boost::asio::deferred),
        timer_->async_wait(boost::asio::deferred))
        .async_wait(boost::asio::experimental::wait_for_one(), std::move(self));
  }

  // The race between the wait and the grace timer.
  template <typename Self>
  void operator()(Self& self, std::array<std::size_t, 2> order,
      boost::system::error_code wait_ec, exit_status status,
      boost::system::error_code)
  {
    const bool cancelled = self.get_cancellation_state().cancelled()
        != boost::asio::cancellation_type::none;
    if (order[0] == 0 || cancelled)
    {
      if (cancelled && wait_ec == boost::asio::error::operation_aborted)
        return self.complete(boost::asio::error::operation_aborted, {});
      return self.complete(wait_ec, status);
    }
    boost::system::error_code ec;
    impl_->signal(SIGKILL, ec); // process_done if it exited meanwhile
    async_wait_impl(impl_, executor_, std::move(self));
  }

  // The final wait (or an immediate error).
  template <typename Self>
  void operator()(Self& self, boost::system::error_code ec, exit_status status)
  {
    self.complete(ec, status);
  }

private:
  std::shared_ptr<process_impl> impl_;
  Executor executor_;
  int first_signal_;
  std::chrono::steady_clock::duration grace_;
  std::unique_ptr<boost::asio::basic_waitable_timer<std::chrono::steady_clock,
      boost::asio::wait_traits<std::chrono::steady_clock>, Executor>>
      timer_;
};

// async_terminate without a process object, with any first signal: for
// operations that stop a child as one of their steps (async_run).
template <typename Executor, typename Token>
auto async_terminate_impl(std::shared_ptr<process_impl> impl,
    const Executor& ex, int first_signal,
    std::chrono::steady_clock::duration grace, Token&& token)
{
  return boost::asio::async_compose<Token,
      void(boost::system::error_code, exit_status)>(
      terminate_op<Executor>(std::move(impl), ex, first_signal, grace), token,
      ex);
}

template <typename Executor>
const std::shared_ptr<process_impl>& impl_of(
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

  explicit initiate_async_terminate(basic_process* self) noexcept : self_(self)
  {
  }

  executor_type get_executor() const noexcept { return self_->executor_; }

  template <typename Handler>
  void operator()(
      Handler&& handler, std::chrono::steady_clock::duration grace) const
  {
    detail::async_terminate_impl(self_->impl_, self_->executor_, SIGTERM, grace,
        std::forward<Handler>(handler));
  }

private:
  basic_process* self_;
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
