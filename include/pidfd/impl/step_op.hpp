//
// pidfd/impl/step_op.hpp
// ~~~~~~~~~~~~~~~~~~~~~~
// An operation whose every step is a wait on a descriptor: the shape of
// async_wait and async_wait_tree.
//

#ifndef PIDFD_IMPL_STEP_OP_HPP
#define PIDFD_IMPL_STEP_OP_HPP

#include "pidfd/engine/backoff_timer.hpp"
#include "pidfd/impl/handler_associator.hpp"
#include "pidfd/impl/process_io.hpp"

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/config.hpp>
#include <boost/smart_ptr/allocate_unique.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

namespace pidfd::detail {

// The next step of an operation: a wait on `descriptor`, a readiness wait
// queued on the process `ring` (the io_uring mechanism's, whose readiness
// its context's ring reports), or, if both are nullptr, the completion.
struct step_wait
{
  using descriptor_type = process_io::descriptor_type;

  descriptor_type* descriptor = nullptr;
  descriptor_type::wait_type type = descriptor_type::wait_read;
  process_io* ring = nullptr;

  // False for the completion.
  bool waits() const noexcept { return descriptor || ring; }
};

// An object on the heap, from an operation's allocator (the handler's):
// what an operation keeps at a fixed address while it moves from one
// step's handler to the next.
template <typename T, typename Allocator>
using allocated_ptr = std::unique_ptr<T, boost::alloc_deleter<T, Allocator>>;

// A back-off's sleep: a timerfd waited for in the reactor, so that the
// sleep is the same Asio operation as the operation's other steps (a
// handler type then instantiates one completion path, not one more for a
// timer).
template <typename Allocator>
class backoff_sleep
{
public:
  using descriptor_type = process_io::descriptor_type;

  explicit backoff_sleep(const Allocator& allocator) noexcept
    : allocator_(allocator),
      timer_(
          nullptr, boost::alloc_deleter<descriptor_type, Allocator>(allocator))
  {
  }

  // A descriptor that becomes readable once `after` has passed, on the
  // executor of `impl`'s process; nullptr with ec set if it cannot be
  // armed.
  BOOST_NOINLINE descriptor_type* arm(process_io& impl,
      std::chrono::milliseconds after, boost::system::error_code& ec)
  {
    if (timer_)
    {
      rearm_backoff_timer(timer_->native_handle(), after, ec);
      return ec ? nullptr : &*timer_;
    }
    auto timer = boost::allocate_unique<descriptor_type>(
        allocator_, impl.unopened_descriptor());
    const int fd = open_backoff_timer(after, ec);
    if (ec)
      return nullptr;
    timer->assign(fd, ec);
    if (ec)
    {
      close_backoff_timer(fd);
      return nullptr;
    }
    timer_ = std::move(timer);
    return &*timer_;
  }

  void reset() noexcept { timer_.reset(); }

private:
  // No room for a stateless allocator (the default): every pending wait
  // holds a backoff_sleep.
  [[no_unique_address]] Allocator allocator_;
  allocated_ptr<descriptor_type, Allocator> timer_;
};

// The operation for a State that decides each step (wait_state,
// tree_wait_state): the one type that holds the handler, and the handler
// of each of its steps, which are all the same Asio operation (a wait on a
// descriptor), so that a handler type costs one completion path. What the
// State decides is compiled once, whatever the handler.
//
// A State is a class template on the handler's associated allocator, the
// first argument of its constructor, which serves what it allocates. It
// has:
//   start(lock, unopened), resume(ec, cancelled, lock, unopened): the next
//     step_wait. `lock` is held until the step's wait is queued, and
//     `unopened` (a descriptor that holds no fd, for a completion that
//     must not run inline: its wait completes at once, posted) lives until
//     then;
//   complete(handler): the upcall with the operation's result;
//   has_process(), resumed() (a step has completed: the next is a
//     continuation), completing() (the step is the wait on an unopened
//     descriptor), and cancellation_filter, the kinds of cancellation it
//     supports.
//
// The handler's executor, allocator and other associations are this
// object's (the associator below); its cancellation slot is the
// operation's own, filtered, so that a cancellation that reaches no step
// still counts.
template <typename State, typename Handler>
class step_op
{
public:
  using cancellation_slot_type = boost::asio::cancellation_slot;
  using descriptor_type = process_io::descriptor_type;

  template <typename... Args>
  explicit step_op(Handler&& handler, Args&&... state_args)
    : handler_(std::move(handler)),
      cancel_(boost::asio::get_associated_cancellation_slot(handler_),
          typename State::cancellation_filter()),
      state_(std::forward<Args>(state_args)...)
  {
  }

  // Starts the operation; `ex` is the process object's.
  template <typename Executor>
  void start(const Executor& ex)
  {
    std::unique_lock<std::mutex> lock;
    std::optional<descriptor_type> unopened;
    if (!state_.has_process())
      unopened.emplace(ex);
    wait_on(state_.start(lock, unopened));
  }

  // Each step completes here.
  void operator()(boost::system::error_code ec)
  {
    std::unique_lock<std::mutex> lock;
    std::optional<descriptor_type> unopened;
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

  friend bool asio_handler_is_continuation(step_op* op)
  {
    return op->state_.resumed();
  }

private:
  // Out of line: the first step and the others share one copy of the
  // initiation and of the upcall.
  BOOST_NOINLINE void wait_on(step_wait next)
  {
    if (next.descriptor)
      return next.descriptor->async_wait(next.type, std::move(*this));
    if (next.ring)
      return next.ring->ring_wait(std::move(*this));
    state_.complete(std::move(handler_));
  }

  Handler handler_;
  boost::asio::cancellation_state cancel_;
  State state_;
};

// Starts the step_op of `handler` whose State is State<the handler's
// associated allocator>, made from `state_args` after the allocator; `ex`
// is the process object's.
template <template <typename> class State, typename Handler, typename Executor,
    typename... Args>
void start_step_op(Handler&& handler, const Executor& ex, Args&&... state_args)
{
  using handler_type = std::decay_t<Handler>;
  using allocator_type = boost::asio::associated_allocator_t<handler_type>;
  allocator_type allocator = boost::asio::get_associated_allocator(handler);
  step_op<State<allocator_type>, handler_type>(std::forward<Handler>(handler),
      allocator, std::forward<Args>(state_args)...)
      .start(ex);
}

} // namespace pidfd::detail

namespace boost::asio {

// A step_op's handler is the user's as far as Asio is concerned: its
// associated executor, allocator (and any other associator but the
// cancellation slot, which step_op has of its own) are the handler's.
template <template <typename, typename> class Associator, typename State,
    typename Handler, typename DefaultCandidate>
struct associator<Associator, pidfd::detail::step_op<State, Handler>,
    DefaultCandidate>
  : pidfd::detail::handler_associator<Associator,
        pidfd::detail::step_op<State, Handler>, Handler, DefaultCandidate>
{
};

} // namespace boost::asio

#endif // PIDFD_IMPL_STEP_OP_HPP
