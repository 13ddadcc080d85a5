//
// src/detail/uring_mechanism.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The io_uring mechanism: a process is what the pidfd mechanism makes of it
// (its pidfd, waitid(P_PIDFD) with the rusage, pidfd_send_signal), but its
// end is learnt through its execution context's ring (wait_ring): an
// IORING_OP_POLL_ADD on the pidfd, submitted with the other requests of
// the moment in one io_uring_enter, and the ring's fd, the only one the
// reactor watches for all the context's processes. IORING_OP_WAITID (Linux
// 6.7) would also collect the status, but reports no rusage, so the
// collect step stays waitid's. A pidfd closed once the status is collected
// is closed by an IORING_OP_CLOSE in the next submission when the ring's
// completions are being reaped (a submission then follows for certain).
//
// Requests whose success needs no answer carry IOSQE_CQE_SKIP_SUCCESS
// (Linux 5.17): a close or a poll removal posts no completion, so it wakes
// nobody.
//

#include "pidfd/engine/wait_mechanism.hpp"
#include "pidfd/engine/wait_ring.hpp"

#include "detail/syscalls.hpp"

#include <deque>
#include <mutex>
#include <utility>
#include <vector>

#include <poll.h>

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

private:
  const wait_mechanism& pidfd_ = pidfd_mechanism();
};

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

  // A poll in the kernel: what its completion hands back. The generation
  // tells a slot's poll from an earlier one that used the slot; a free
  // slot links to the next free one (in what would be padding).
  struct slot
  {
    std::shared_ptr<void> owner;
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

  mutable std::mutex mutex;
  sys::uring ring;
  // A deque: ten thousand polls grow it by blocks, never copying it
  // whole (a vector's doubling kept up to twice the room it used, and
  // both copies while it grew: 40 bytes per process at 5,000 in flight,
  // against the slot's 24).
  std::deque<slot> slots;
  std::uint32_t free_slot = no_slot;
  std::size_t in_flight = 0;
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
  return std::unique_ptr<wait_ring>(new wait_ring(std::move(i)));
}

wait_ring::wait_ring(std::unique_ptr<impl> i) noexcept : impl_(std::move(i)) {}

wait_ring::~wait_ring() = default;

int wait_ring::fd() const noexcept
{
  return impl_->ring.fd();
}

wait_ring::token wait_ring::arm(
    int pidfd, std::shared_ptr<void> owner, error_code& ec)
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
  impl::slot& s = impl_->slots[index];
  s.owner = std::move(owner);
  ++s.generation;
  const token t = (token(s.generation) << 32) | (index + 1);
  sqe->opcode = IORING_OP_POLL_ADD;
  sqe->fd = pidfd;
  sqe->poll32_events = POLLIN;
  sqe->user_data = t;
  ++impl_->in_flight;
  return t;
}

void wait_ring::disarm(token t) noexcept
{
  std::lock_guard lock(impl_->mutex);
  error_code ec;
  io_uring_sqe* sqe = impl_->shut_down ? nullptr : impl_->entry(ec);
  if (!sqe)
    return; // the poll completes when its process ends, or with the ring
  sqe->opcode = IORING_OP_POLL_REMOVE;
  sqe->fd = -1;
  sqe->addr = t;
  sqe->flags = IOSQE_CQE_SKIP_SUCCESS;
  sqe->user_data = no_token;
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
  std::lock_guard lock(impl_->mutex);
  if (reaping == this || impl_->flush_claimed || impl_->shut_down
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
  std::lock_guard lock(impl_->mutex);
  return impl_->in_flight != 0;
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

bool wait_ring::next(std::shared_ptr<void>& owner, token& t, int& result)
{
  std::shared_ptr<void> taken;
  {
    std::lock_guard lock(impl_->mutex);
    bool flushed = false;
    io_uring_cqe cqe{};
    for (;;)
    {
      if (!impl_->ring.pop(cqe))
      {
        // Completions the queue had no room for wait in the kernel.
        if (flushed || !impl_->ring.overflowed())
          return false;
        error_code ec;
        impl_->ring.flush_overflow(ec);
        flushed = true;
        continue;
      }
      if (cqe.user_data == no_token)
        continue; // a close or removal that failed: nothing waits for it
      const auto index = static_cast<std::uint32_t>(cqe.user_data) - 1;
      const auto generation = static_cast<std::uint32_t>(cqe.user_data >> 32);
      if (index >= impl_->slots.size())
        continue;
      impl::slot& s = impl_->slots[index];
      if (s.generation != generation || !s.owner)
        continue;
      taken = std::move(s.owner);
      s.next_free = std::exchange(impl_->free_slot, index);
      --impl_->in_flight;
      t = cqe.user_data;
      result = cqe.res;
      break;
    }
  }
  // The owner goes outside the lock: it may be the last reference, and its
  // destruction closes a pidfd through this ring.
  owner = std::move(taken);
  return true;
}

std::vector<std::shared_ptr<void>> wait_ring::shut_down()
{
  std::vector<std::shared_ptr<void>> owners;
  std::lock_guard lock(impl_->mutex);
  impl_->shut_down = true;
  error_code ignored;
  impl_->ring.submit(ignored); // the closes queued
  for (impl::slot& s : impl_->slots)
  {
    if (s.owner)
      owners.push_back(std::move(s.owner));
  }
  impl_->in_flight = 0;
  return owners;
}

} // namespace pidfd::detail
