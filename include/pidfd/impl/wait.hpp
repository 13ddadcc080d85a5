//
// pidfd/impl/wait.hpp
// ~~~~~~~~~~~~~~~~~~~
// The operation behind async_wait.
//

#ifndef PIDFD_IMPL_WAIT_HPP
#define PIDFD_IMPL_WAIT_HPP

#include "pidfd/impl/process_io.hpp"
#include "pidfd/engine/process_state.hpp"
#include "pidfd/error.hpp"
#include "pidfd/exit_status.hpp"
#include "pidfd/impl/step_op.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/config.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace pidfd::detail {

// What an async_wait decides, apart from its handler (the State of its
// step_op). A wait is a readiness wait on the process's readiness fd, then
// the collect step, again until it collects; the shared_ptr keeps the
// state alive when the process object is destroyed or moved while the wait
// is outstanding. Every step is a wait on a descriptor of the process's
// executor: the readiness fd, the back-off's timerfd, or one that holds no
// fd, for a completion that must not run inline. The back-off's timerfd
// comes from `Allocator`, the handler's.
template <typename Allocator>
class wait_state
{
public:
  using descriptor_type = process_io::descriptor_type;
  // A wait has no side effect, so every kind of cancellation is safe.
  using cancellation_filter = boost::asio::enable_total_cancellation;

  wait_state(
      const Allocator& allocator, std::shared_ptr<process_io> impl) noexcept
    : impl_(std::move(impl)), sleep_(allocator)
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
      ec = result_.ec;
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

  // Once the operation is done: for an operation that waits as one of its
  // steps (terminate_state).
  const wait_result& result() const noexcept { return result_; }

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
      if (impl_->waits_on_ring())
      {
        if (impl_->prepare_ring_wait(lock, ec))
          return {nullptr, descriptor_type::wait_read, impl_.get()};
      }
      else if (descriptor_type* d = impl_->readiness_descriptor(lock, ec))
        return {d};
      // Collected, closed or refused: what the readiness wait would have
      // reported, once the wait below completes (kept in result_.ec, which
      // resume() sets anew).
      result_.ec = ec;
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
    not_armed, // the same, with result_.ec as the readiness wait's
    readiness,
    backoff
  };

  std::shared_ptr<process_io> impl_;
  wait_result result_;
  step step_ = step::starting;
  bool resumed_ = false;
  std::uint64_t generation_ = 0;
  std::chrono::milliseconds backoff_ = backoff_delays::first;
  backoff_sleep<Allocator> sleep_;
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
        start_step_op<wait_state>(std::move(handler), ex, std::move(impl));
      },
      token, std::move(impl), ex);
}

} // namespace pidfd::detail

#endif // PIDFD_IMPL_WAIT_HPP
