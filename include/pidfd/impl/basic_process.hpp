//
// pidfd/impl/basic_process.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Template definitions for basic_process.
//

#ifndef PIDFD_IMPL_BASIC_PROCESS_HPP
#define PIDFD_IMPL_BASIC_PROCESS_HPP

#include "pidfd/detail/run_support.hpp"
#include "pidfd/impl/step_op.hpp"
#include "pidfd/impl/tree_wait.hpp"

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

// What an async_wait decides, apart from its handler (the State of its
// step_op). A wait is a readiness wait on the process's readiness fd, then
// the collect step, again until it collects; the shared_ptr keeps the
// state alive when the process object is destroyed or moved while the wait
// is outstanding. Every step is a wait on a descriptor of the process's
// executor: the readiness fd, the back-off's timerfd, or one that holds no
// fd, for a completion that must not run inline.
class wait_state
{
public:
  using descriptor_type = process_io::descriptor_type;
  // A wait has no side effect, so every kind of cancellation is safe.
  using cancellation_filter = boost::asio::enable_total_cancellation;

  explicit wait_state(std::shared_ptr<process_io> impl) noexcept
    : impl_(std::move(impl))
  {
  }

  BOOST_NOINLINE wait_state(wait_state&& other) noexcept = default;
  wait_state& operator=(wait_state&&) = delete;
  BOOST_NOINLINE ~wait_state() = default;

  // The first step. For a process object that has no process, the caller
  // has made `unopened` on its executor.
  BOOST_NOINLINE step_wait start(std::unique_lock<std::mutex>& lock,
      std::optional<descriptor_type>& unopened)
  {
    if (!impl_)
    {
      result_.ec = error::no_process;
      step_ = step::posted;
      return {&*unopened};
    }
    generation_ = impl_->cancel_generation();
    if (impl_->collected(result_))
    {
      step_ = step::posted;
      return {&unopened.emplace(impl_->unopened_descriptor())};
    }
    step_ = step::readiness;
    return wait_for_step(lock, unopened);
  }

  // A step completed with `ec`; `cancelled` if the operation's
  // cancellation was requested meanwhile.
  BOOST_NOINLINE step_wait resume(boost::system::error_code ec, bool cancelled,
      std::unique_lock<std::mutex>& lock,
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
    return wait_for_step(lock, unopened);
  }

  template <typename Handler>
  void complete(Handler&& handler)
  {
    const wait_result r = result_;
    std::move(handler)(r.ec, r.status);
  }

  bool resumed() const noexcept { return resumed_; }

  bool has_process() const noexcept { return impl_ != nullptr; }

  bool completing() const noexcept
  {
    return step_ == step::posted || step_ == step::not_armed;
  }

private:
  // The wait for step_ (readiness or backoff).
  step_wait wait_for_step(std::unique_lock<std::mutex>& lock,
      std::optional<descriptor_type>& unopened)
  {
    boost::system::error_code ec;
    if (step_ == step::readiness)
    {
      if (descriptor_type* d = impl_->readiness_descriptor(lock, ec))
        return {d};
      // Collected, closed or refused: what the readiness wait would have
      // reported, once the wait below completes.
      not_armed_ec_ = ec;
      step_ = step::not_armed;
    }
    else if (descriptor_type* t = sleep_.arm(*impl_, backoff_, ec))
    {
      backoff_ = backoff_delays::next(backoff_);
      return {t};
    }
    else
    {
      result_ = {ec, {}};
      step_ = step::posted;
    }
    return {&unopened.emplace(impl_->unopened_descriptor())};
  }

  // Done: what the operation held goes before the handler runs (which may
  // destroy the io_context).
  step_wait finish() noexcept
  {
    sleep_.reset();
    impl_.reset();
    return {};
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
  backoff_sleep sleep_;
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
        step_op<wait_state, std::decay_t<decltype(handler)>>(
            std::move(handler), std::move(impl))
            .start(ex);
      },
      token, std::move(impl), ex);
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
