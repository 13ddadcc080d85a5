//
// pidfd/impl/terminate.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
// The operation behind async_terminate.
//

#ifndef PIDFD_IMPL_TERMINATE_HPP
#define PIDFD_IMPL_TERMINATE_HPP

#include "pidfd/impl/process_io.hpp"
#include "pidfd/error.hpp"
#include "pidfd/exit_status.hpp"
#include "pidfd/impl/step_op.hpp"
#include "pidfd/impl/tree_wait.hpp"
#include "pidfd/impl/wait.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/config.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <csignal>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace pidfd::detail {

// What an async_terminate decides, apart from its handler (the State of
// its step_op): SIGTERM to the child (or to its tree), and a grace timer
// beside the waits that sends SIGKILL to what is left if they have not
// completed by then. With the tree scope and a cgroup, the tree is waited
// for first (until the cgroup is empty), the child last, for its status:
// each is the State of that wait, run as this operation's steps, so that
// a handler type costs one completion path for all of them. The timer is
// not a step: its handler touches nothing but the (thread-safe) process
// state, so the operation is safe on an io_context run by several
// threads, with no strand from the user. (async_run stops its child
// itself: it already waits for the child, on its strand, and its stop
// signal is the caller's.) What the waits allocate comes from `Allocator`,
// the handler's; the timer is a member, and moves with the operation (an
// Asio timer may move while a wait on it is pending).
template <typename Allocator>
class terminate_state
{
public:
  using descriptor_type = process_io::descriptor_type;
  // Sending signals is a side effect that cannot be undone, so only
  // terminal cancellation is supported.
  using cancellation_filter = boost::asio::enable_terminal_cancellation;

  terminate_state(const Allocator& allocator, std::shared_ptr<process_io> impl,
      const boost::asio::any_io_executor& ex, bool tree,
      std::chrono::steady_clock::duration grace)
    : allocator_(allocator), impl_(std::move(impl)), executor_(ex), tree_(tree),
      grace_(grace)
  {
  }

  BOOST_NOINLINE terminate_state(terminate_state&& other) noexcept = default;
  terminate_state& operator=(terminate_state&&) = delete;
  BOOST_NOINLINE ~terminate_state() = default;

  // The first step. For a process object that has no process, the caller
  // has made `unopened` on its executor.
  BOOST_NOINLINE step_wait start(std::unique_lock<std::mutex>& lock,
      std::optional<descriptor_type>& unopened)
  {
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
      return start_wait(lock, unopened);
    if (ec)
    {
      // Not inline: the initiating function must not call the handler.
      result_ = {ec, {}};
      phase_ = phase::posted;
      if (!unopened)
        unopened.emplace(impl_->unopened_descriptor());
      return {&*unopened};
    }
    arm_grace_timer();
    if (tree_ && impl_->has_cgroup())
    {
      phase_ = phase::tree;
      return tree_wait_.emplace(allocator_, impl_, false).start(lock, unopened);
    }
    return start_wait(lock, unopened);
  }

  // A step completed with `ec`; `cancelled` if the operation's
  // cancellation was requested meanwhile.
  BOOST_NOINLINE step_wait resume(boost::system::error_code ec, bool cancelled,
      std::unique_lock<std::mutex>& lock,
      std::optional<descriptor_type>& unopened)
  {
    resumed_ = true;
    switch (phase_)
    {
    case phase::tree:
      if (step_wait next = tree_wait_->resume(ec, cancelled, lock, unopened);
          next.waits())
        return next;
      // The tree is gone and the child has exited: collect it.
      if (tree_wait_->result())
      {
        result_ = {tree_wait_->result(), {}};
        return finish();
      }
      tree_wait_.reset();
      return start_wait(lock, unopened);
    case phase::wait:
      if (step_wait next = wait_->resume(ec, cancelled, lock, unopened);
          next.waits())
        return next;
      result_ = wait_->result();
      return finish();
    default:
      return finish();
    }
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
    switch (phase_)
    {
    case phase::tree:
      return tree_wait_->completing();
    case phase::wait:
      return wait_->completing();
    default:
      return true;
    }
  }

private:
  step_wait start_wait(std::unique_lock<std::mutex>& lock,
      std::optional<descriptor_type>& unopened)
  {
    phase_ = phase::wait;
    return wait_.emplace(allocator_, impl_).start(lock, unopened);
  }

  void arm_grace_timer()
  {
    timer_.emplace(executor_, grace_);
    timer_->async_wait([impl = impl_, tree = tree_](
                           const boost::system::error_code& timer_ec) {
      boost::system::error_code ignored; // the child (or tree) may be gone
      if (!timer_ec)
        send(*impl, tree, SIGKILL, ignored);
    });
  }

  // Done (collected, failed or cancelled): SIGKILL is not to be sent, and
  // what the operation held goes before the handler runs. The timer's
  // handler then runs with operation_aborted, unless the grace period had
  // already passed and it was queued: the SIGKILL it sends then was due,
  // and finds the child collected or the tree gone, except after a
  // cancellation that raced with the deadline.
  step_wait finish() noexcept
  {
    timer_.reset();
    tree_wait_.reset();
    wait_.reset();
    impl_.reset();
    return {};
  }

  static void send(
      process_io& impl, bool tree, int sig, boost::system::error_code& ec)
  {
    if (tree)
      impl.signal_tree(sig, ec);
    else
      impl.signal(sig, ec);
  }

  enum class phase : unsigned char
  {
    starting,
    posted, // an immediate error, once the unopened descriptor's wait ends
    tree, // tree_wait_ runs
    wait // wait_ runs
  };

  Allocator allocator_;
  std::shared_ptr<process_io> impl_;
  boost::asio::any_io_executor executor_;
  bool tree_;
  bool resumed_ = false;
  phase phase_ = phase::starting;
  std::chrono::steady_clock::duration grace_;
  wait_result result_;
  std::optional<tree_wait_state<Allocator>> tree_wait_;
  std::optional<wait_state<Allocator>> wait_;
  std::optional<boost::asio::steady_timer> timer_;
};

// async_terminate without a process object. `ex` is the process object's.
template <typename Executor, typename Token>
auto async_terminate_impl(std::shared_ptr<process_io> impl, const Executor& ex,
    terminate_scope scope, std::chrono::steady_clock::duration grace,
    Token&& token)
{
  return boost::asio::async_initiate<Token,
      void(boost::system::error_code, exit_status)>(
      [](auto&& handler, std::shared_ptr<process_io> impl, const Executor& ex,
          bool tree, std::chrono::steady_clock::duration grace) {
        start_step_op<terminate_state>(std::move(handler), ex, std::move(impl),
            boost::asio::any_io_executor(ex), tree, grace);
      },
      token, std::move(impl), ex, scope == terminate_scope::tree, grace);
}

} // namespace pidfd::detail

#endif // PIDFD_IMPL_TERMINATE_HPP
