//
// pidfd/impl/ring_wait_op.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~
// A readiness wait queued on one process whose end its execution context's
// ring reports (the io_uring mechanism), where the reactor mechanisms wait
// on the process's own descriptor instead. The op is the handler of the
// step (a step_op, or the orphan reaper's), kept in an intrusive list of
// the process until the ring reports the process, a cancellation removes
// it, or the context shuts down.
//

#ifndef PIDFD_IMPL_RING_WAIT_OP_HPP
#define PIDFD_IMPL_RING_WAIT_OP_HPP

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace pidfd::detail {

// What the process's list holds, whatever the handler.
class ring_waiter
{
public:
  // How a waiter leaves the list: completed (now if its executor allows
  // it, else posted), completed by a post, or destroyed unrun (the
  // context is shutting down, as Asio destroys its queued ops).
  enum class how : unsigned char
  {
    dispatch,
    post,
    destroy
  };

  ring_waiter(const ring_waiter&) = delete;
  ring_waiter& operator=(const ring_waiter&) = delete;

  // Frees the waiter and completes it `how` with ec, through `io_ex`, the
  // process's I/O executor (the one it was made with; unused by destroy).
  // Never with a lock held for dispatch or destroy: the handler may run,
  // or release the last reference to the process.
  void complete(how h, const boost::system::error_code& ec,
      const boost::asio::any_io_executor& io_ex)
  {
    complete_(this, h, ec, io_ex);
  }

  ring_waiter* next = nullptr;

protected:
  using complete_fn = void (*)(ring_waiter*, how,
      const boost::system::error_code&, const boost::asio::any_io_executor&);
  explicit ring_waiter(complete_fn f) noexcept : complete_(f) {}
  ~ring_waiter() = default;

private:
  complete_fn complete_;
};

// True if a waiter for `handler` must hold work on the handler's executor
// while queued, as Asio's own ops do (its handler_work). Not where that
// executor is the process's I/O executor `io_ex` and an io_context's own:
// a queued waiter always has the ring's wait (or the handler reaping the
// ring) pending on that io_context, which counts as its work, and Asio
// leaves out the same work in the same case. Elsewhere (a strand, a
// thread_pool, another context, a tracked executor) it is kept.
template <typename Handler>
bool ring_waiter_needs_work(
    const Handler& handler, const boost::asio::any_io_executor& io_ex)
{
  using context_executor_type = boost::asio::io_context::executor_type;
  const auto* io = io_ex.target<context_executor_type>();
  if (!io)
    return true;
  // A handler that names no executor of its own (its associated executor
  // is the default it is given) has io_ex: known from its type, without
  // a copy of io_ex to compare.
  struct unnamed
  {
  };
  if constexpr (std::is_same_v<
                    boost::asio::associated_executor_t<Handler, unnamed>,
                    unnamed>)
    return false;
  auto ex = boost::asio::get_associated_executor(handler, io_ex);
  if constexpr (std::is_same_v<decltype(ex), boost::asio::any_io_executor>)
    return ex != io_ex;
  else if constexpr (std::is_same_v<decltype(ex), context_executor_type>)
    return ex != *io;
  else
    return true;
}

// A waiter for a Handler of signature void(error_code). Allocated from the
// handler's associated allocator (Asio's recycling allocator by default,
// as Asio's own ops). With TracksWork it holds work on the handler's
// executor while queued, as Asio's own ops do; without (see
// ring_waiter_needs_work()) it has no room for it: 56 bytes of every
// waiting process's memory. The process's I/O executor is not kept here
// either but handed to complete() (ten thousand waiting processes hold
// ten thousand waiters).
template <typename Handler, bool TracksWork>
class ring_wait_op final : public ring_waiter
{
public:
  using io_executor_type = boost::asio::any_io_executor;

  static ring_wait_op* make(Handler&& handler, const io_executor_type& io_ex)
  {
    allocator_type alloc(allocator_of(handler));
    ring_wait_op* p = std::allocator_traits<allocator_type>::allocate(alloc, 1);
    try
    {
      return ::new (static_cast<void*>(p))
          ring_wait_op(std::move(handler), io_ex);
    }
    catch (...)
    {
      std::allocator_traits<allocator_type>::deallocate(alloc, p, 1);
      throw;
    }
  }

  Handler& handler() noexcept { return handler_; }

private:
  using allocator_type =
      typename std::allocator_traits<boost::asio::associated_allocator_t<
          Handler, boost::asio::recycling_allocator<void>>>::
          template rebind_alloc<ring_wait_op>;
  using tracked_work = std::decay_t<decltype(boost::asio::prefer(
      std::declval<
          boost::asio::associated_executor_t<Handler, io_executor_type>>(),
      boost::asio::execution::outstanding_work.tracked))>;
  struct no_work
  {
  };
  using work_type = std::conditional_t<TracksWork, tracked_work, no_work>;

  static work_type work_for(
      const Handler& handler, const io_executor_type& io_ex)
  {
    if constexpr (TracksWork)
      return boost::asio::prefer(
          boost::asio::get_associated_executor(handler, io_ex),
          boost::asio::execution::outstanding_work.tracked);
    else
      return no_work{};
  }

  static auto allocator_of(const Handler& handler) noexcept
  {
    return boost::asio::get_associated_allocator(
        handler, boost::asio::recycling_allocator<void>());
  }

  ring_wait_op(Handler&& handler, const io_executor_type& io_ex)
    : ring_waiter(&do_complete), handler_(std::move(handler)),
      work_(work_for(handler_, io_ex))
  {
  }

  // The memory goes back before the upcall, as Asio's ops do.
  static void do_complete(ring_waiter* base, how h,
      const boost::system::error_code& ec, const io_executor_type& io_ex)
  {
    auto* self = static_cast<ring_wait_op*>(base);
    allocator_type alloc(allocator_of(self->handler_));
    Handler handler(std::move(self->handler_));
    // Held until the upcall is made (nothing without TracksWork).
    [[maybe_unused]] work_type work(std::move(self->work_));
    self->~ring_wait_op();
    std::allocator_traits<allocator_type>::deallocate(alloc, self, 1);
    switch (h)
    {
    case how::dispatch:
      if constexpr (!TracksWork)
      {
        // The handler's executor is the io_context's whose thread runs
        // this (ring_waiter_needs_work): called here, as Asio's own ops
        // call such a handler from the scheduler, without the type-erased
        // dispatch and the moves of the handler into its function object.
        const auto* io = io_ex.target<boost::asio::io_context::executor_type>();
        if (io && io->running_in_this_thread())
        {
          std::move(handler)(ec);
          break;
        }
      }
      boost::asio::dispatch(io_ex, boost::asio::append(std::move(handler), ec));
      break;
    case how::post:
      boost::asio::post(io_ex, boost::asio::append(std::move(handler), ec));
      break;
    case how::destroy:
      break;
    }
  }

  Handler handler_;
  [[no_unique_address]] work_type work_;
};

// Memory for one handler at a time, kept by the ring's service: its own
// operations (the wait for the ring's fd, the posted flush), at most one
// of each outstanding, take it instead of the heap whatever Asio's
// per-thread caches hold at that moment. A second request while it is in
// use (a flush posted while the last one's memory is still held) goes to
// the heap.
class handler_memory
{
public:
  handler_memory() = default;
  handler_memory(const handler_memory&) = delete;
  handler_memory& operator=(const handler_memory&) = delete;

  void* allocate(std::size_t size)
  {
    if (size <= sizeof storage_ && !in_use_.exchange(true))
      return storage_;
    return ::operator new(size);
  }

  void deallocate(void* p) noexcept
  {
    if (p == storage_)
      in_use_.store(false);
    else
      ::operator delete(p);
  }

private:
  alignas(std::max_align_t) unsigned char storage_[256];
  std::atomic<bool> in_use_{false};
};

// An allocator on a handler_memory, for bind_allocator.
template <typename T>
class handler_memory_allocator
{
public:
  using value_type = T;

  explicit handler_memory_allocator(handler_memory& m) noexcept : memory_(&m) {}

  template <typename U>
  handler_memory_allocator(const handler_memory_allocator<U>& other) noexcept
    : memory_(other.memory_)
  {
  }

  T* allocate(std::size_t n)
  {
    return static_cast<T*>(memory_->allocate(n * sizeof(T)));
  }

  void deallocate(T* p, std::size_t) noexcept { memory_->deallocate(p); }

  template <typename U>
  bool operator==(const handler_memory_allocator<U>& other) const noexcept
  {
    return memory_ == other.memory_;
  }

private:
  template <typename U>
  friend class handler_memory_allocator;

  handler_memory* memory_;
};

} // namespace pidfd::detail

#endif // PIDFD_IMPL_RING_WAIT_OP_HPP
