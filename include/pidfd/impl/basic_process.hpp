//
// pidfd/impl/basic_process.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Template definitions for basic_process.
//

#ifndef PIDFD_IMPL_BASIC_PROCESS_HPP
#define PIDFD_IMPL_BASIC_PROCESS_HPP

#include <boost/asio/append.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace pidfd {
namespace detail {

template <typename Executor>
basic_process<Executor> make_process(const Executor& ex,
    std::shared_ptr<process_impl> impl)
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
      boost::asio::post(self.get_io_executor(),
          boost::asio::append(std::move(self), boost::system::error_code()));
      return;
    }
    generation_ = impl_->cancel_generation();
    step_ = step::readiness;
    impl_->arm(std::move(self));
  }

  // was_armed is false when arm() completed without a readiness wait (the
  // status was already collected, or the object was closed).
  template <typename Self>
  void operator()(Self& self, boost::system::error_code ec,
      bool was_armed = true)
  {
    switch (step_)
    {
    case step::posted:
      break;
    case step::readiness:
      if (was_armed)
        impl_->disarm();
      // Even a cancelled wait reports an outcome that is already known:
      // another wait may have collected it and woken us.
      if (impl_->try_collect(result_))
        break;
      if (ec)
      {
        result_ = {ec, {}};
        break;
      }
      // Readable but not reapable: under ptrace the tracer is told of the
      // exit before the parent may reap. The pidfd stays readable, so a new
      // readiness wait would return at once; poll with a short backoff.
      return sleep(self);
    case step::backoff:
      if (ec || impl_->closed()
          || impl_->cancel_generation() != generation_)
      {
        result_ = {boost::asio::error::operation_aborted, {}};
        break;
      }
      if (impl_->try_collect(result_))
        break;
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
      timer_ = std::make_unique<boost::asio::steady_timer>(
          self.get_io_executor());
    timer_->expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(64));
    step_ = step::backoff;
    timer_->async_wait(std::move(self));
  }

  enum class step : unsigned char { posted, readiness, backoff };

  std::shared_ptr<process_impl> impl_;
  wait_result result_;
  step step_ = step::posted;
  std::uint64_t generation_ = 0;
  std::chrono::milliseconds backoff_{1};
  std::unique_ptr<boost::asio::steady_timer> timer_;
};

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
    boost::asio::async_compose<Handler,
        void(boost::system::error_code, exit_status)>(
        detail::wait_op(self_->impl_), handler, self_->executor_);
  }

private:
  basic_process* self_;
};

template <typename Executor>
class basic_process<Executor>::initiate_async_signal
{
public:
  using executor_type = Executor;

  explicit initiate_async_signal(basic_process* self) noexcept : self_(self)
  {
  }

  executor_type get_executor() const noexcept { return self_->executor_; }

  template <typename Handler>
  void operator()(Handler&& handler, int sig) const
  {
    boost::system::error_code ec;
    self_->signal(sig, ec);
    boost::asio::post(self_->executor_,
        boost::asio::append(std::forward<Handler>(handler), ec));
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
typename basic_process<Executor>::native_handle_type
basic_process<Executor>::release()
{
  if (!impl_)
    return -1;
  int fd = impl_->release();
  impl_.reset();
  return fd;
}

} // namespace pidfd

#endif // PIDFD_IMPL_BASIC_PROCESS_HPP
