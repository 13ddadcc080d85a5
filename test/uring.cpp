//
// test/uring.cpp
// ~~~~~~~~~~~~~~
// The io_uring mechanism's two layers below the binding: the system-call
// layer's ring (sys::uring: io_uring_setup, the mapped rings,
// io_uring_enter) and the engine's per-context wait_ring on it. Internal
// headers, reached through the library's sources.
//

// Test that header file is self-contained.
#include "pidfd/engine/process_state.hpp"
#include "pidfd/engine/wait_ring.hpp"

#include "detail/syscalls.hpp"

#include "support/fixture.hpp"

#include <cerrno>
#include <cstdint>
#include <memory>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using pidfd::detail::process_state;
using pidfd::detail::wait_ring;
namespace sys = pidfd::detail::sys;

class uring_test : public pidfd_test::fixture
{
protected:
  // A ring of `sq` submission entries and `cq` completion entries, or a
  // skipped test where this kernel or a policy refuses io_uring.
  bool open(sys::uring& ring, unsigned sq, unsigned cq)
  {
    boost::system::error_code ec;
    ring.open(sq, cq, ec);
    if (ec == boost::system::errc::operation_not_permitted
        || ec == boost::system::errc::function_not_supported)
      return false;
    EXPECT_FALSE(ec) << ec.message();
    return !ec;
  }

  // Blocks until fd is readable.
  static void wait_readable(int fd)
  {
    pollfd p{fd, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 10000), 1);
  }

  // A ring as the io_uring mechanism opens it.
  static void open_mechanism_ring(std::unique_ptr<wait_ring>& ring)
  {
    boost::system::error_code ec;
    ring = wait_ring::open(ec);
    ASSERT_TRUE(ring) << ec.message();
  }

  // A child that pauses, and a pidfd for it.
  static void paused_child(pid_t& pid, int& pidfd)
  {
    pid = pidfd_test::posix_spawn_child({"pause"});
    pidfd = pidfd_test::pidfd_open(pid);
    ASSERT_GE(pidfd, 0);
  }

  // Closes the pidfd, kills the child and reaps it.
  static void end_child(pid_t pid, int pidfd)
  {
    ::close(pidfd);
    ::kill(pid, SIGKILL);
    pidfd_test::reap(pid);
  }

  // Submits a no-op whose completion carries `data`.
  static void nop(sys::uring& ring, std::uint64_t data)
  {
    io_uring_sqe* sqe = ring.get_sqe();
    ASSERT_NE(sqe, nullptr);
    sqe->opcode = IORING_OP_NOP;
    sqe->user_data = data;
  }
};

#define PIDFD_TEST_OPEN_RING(ring, sq, cq)                                     \
  if (!open(ring, sq, cq))                                                     \
  GTEST_SKIP() << "io_uring is refused here"

// The ring the io_uring mechanism would wait on, or a skipped test where
// another mechanism was chosen.
#define PIDFD_TEST_MECHANISM_RING(ring)                                        \
  std::unique_ptr<wait_ring> ring;                                             \
  if (!ring_chosen())                                                          \
    GTEST_SKIP() << "the io_uring mechanism is not in use";                    \
  ASSERT_NO_FATAL_FAILURE(open_mechanism_ring(ring))

TEST_F(uring_test, a_poll_completes_once_its_fd_is_readable)
{
  sys::uring ring;
  PIDFD_TEST_OPEN_RING(ring, 4, 8);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);

  io_uring_sqe* sqe = ring.get_sqe();
  ASSERT_NE(sqe, nullptr);
  sqe->opcode = IORING_OP_POLL_ADD;
  sqe->fd = fds[0];
  sqe->poll32_events = POLLIN;
  sqe->user_data = 42;
  EXPECT_EQ(ring.unsubmitted(), 1u);
  boost::system::error_code ec;
  ring.submit(ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(ring.unsubmitted(), 0u);

  // Nothing yet: the ring's fd is not readable, and no completion waits.
  io_uring_cqe cqe{};
  EXPECT_FALSE(sys::is_readable(ring.fd()));
  EXPECT_FALSE(ring.completions_waiting());
  EXPECT_FALSE(ring.pop(cqe));

  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  wait_readable(ring.fd());
  EXPECT_TRUE(ring.completions_waiting());
  ASSERT_TRUE(ring.pop(cqe));
  EXPECT_EQ(cqe.user_data, 42u);
  EXPECT_TRUE(cqe.res & POLLIN) << cqe.res;
  EXPECT_FALSE(ring.completions_waiting());
  EXPECT_FALSE(ring.pop(cqe));
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_F(uring_test, a_close_that_succeeds_posts_no_completion)
{
  sys::uring ring;
  PIDFD_TEST_OPEN_RING(ring, 4, 8);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  for (int fd : fds)
  {
    io_uring_sqe* sqe = ring.get_sqe();
    ASSERT_NE(sqe, nullptr);
    sqe->opcode = IORING_OP_CLOSE;
    sqe->fd = fd;
    sqe->flags = IOSQE_CQE_SKIP_SUCCESS;
    sqe->user_data = 7;
  }
  boost::system::error_code ec;
  ring.submit(ec);
  ASSERT_FALSE(ec) << ec.message();
  for (int fd : fds)
    EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "fd " << fd << " still open";
  io_uring_cqe cqe{};
  EXPECT_FALSE(ring.pop(cqe));

  // A failure still reports itself.
  io_uring_sqe* sqe = ring.get_sqe();
  ASSERT_NE(sqe, nullptr);
  sqe->opcode = IORING_OP_CLOSE;
  sqe->fd = fds[0];
  sqe->flags = IOSQE_CQE_SKIP_SUCCESS;
  sqe->user_data = 8;
  ring.submit(ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(ring.pop(cqe));
  EXPECT_EQ(cqe.user_data, 8u);
  EXPECT_EQ(cqe.res, -EBADF);
}

TEST_F(uring_test, a_full_submission_queue_gives_no_entry_until_submitted)
{
  sys::uring ring;
  PIDFD_TEST_OPEN_RING(ring, 2, 8);
  nop(ring, 1);
  nop(ring, 2);
  EXPECT_EQ(ring.get_sqe(), nullptr);
  EXPECT_EQ(ring.unsubmitted(), 2u);
  boost::system::error_code ec;
  ring.submit(ec);
  ASSERT_FALSE(ec) << ec.message();
  nop(ring, 3);
  ring.submit(ec);
  ASSERT_FALSE(ec) << ec.message();
  io_uring_cqe cqe{};
  for (std::uint64_t expected = 1; expected <= 3; ++expected)
  {
    ASSERT_TRUE(ring.pop(cqe));
    EXPECT_EQ(cqe.user_data, expected);
  }
  EXPECT_FALSE(ring.pop(cqe));
}

TEST_F(uring_test, completions_beyond_the_queue_are_kept_and_flushed)
{
  sys::uring ring;
  PIDFD_TEST_OPEN_RING(ring, 2, 2);
  ASSERT_TRUE(ring.features() & IORING_FEAT_NODROP);
  boost::system::error_code ec;
  // The completion queue holds 2 (at least: the kernel may round up); 16
  // no-ops overflow it.
  for (std::uint64_t i = 1; i <= 16; i += 2)
  {
    nop(ring, i);
    nop(ring, i + 1);
    ring.submit(ec);
    ASSERT_FALSE(ec) << ec.message();
  }
  EXPECT_TRUE(ring.overflowed());
  io_uring_cqe cqe{};
  std::uint64_t expected = 1;
  for (int round = 0; round < 32 && expected <= 16; ++round)
  {
    while (ring.pop(cqe))
      EXPECT_EQ(cqe.user_data, expected++);
    if (ring.overflowed())
    {
      ring.flush_overflow(ec);
      ASSERT_FALSE(ec) << ec.message();
    }
  }
  EXPECT_EQ(expected, 17u);
  EXPECT_FALSE(ring.overflowed());
}

TEST_F(uring_test, a_pidfd_poll_completes_at_the_exit)
{
  sys::uring ring;
  PIDFD_TEST_OPEN_RING(ring, 4, 8);
  pid_t pid = -1;
  int pidfd = -1;
  ASSERT_NO_FATAL_FAILURE(paused_child(pid, pidfd));
  io_uring_sqe* sqe = ring.get_sqe();
  ASSERT_NE(sqe, nullptr);
  sqe->opcode = IORING_OP_POLL_ADD;
  sqe->fd = pidfd;
  sqe->poll32_events = POLLIN;
  sqe->user_data = 1;
  boost::system::error_code ec;
  ring.submit(ec);
  ASSERT_FALSE(ec) << ec.message();
  io_uring_cqe cqe{};
  EXPECT_FALSE(ring.pop(cqe));
  ASSERT_EQ(pidfd_test::pidfd_send_signal(pidfd, SIGKILL), 0);
  wait_readable(ring.fd());
  ASSERT_TRUE(ring.pop(cqe));
  EXPECT_TRUE(cqe.res & POLLIN) << cqe.res;
  EXPECT_TRUE(WIFSIGNALED(pidfd_test::reap(pid)));
  ::close(pidfd);
}

// ---- wait_ring ---------------------------------------------------------

// An owner for the ring's requests: a state with nothing to reap (a
// process already gone), for which the ring polls.
std::shared_ptr<process_state> gone_owner()
{
  return std::make_shared<process_state>(pidfd::detail::process_init{});
}

bool ring_chosen()
{
  return pidfd::kernel_support().io_uring;
}

TEST_F(uring_test, a_ring_exactly_where_the_mechanism_waits_on_one)
{
  boost::system::error_code ec;
  std::unique_ptr<wait_ring> ring = wait_ring::open(ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(ring != nullptr, ring_chosen()) << pidfd::kernel_support();
}

TEST_F(uring_test, an_armed_poll_hands_its_owner_back_at_the_exit)
{
  PIDFD_TEST_MECHANISM_RING(ring);
  boost::system::error_code ec;
  pid_t pid = -1;
  int pidfd = -1;
  ASSERT_NO_FATAL_FAILURE(paused_child(pid, pidfd));

  auto owner = gone_owner();
  const wait_ring::token t = ring->arm(pidfd, owner, ec);
  ASSERT_NE(t, 0u) << ec.message();
  EXPECT_TRUE(ring->busy());
  EXPECT_EQ(owner.use_count(), 2); // the ring holds it until the exit
  // Outside a batch the caller is asked to flush, once.
  EXPECT_TRUE(ring->claim_flush());
  EXPECT_FALSE(ring->claim_flush());
  ring->flush(ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_FALSE(ring->claim_flush()); // nothing queued

  wait_ring::completion back;
  bool more = true;
  EXPECT_FALSE(ring->next(back, more));
  EXPECT_FALSE(more);
  ASSERT_EQ(pidfd_test::pidfd_send_signal(pidfd, SIGKILL), 0);
  wait_readable(ring->fd());
  ASSERT_TRUE(ring->next(back, more));
  EXPECT_EQ(back.owner.get(), owner.get());
  EXPECT_EQ(back.t, t);
  EXPECT_TRUE(back.result & POLLIN) << back.result;
  EXPECT_FALSE(back.reap); // a poll
  EXPECT_FALSE(more); // the only completion
  EXPECT_FALSE(ring->busy());
  back = {};
  EXPECT_EQ(owner.use_count(), 1);
  EXPECT_TRUE(WIFSIGNALED(pidfd_test::reap(pid)));

  // Outside a batch the pidfd is closed at once.
  ring->close(pidfd);
  EXPECT_EQ(::fcntl(pidfd, F_GETFD), -1);
}

TEST_F(uring_test, a_disarmed_poll_completes_cancelled)
{
  PIDFD_TEST_MECHANISM_RING(ring);
  boost::system::error_code ec;
  pid_t pid = -1;
  int pidfd = -1;
  ASSERT_NO_FATAL_FAILURE(paused_child(pid, pidfd));
  auto owner = gone_owner();
  const wait_ring::token t = ring->arm(pidfd, owner, ec);
  ASSERT_NE(t, 0u) << ec.message();
  ring->flush(ec);
  ring->disarm(t);
  ring->flush(ec);
  ASSERT_FALSE(ec) << ec.message();
  wait_readable(ring->fd());
  wait_ring::completion back;
  bool more = true;
  ASSERT_TRUE(ring->next(back, more));
  EXPECT_EQ(back.t, t);
  EXPECT_EQ(back.result, -ECANCELED);
  // The removal itself posted nothing.
  EXPECT_FALSE(more);
  EXPECT_FALSE(ring->next(back, more));
  EXPECT_EQ(back.owner, nullptr); // let go of by the call that found none
  EXPECT_FALSE(ring->busy());
  end_child(pid, pidfd);
}

TEST_F(uring_test, next_says_whether_another_completion_waits)
{
  PIDFD_TEST_MECHANISM_RING(ring);
  boost::system::error_code ec;
  pid_t pids[2] = {-1, -1};
  int pidfds[2] = {-1, -1};
  wait_ring::token tokens[2] = {0, 0};
  auto owner = gone_owner();
  for (int i = 0; i < 2; ++i)
  {
    ASSERT_NO_FATAL_FAILURE(paused_child(pids[i], pidfds[i]));
    tokens[i] = ring->arm(pidfds[i], owner, ec);
    ASSERT_NE(tokens[i], 0u) << ec.message();
  }
  ring->flush(ec);
  ASSERT_FALSE(ec) << ec.message();
  for (int i = 0; i < 2; ++i)
  {
    ASSERT_EQ(pidfd_test::pidfd_send_signal(pidfds[i], SIGKILL), 0);
    EXPECT_TRUE(WIFSIGNALED(pidfd_test::reap(pids[i])));
  }
  // Both completions are in by now: a child's exit wakes its pidfd's
  // poll before the child can be reaped, and the wake-up's work, queued
  // on this thread (the submitter), posts the completion before this
  // thread's next system call returns.
  wait_ring::completion back;
  bool more = false;
  ASSERT_TRUE(ring->next(back, more));
  const wait_ring::token first = back.t;
  EXPECT_TRUE(more);
  ASSERT_TRUE(ring->next(back, more));
  EXPECT_NE(back.t, first);
  EXPECT_TRUE(back.t == tokens[0] || back.t == tokens[1]);
  EXPECT_FALSE(more);
  EXPECT_FALSE(ring->next(back, more));
  EXPECT_FALSE(ring->busy());
  for (int fd : pidfds)
    ::close(fd);
}

TEST_F(uring_test, closes_in_a_batch_go_with_its_submission)
{
  PIDFD_TEST_MECHANISM_RING(ring);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  EXPECT_FALSE(ring->reaping_here());
  {
    wait_ring::batch batch(*ring);
    EXPECT_TRUE(ring->reaping_here());
    ring->close(fds[0]);
    ring->close(fds[1]);
    // Queued: still open until the batch ends.
    EXPECT_EQ(::fcntl(fds[0], F_GETFD), FD_CLOEXEC);
    EXPECT_FALSE(ring->claim_flush()); // the batch submits
  }
  EXPECT_FALSE(ring->reaping_here());
  EXPECT_EQ(::fcntl(fds[0], F_GETFD), -1);
  EXPECT_EQ(::fcntl(fds[1], F_GETFD), -1);
}

TEST_F(uring_test, shut_down_hands_back_the_owners_and_refuses_polls)
{
  PIDFD_TEST_MECHANISM_RING(ring);
  boost::system::error_code ec;
  pid_t pid = -1;
  int pidfd = -1;
  ASSERT_NO_FATAL_FAILURE(paused_child(pid, pidfd));
  auto owner = gone_owner();
  ASSERT_NE(ring->arm(pidfd, owner, ec), 0u) << ec.message();
  std::vector<std::shared_ptr<process_state>> owners = ring->shut_down();
  ASSERT_EQ(owners.size(), 1u);
  EXPECT_EQ(owners[0].get(), owner.get());
  EXPECT_FALSE(ring->busy());
  EXPECT_EQ(ring->arm(pidfd, owner, ec), 0u);
  EXPECT_EQ(ec,
      boost::system::error_code(ESHUTDOWN, boost::system::system_category()));
  end_child(pid, pidfd);
}

} // namespace
