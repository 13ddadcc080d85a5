//
// pidfd/impl/basic_process.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Template definitions for basic_process.
//

#ifndef PIDFD_IMPL_BASIC_PROCESS_HPP
#define PIDFD_IMPL_BASIC_PROCESS_HPP

#include "pidfd/impl/terminate.hpp"
#include "pidfd/impl/tree_wait.hpp"
#include "pidfd/impl/wait.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>

#include <memory>
#include <optional>

namespace pidfd {
namespace detail {

template <typename Executor>
basic_process<Executor> make_process(
    const Executor& ex, std::shared_ptr<process_io> impl)
{
  return basic_process<Executor>(ex, std::move(impl));
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
  impl_->wait_blocking(r, impl_->ring());
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
  if (!impl_->try_collect(r, impl_->ring()))
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
