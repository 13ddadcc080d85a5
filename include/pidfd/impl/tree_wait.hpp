//
// pidfd/impl/tree_wait.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
// The operation behind async_wait_tree.
//

#ifndef PIDFD_IMPL_TREE_WAIT_HPP
#define PIDFD_IMPL_TREE_WAIT_HPP

#include "pidfd/impl/process_io.hpp"
#include "pidfd/engine/process_state.hpp"
#include "pidfd/engine/run_support.hpp"
#include "pidfd/error.hpp"
#include "pidfd/impl/step_op.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/config.hpp>
#include <boost/smart_ptr/allocate_unique.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace pidfd::detail {

// What an async_wait_tree decides, apart from its handler (the State of
// its step_op): cgroup.events in the reactor, waited for with wait_error
// (the kernel signals each change of the file as POLLPRI, with POLLERR),
// and "populated" read again after each wake. The file is read once right
// after it is registered: a change before that is seen by the read, one
// after it wakes the wait (epoll re-polls the file when the wait is
// queued; io_uring's poll checks the file's state when it is armed, and
// the state stays "changed" until the file is read).
//
// Once the cgroup is empty the fd is closed and a cgroup the library
// created is removed, by the last of its watchers (the other waits, a
// kill_tree): removed under an open fd, its next read would fail with
// ENODEV. The kernel may refuse the removal (EBUSY) for a short while
// after the cgroup reads empty, while the tasks killed are released; the
// wait then retries after a growing delay, and completes once it is
// removed, or with device_or_resource_busy when tree_removal_backoff's
// total has passed. With only_if_empty, a tree that still runs is not
// waited for: the operation completes at once, with success. Its
// descriptors (cgroup.events, the back-off's timerfd) come from
// `Allocator`, the handler's.
template <typename Allocator>
class tree_wait_state
{
public:
  using descriptor_type = process_io::descriptor_type;
  // A wait has no side effect, so every kind of cancellation is safe.
  // (Removing the cgroup of a tree that is gone is no change a caller
  // could see.)
  using cancellation_filter = boost::asio::enable_total_cancellation;

  tree_wait_state(const Allocator& allocator, std::shared_ptr<process_io> impl,
      bool only_if_empty) noexcept
    : impl_(std::move(impl)), only_if_empty_(only_if_empty),
      events_(
          nullptr, boost::alloc_deleter<descriptor_type, Allocator>(allocator)),
      sleep_(allocator), allocator_(allocator)
  {
  }

  BOOST_NOINLINE tree_wait_state(tree_wait_state&& other) noexcept = default;
  tree_wait_state& operator=(tree_wait_state&&) = delete;
  BOOST_NOINLINE ~tree_wait_state() = default;

  // The first step. For a process object that has no process, the caller
  // has made `unopened` on its executor.
  BOOST_NOINLINE step_wait start(
      std::unique_lock<std::mutex>&, std::optional<descriptor_type>& unopened)
  {
    if (!impl_)
      return complete_later(error::no_process, unopened);
    // Made before the fd is opened: it throws once the io_context has
    // shut down, and nothing is open yet then.
    events_ = boost::allocate_unique<descriptor_type>(
        allocator_, impl_->unopened_descriptor());
    boost::system::error_code ec;
    const int fd = impl_->open_tree_events(ec);
    // -1 without an error: the library removed the cgroup, the tree is
    // gone.
    if (ec || fd < 0)
    {
      events_.reset();
      return complete_later(ec, unopened);
    }
    events_->assign(fd, ec);
    if (ec)
    {
      close_fd(fd);
      events_.reset();
      impl_->close_tree_events();
      return complete_later(ec, unopened);
    }
    if (populated(ec))
    {
      if (only_if_empty_)
        return complete_later(ec, unopened);
      step_ = step::readiness;
      return {&*events_, descriptor_type::wait_error};
    }
    if (ec)
      return complete_later(ec, unopened);
    return remove(unopened);
  }

  // A step completed with `ec`; `cancelled` if the operation's
  // cancellation was requested meanwhile.
  BOOST_NOINLINE step_wait resume(boost::system::error_code ec, bool cancelled,
      std::unique_lock<std::mutex>&, std::optional<descriptor_type>& unopened)
  {
    resumed_ = true;
    if (step_ == step::posted)
      return finish(result_);
    if (!ec && cancelled)
      ec = boost::asio::error::operation_aborted;
    if (step_ == step::backoff)
    {
      // The tree is gone; only its cgroup is left. A cancelled delay gets
      // one last attempt.
      const boost::system::error_code busy = impl_->remove_tree();
      if (!busy)
        return finish({});
      if (ec || waited_ >= tree_removal_backoff::total)
        return finish(ec ? ec : busy);
      return retry_later(unopened);
    }
    if (!ec && populated(ec))
      return {&*events_, descriptor_type::wait_error};
    if (ec)
      return finish(ec);
    return remove(unopened);
  }

  template <typename Handler>
  void complete(Handler&& handler)
  {
    const boost::system::error_code ec = result_;
    std::move(handler)(ec);
  }

  // Once the operation is done: for an operation that waits as one of its
  // steps (terminate_state).
  const boost::system::error_code& result() const noexcept { return result_; }

  bool resumed() const noexcept { return resumed_; }

  bool has_process() const noexcept { return impl_ != nullptr; }

  bool completing() const noexcept { return step_ == step::posted; }

private:
  bool populated(boost::system::error_code& ec)
  {
    return impl_->tree_populated(events_->native_handle(), ec);
  }

  // The tree is empty: our fd goes, then a created cgroup, unless another
  // watcher is left to remove it.
  step_wait remove(std::optional<descriptor_type>& unopened)
  {
    // Once: close_events() would count this watcher gone a second time,
    // and the cgroup could be removed under another watcher's fd.
    events_.reset();
    const boost::system::error_code ec = impl_->close_tree_events();
    if (ec == boost::system::errc::device_or_resource_busy)
      return retry_later(unopened);
    return complete_later(ec, unopened);
  }

  step_wait retry_later(std::optional<descriptor_type>& unopened)
  {
    boost::system::error_code ec;
    descriptor_type* sleep = sleep_.arm(*impl_, delay_, ec);
    if (!sleep)
      return complete_later(ec, unopened);
    waited_ += delay_;
    delay_ = tree_removal_backoff::next(delay_);
    step_ = step::backoff;
    return {sleep};
  }

  // Inside the initiating function the handler must not run: the
  // completion waits on an unopened descriptor (posted). After a step it
  // is inline.
  step_wait complete_later(const boost::system::error_code& ec,
      std::optional<descriptor_type>& unopened)
  {
    if (resumed_)
      return finish(ec);
    result_ = ec;
    step_ = step::posted;
    if (!unopened)
      unopened.emplace(impl_->unopened_descriptor());
    return {&*unopened};
  }

  // Done: what the operation held goes before the handler runs (which may
  // destroy the io_context).
  step_wait finish(const boost::system::error_code& ec) noexcept
  {
    result_ = ec;
    close_events();
    sleep_.reset();
    impl_.reset();
    return {};
  }

  void close_events() noexcept
  {
    if (!events_)
      return;
    events_.reset();
    // Not after seeing the tree empty (remove() has run): a removal this
    // makes for another watcher that saw it empty, if refused, is retried
    // by the cgroup's destructor.
    impl_->close_tree_events();
  }

  enum class step : unsigned char
  {
    starting,
    posted, // complete once the unopened descriptor's wait does
    readiness,
    backoff
  };

  std::shared_ptr<process_io> impl_;
  bool only_if_empty_;
  bool resumed_ = false;
  step step_ = step::starting;
  boost::system::error_code result_;
  // On the heap: the operation moves into each step's handler while the
  // step waits on the descriptor.
  allocated_ptr<descriptor_type, Allocator> events_;
  backoff_sleep<Allocator> sleep_;
  Allocator allocator_;
  std::chrono::milliseconds delay_ = tree_removal_backoff::first;
  std::chrono::milliseconds waited_{0};
};

// async_wait_tree without a process object. With only_if_empty, a tree
// still running is not waited for (see tree_wait_state). `ex` is the
// process object's.
template <typename Executor, typename Token>
auto async_wait_tree_impl(std::shared_ptr<process_io> impl, const Executor& ex,
    Token&& token, bool only_if_empty = false)
{
  return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
      [](auto&& handler, std::shared_ptr<process_io> impl, const Executor& ex,
          bool only_if_empty) {
        start_step_op<tree_wait_state>(
            std::move(handler), ex, std::move(impl), only_if_empty);
      },
      token, std::move(impl), ex, only_if_empty);
}

} // namespace pidfd::detail

#endif // PIDFD_IMPL_TREE_WAIT_HPP
