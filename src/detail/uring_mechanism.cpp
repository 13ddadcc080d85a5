//
// src/detail/uring_mechanism.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The io_uring mechanism: a process is what the pidfd mechanism makes of it
// (its pidfd, waitid(P_PIDFD) with the rusage, pidfd_send_signal), but its
// end is learnt through its execution context's ring (wait_ring): an
// IORING_OP_POLL_ADD on the pidfd, submitted with the other requests of
// the moment in one io_uring_enter, and the ring's fd, the only one the
// reactor watches for all the context's processes. IORING_OP_WAITID (Linux
// 6.7) also collects the status, but reports no rusage: it serves the
// children spawned without it (spawn_options::resource_usage false), which
// the kernel then reaps in the ring, and the collect step stays waitid's
// for the others. A pidfd closed once the status is collected is closed by
// an IORING_OP_CLOSE in the next submission when the ring's completions
// are being reaped (a submission then follows for certain).
//
// Requests whose success needs no answer carry IOSQE_CQE_SKIP_SUCCESS
// (Linux 5.17): a close or a poll removal posts no completion, so it wakes
// nobody.
//

#include "pidfd/engine/process_state.hpp"
#include "pidfd/engine/wait_mechanism.hpp"
#include "pidfd/engine/wait_ring.hpp"

#include "pidfd/kernel_support.hpp"

#include "detail/syscalls.hpp"

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <poll.h>
#include <signal.h>

namespace pidfd::detail {
namespace {

using boost::system::error_code;

// The ring's sizes: submissions are flushed whenever the queue fills, so
// its size only bounds how many requests share one system call; the
// completion queue holds one entry per process waited for, and the kernel
// keeps any more aside (IORING_FEAT_NODROP) until next() flushes them.
constexpr unsigned submission_entries = 256;
constexpr unsigned completion_entries = 4096;
// Before Linux 5.12 a ring's memory counts against RLIMIT_MEMLOCK (64 KiB
// by default): a smaller completion queue then.
constexpr unsigned small_completion_entries = 256;

// The user_data of requests that post a completion only when they fail (a
// close, a poll removal); no poll has token 0.
constexpr wait_ring::token no_token = 0;

// The ring this thread is reaping (a wait_ring::batch), if any.
thread_local const wait_ring* reaping = nullptr;

class uring_wait final : public wait_mechanism
{
public:
  // A process as the pidfd mechanism has it; only the way its readiness
  // reaches the binding differs.
  wait_target watch(pid_t pid, int pidfd, process_origin origin,
      error_code& ec) const override
  {
    return pidfd_.watch(pid, pidfd, origin, ec);
  }

  const char* watch_call() const noexcept override
  {
    return pidfd_.watch_call();
  }

  bool collect(wait_target& t, wait_result& out) const override
  {
    return pidfd_.collect(t, out);
  }

  void signal(wait_target& t, int sig, error_code& ec) const override
  {
    pidfd_.signal(t, sig, ec);
  }

  void signal_group(wait_target& t, int sig, error_code& ec) const override
  {
    pidfd_.signal_group(t, sig, ec);
  }

  bool readable(const wait_target& t) const override
  {
    return pidfd_.readable(t);
  }

  int pidfd(const wait_target& t) const noexcept override
  {
    return pidfd_.pidfd(t);
  }

  bool collect_before_blocking() const noexcept override
  {
    return pidfd_.collect_before_blocking();
  }

  bool reaps_abandoned(wait_target& t) const override
  {
    return pidfd_.reaps_abandoned(t);
  }

  bool waits_on_ring() const noexcept override { return true; }

  exit_status reaped_status(
      const wait_target& t, int code, int status) const override
  {
    return pidfd_.reaped_status(t, code, status);
  }

private:
  const wait_mechanism& pidfd_ = pidfd_mechanism();
};

// For the completions the ring takes itself (harvest(), shut_down()):
// gives a reap's outcome to its owner, taking the owner's lock.
void deliver(const wait_ring::completion& c)
{
  if (c.reap)
    c.owner->ring_reaped(c.res, c.code, c.status, c.pid);
}

} // namespace

const wait_mechanism& uring_mechanism() noexcept
{
  static const uring_wait mechanism;
  return mechanism;
}

// ---- wait_ring
// ---------------------------------------------------------------

struct wait_ring::impl
{
  static constexpr std::uint32_t no_slot = ~std::uint32_t(0);
  // The bit of a slot's generation (and so of its token) that marks a
  // reap (IORING_OP_WAITID) rather than a poll.
  static constexpr std::uint32_t reap_bit = std::uint32_t(1) << 31;

  // A request in the kernel: what its completion hands back. The
  // generation tells a slot's request from an earlier one that used the
  // slot; a free slot links to the next free one (in what would be
  // padding).
  struct slot
  {
    std::shared_ptr<process_state> owner;
    std::uint32_t generation = 0;
    std::uint32_t next_free = no_slot;
  };

  // A free submission entry, submitting the queue first if it is full;
  // nullptr (ec set) if even that fails.
  io_uring_sqe* entry(error_code& ec) noexcept
  {
    ec.clear();
    io_uring_sqe* sqe = ring.get_sqe();
    if (!sqe)
    {
      ring.submit(ec);
      if (!ec)
        sqe = ring.get_sqe();
    }
    return sqe;
  }

  // The token of the request in slot `index` of `generation`.
  static token token_of(std::uint32_t generation, std::uint32_t index) noexcept
  {
    return (token(generation) << 32) | (index + 1);
  }

  // Queues the removal of poll `t`, or the cancellation of reap `t`,
  // posting a completion only if it fails; false if the queue refused it.
  bool queue_cancel(token t, error_code& ec) noexcept
  {
    io_uring_sqe* sqe = entry(ec);
    if (!sqe)
      return false;
    const auto generation = static_cast<std::uint32_t>(t >> 32);
    sqe->opcode = (generation & reap_bit) ? IORING_OP_ASYNC_CANCEL
                                          : IORING_OP_POLL_REMOVE;
    sqe->fd = -1;
    sqe->addr = t;
    sqe->flags = IOSQE_CQE_SKIP_SUCCESS;
    sqe->user_data = no_token;
    return true;
  }

  // The slot a token names if that request is still in the kernel.
  slot* find(token t) noexcept
  {
    const auto index = static_cast<std::uint32_t>(t) - 1;
    const auto generation = static_cast<std::uint32_t>(t >> 32);
    if (index >= slots.size())
      return nullptr;
    slot& s = slots[index];
    return s.generation == generation && s.owner ? &s : nullptr;
  }

  // Takes the next completion of a request into `out`, freeing its slot;
  // false once the queue is empty, the completions kept aside included.
  // A reap reads as a poll: its outcome goes to its owner, and the
  // binding's waiters then find it there.
  bool take(completion& out)
  {
    bool flushed = false;
    io_uring_cqe cqe{};
    for (;;)
    {
      if (!ring.pop(cqe))
      {
        // Completions the queue had no room for wait in the kernel.
        if (flushed || !ring.overflowed())
          return false;
        error_code ec;
        ring.flush_overflow(ec);
        flushed = true;
        continue;
      }
      if (cqe.user_data == no_token)
        continue; // a close, removal or no-op: nothing waits for it
      slot* s = find(cqe.user_data);
      if (!s)
        continue;
      const auto index = static_cast<std::uint32_t>(cqe.user_data) - 1;
      out.owner = std::move(s->owner);
      out.t = cqe.user_data;
      out.result = cqe.res;
      out.reap = (s->generation & reap_bit) != 0;
      if (out.reap)
      {
        const siginfo_t& info = info_of(index);
        out.res = cqe.res;
        out.code = info.si_code;
        out.status = info.si_status;
        out.pid = info.si_pid;
        // ECHILD: the status went elsewhere, and the owner has it or
        // reports so; either way its waiters look there.
        if (cqe.res == 0 || cqe.res == -ECHILD)
          out.result = POLLIN;
      }
      s->next_free = std::exchange(free_slot, index);
      return true;
    }
  }

  mutable std::mutex mutex;
  sys::uring ring;
  // Whether the kernel reaps in the ring (IORING_OP_WAITID).
  bool reaps = false;
  // A deque: ten thousand polls grow it by blocks, never copying it
  // whole (a vector's doubling kept up to twice the room it used, and
  // both copies while it grew: 40 bytes per process at 5,000 in flight,
  // against the slot's 24).
  std::deque<slot> slots;
  // The siginfo each reap's waitid fills in, by slot, in blocks that never
  // move, made as reaps need them (none for a ring that only polls): a
  // deque's blocks of 4 siginfos cost a fan-out of 1,000 reaps 250
  // allocations the first time.
  static constexpr std::size_t infos_per_block = 64;
  std::vector<std::unique_ptr<siginfo_t[]>> info_blocks;

  siginfo_t& info_of(std::uint32_t index)
  {
    const std::size_t block = index / infos_per_block;
    while (info_blocks.size() <= block)
      info_blocks.push_back(std::make_unique<siginfo_t[]>(infos_per_block));
    return info_blocks[block][index % infos_per_block];
  }
  // Completions harvest() took, for next() to hand over first; their
  // requests still count as in flight until then.
  std::deque<completion> harvested;
  std::uint32_t free_slot = no_slot;
  // Changed under the mutex; read without it by busy(), whose callers
  // (the binding's arm_ring_wait) are ordered by a lock of their own,
  // taken by every thread after it changes the count.
  std::atomic<std::size_t> in_flight{0};
  bool flush_claimed = false;
  bool shut_down = false;
};

std::unique_ptr<wait_ring> wait_ring::open(error_code& ec)
{
  ec.clear();
  if (!chosen_mechanism().waits_on_ring())
    return nullptr;
  auto i = std::make_unique<impl>();
  i->ring.open(submission_entries, completion_entries, ec);
  if (ec == boost::system::errc::not_enough_memory)
    i->ring.open(submission_entries, small_completion_entries, ec);
  if (ec)
    return nullptr;
  i->reaps = kernel_support().io_uring_waitid;
  return std::unique_ptr<wait_ring>(new wait_ring(std::move(i)));
}

wait_ring::wait_ring(std::unique_ptr<impl> i) noexcept : impl_(std::move(i)) {}

wait_ring::~wait_ring() = default;

int wait_ring::fd() const noexcept
{
  return impl_->ring.fd();
}

wait_ring::token wait_ring::arm(
    int pidfd, std::shared_ptr<process_state> owner, error_code& ec)
{
  std::unique_lock lock(impl_->mutex);
  if (impl_->shut_down)
  {
    ec = sys::last_error(ESHUTDOWN); // what Asio calls shut_down
    return no_token;
  }
  io_uring_sqe* sqe = impl_->entry(ec);
  if (!sqe)
    return no_token;
  std::uint32_t index;
  if (impl_->free_slot == impl::no_slot)
  {
    index = static_cast<std::uint32_t>(impl_->slots.size());
    impl_->slots.emplace_back();
  }
  else
  {
    index = impl_->free_slot;
    impl_->free_slot = impl_->slots[index].next_free;
  }
  // The caller holds the owner's lock.
  const bool reap =
      impl_->reaps && owner->ring_may_reap_locked() && owner->ring_reaps_ == 0;
  impl::slot& s = impl_->slots[index];
  s.generation =
      ((s.generation + 1) & ~impl::reap_bit) | (reap ? impl::reap_bit : 0);
  const token t = impl::token_of(s.generation, index);
  sqe->user_data = t;
  if (reap)
  {
    siginfo_t& info = impl_->info_of(index);
    info = siginfo_t{};
    // waitid(P_PIDFD, pidfd, &info, WEXITED) in the kernel: the pidfd is
    // blocking, so the request waits for the exit; no rusage.
    sqe->opcode = sys::uring_op_waitid;
    sqe->fd = pidfd;
    sqe->len = P_PIDFD;
    sqe->file_index = WEXITED;
    sqe->addr2 = reinterpret_cast<std::uintptr_t>(&info);
    ++owner->ring_reaps_;
  }
  else
  {
    sqe->opcode = IORING_OP_POLL_ADD;
    sqe->fd = pidfd;
    sqe->poll32_events = POLLIN;
  }
  s.owner = std::move(owner);
  impl_->in_flight.store(impl_->in_flight.load(std::memory_order_relaxed) + 1,
      std::memory_order_release);
  return t;
}

void wait_ring::disarm(token t) noexcept
{
  std::lock_guard lock(impl_->mutex);
  // If it cannot be queued, the request completes when its process ends,
  // or with the ring.
  error_code ignored;
  if (!impl_->shut_down)
    impl_->queue_cancel(t, ignored);
}

void wait_ring::close(int fd) noexcept
{
  if (reaping == this)
  {
    std::lock_guard lock(impl_->mutex);
    error_code ec;
    if (io_uring_sqe* sqe = impl_->shut_down ? nullptr : impl_->entry(ec))
    {
      sqe->opcode = IORING_OP_CLOSE;
      sqe->fd = fd;
      sqe->flags = IOSQE_CQE_SKIP_SUCCESS;
      sqe->user_data = no_token;
      return;
    }
  }
  settle();
  sys::close(fd);
}

void wait_ring::settle() noexcept
{
  std::lock_guard lock(impl_->mutex);
  error_code ignored;
  if (impl_->ring.unsubmitted() != 0)
    impl_->ring.submit(ignored);
}

bool wait_ring::claim_flush() noexcept
{
  if (reaping == this)
    return false; // the batch's end submits
  std::lock_guard lock(impl_->mutex);
  if (impl_->flush_claimed || impl_->shut_down
      || impl_->ring.unsubmitted() == 0)
    return false;
  impl_->flush_claimed = true;
  return true;
}

void wait_ring::flush(error_code& ec) noexcept
{
  std::lock_guard lock(impl_->mutex);
  impl_->flush_claimed = false;
  impl_->ring.submit(ec);
}

bool wait_ring::busy() const noexcept
{
  return impl_->in_flight.load(std::memory_order_acquire) != 0;
}

bool wait_ring::reaping_here() const noexcept
{
  return reaping == this;
}

wait_ring::batch::batch(wait_ring& ring) noexcept : ring_(ring), outer_(reaping)
{
  reaping = &ring_;
}

wait_ring::batch::~batch()
{
  reaping = outer_;
  error_code ignored; // a poll that failed to reach the kernel is retried
  ring_.flush(ignored);
}

bool wait_ring::next(completion& out, bool& more)
{
  // The last completion's owner goes first, outside the lock: it may be
  // the last reference, whose destruction closes a pidfd through this
  // ring. The binding delivers a reap's outcome under its owner's lock,
  // which it takes for the waiters anyway (the binding arms requests with
  // it held: it is never taken under the ring's).
  out = {};
  std::lock_guard lock(impl_->mutex);
  if (!impl_->harvested.empty())
  {
    // Delivered by harvest() already (its reap flag cleared there).
    out = std::move(impl_->harvested.front());
    impl_->harvested.pop_front();
  }
  else if (!impl_->take(out))
  {
    more = false;
    return false;
  }
  impl_->in_flight.store(impl_->in_flight.load(std::memory_order_relaxed) - 1,
      std::memory_order_release);
  more = !impl_->harvested.empty() || impl_->ring.completions_waiting()
      || impl_->ring.overflowed();
  return true;
}

bool wait_ring::harvest()
{
  std::vector<completion> reaped;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->shut_down)
      return false;
    error_code ec;
    if (impl_->ring.unsubmitted() != 0)
      impl_->ring.submit(ec); // a reap queued, not yet in the kernel
    completion taken;
    bool took = false;
    while (impl_->take(taken))
    {
      took = true;
      if (taken.reap)
      {
        // Delivered below, outside the lock; next() hands it over as
        // delivered already.
        reaped.push_back(taken);
        taken.reap = false;
      }
      impl_->harvested.push_back(std::move(taken));
      taken = {};
    }
    if (!took)
      return false;
    // The binding learns of completions from the ring's readability, which
    // they no longer give: a no-op's completion gives it back.
    if (io_uring_sqe* sqe = impl_->entry(ec))
    {
      sqe->opcode = IORING_OP_NOP;
      sqe->user_data = no_token;
      impl_->ring.submit(ec);
    }
  }
  for (const completion& r : reaped)
    deliver(r);
  return true;
}

std::vector<std::shared_ptr<process_state>> wait_ring::shut_down()
{
  std::vector<std::shared_ptr<process_state>> owners;
  std::vector<completion> reaps;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->shut_down = true;
    error_code ec;
    impl_->ring.submit(ec); // the closes queued
    // The reaps in the kernel are cancelled, and waited for: each ends
    // cancelled, or with the status of the child it reaped, which would
    // be lost with the ring.
    std::size_t pending = 0;
    for (std::uint32_t i = 0; i < impl_->slots.size(); ++i)
    {
      impl::slot& s = impl_->slots[i];
      if (!s.owner || !(s.generation & impl::reap_bit))
        continue;
      ++pending;
      impl_->queue_cancel(impl::token_of(s.generation, i), ec);
    }
    impl_->ring.submit(ec);
    completion taken;
    while (pending != 0 && !ec)
    {
      if (!impl_->take(taken))
      {
        impl_->ring.wait_completion(ec);
        continue;
      }
      if (taken.reap)
      {
        --pending;
        reaps.push_back(taken);
      }
      owners.push_back(std::move(taken.owner));
      taken = {};
    }
    for (completion& h : impl_->harvested)
      owners.push_back(std::move(h.owner));
    impl_->harvested.clear();
    for (std::uint32_t i = 0; i < impl_->slots.size(); ++i)
    {
      impl::slot& s = impl_->slots[i];
      if (!s.owner)
        continue;
      if (s.generation & impl::reap_bit)
      {
        // Not heard of (the ring failed us): not reaped, as far as anyone
        // will know; the owner reaps it itself.
        completion lost;
        lost.owner = s.owner;
        lost.reap = true;
        lost.res = -ECANCELED;
        reaps.push_back(std::move(lost));
      }
      owners.push_back(std::move(s.owner));
    }
    impl_->in_flight.store(0, std::memory_order_release);
  }
  for (const completion& r : reaps)
    deliver(r);
  return owners;
}

} // namespace pidfd::detail
