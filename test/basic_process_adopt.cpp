//
// test/basic_process_adopt.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// adopt() and adopt_pidfd(): processes the library did not start.
//

// Test that header file is self-contained.
#include "pidfd/basic_process.hpp"

#include "pidfd/kernel_support.hpp"
#include "pidfd/process.hpp"
#include "pidfd/spawn.hpp"
#include "support/fixture.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using boost::system::error_code;
using pidfd::exit_status;
using pidfd::process;
using pidfd_test::child_program;
using pidfd_test::rethrow;

class adopt_test : public pidfd_test::fixture
{
protected:
  asio::any_io_executor ex() { return ctx.get_executor(); }
};

TEST_F(adopt_test, own_child_started_elsewhere)
{
  const pid_t pid = pidfd_test::posix_spawn_child({"exit", "5"});
  process p = process::adopt(ex(), pid);
  EXPECT_TRUE(p.is_open());
  EXPECT_EQ(p.id(), pid);
  if (pidfd::kernel_support().pidfd)
    EXPECT_GE(p.native_handle(), 0);
  else
    EXPECT_EQ(p.native_handle(), -1); // the wait4 fallback has no pidfd
  exit_status s = p.wait();
  EXPECT_TRUE(s.exited());
  EXPECT_EQ(s.code(), 5);
  // Our child: the wait reaped it.
  EXPECT_FALSE(pidfd_test::children_left());
}

TEST_F(adopt_test, own_zombie_child)
{
  const pid_t pid = pidfd_test::posix_spawn_child({"exit", "6"});
  // Wait for it to be a zombie without reaping it.
  siginfo_t info{};
  ASSERT_EQ(
      ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);
  error_code ec;
  process p = process::adopt(ex(), pid, ec);
  ASSERT_FALSE(ec) << ec.message();
  std::optional<exit_status> s;
  p.async_wait([&](error_code e, exit_status st) {
    EXPECT_FALSE(e) << e.message();
    s = st;
  });
  run();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->code(), 6);
}

TEST_F(adopt_test, own_running_child_signal_and_await)
{
  const pid_t pid = pidfd_test::posix_spawn_child({"pause"});
  process p = process::adopt(ex(), pid);
  std::optional<exit_status> s;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        co_await p.async_signal(SIGTERM, asio::use_awaitable);
        s = co_await p.async_wait(asio::use_awaitable);
      },
      rethrow);
  run();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->signal(), SIGTERM);
  EXPECT_FALSE(pidfd_test::children_left());
}

TEST_F(adopt_test, pid_that_does_not_exist_is_done)
{
  const pid_t pid = pidfd_test::unused_pid();
  error_code ec = pidfd::error::no_process;
  process p = process::adopt(ex(), pid, ec);
  // As Go's os.FindProcess: not an error, a process in the done state.
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(p.is_open());
  EXPECT_EQ(p.id(), pid);
  EXPECT_EQ(p.native_handle(), -1);

  p.wait(ec);
  EXPECT_EQ(ec, errc::no_child_process);
  EXPECT_THROW(p.wait(), boost::system::system_error);
  EXPECT_EQ(p.try_wait(ec), std::nullopt);
  EXPECT_EQ(ec, errc::no_child_process);

  p.signal(SIGKILL, ec);
  EXPECT_EQ(ec, pidfd::error::process_done);
  p.signal(0, ec);
  EXPECT_EQ(ec, pidfd::error::process_done);

  std::optional<error_code> waited, signalled;
  p.async_wait([&](error_code e, exit_status) { waited = e; });
  p.async_signal(SIGKILL, [&](error_code e) { signalled = e; });
  EXPECT_FALSE(waited);
  EXPECT_FALSE(signalled);
  run();
  ASSERT_TRUE(waited);
  EXPECT_EQ(*waited, errc::no_child_process);
  ASSERT_TRUE(signalled);
  EXPECT_EQ(*signalled, pidfd::error::process_done);

  // The throwing overload does not throw either.
  EXPECT_NO_THROW(process::adopt(ex(), pid));
}

TEST_F(adopt_test, pid_zero_or_negative_is_invalid)
{
  for (pid_t pid : {0, -1, -100})
  {
    SCOPED_TRACE(pid);
    error_code ec;
    process p = process::adopt(ex(), pid, ec);
    EXPECT_EQ(ec, errc::invalid_argument);
    EXPECT_FALSE(p.is_open());
    try
    {
      process::adopt(ex(), pid);
      ADD_FAILURE() << "adopt did not throw";
    }
    catch (const boost::system::system_error& e)
    {
      EXPECT_EQ(e.code(), errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("adopt"), std::string::npos)
          << e.what();
    }
  }
}

TEST_F(adopt_test, thread_id_is_an_error)
{
  pidfd_test::other_thread t;
  const pid_t tid = t.tid();
  ASSERT_NE(tid, ::getpid());
  error_code ec;
  process p = process::adopt(ex(), tid, ec);
  EXPECT_TRUE(ec);
  EXPECT_FALSE(p.is_open());
  EXPECT_THROW(process::adopt(ex(), tid), boost::system::system_error);
}

TEST_F(adopt_test, thread_id_is_invalid_argument)
{
  // As documented for adopt(): "errc::invalid_argument ... for a thread
  // id". (pidfd_open says EINVAL or ENOENT depending on the kernel.)
  pidfd_test::other_thread t;
  error_code ec;
  process::adopt(ex(), t.tid(), ec);
  EXPECT_EQ(ec, errc::invalid_argument) << ec.message();
}

TEST_F(adopt_test, ourselves)
{
  // Never our own child, never exits while we look: waits would not
  // complete, signal 0 works.
  process p = process::adopt(ex(), ::getpid());
  EXPECT_EQ(p.id(), ::getpid());
  p.signal(0);
  if (pidfd::kernel_support().pidfd)
  {
    EXPECT_EQ(p.try_wait(), std::nullopt);
  }
  else
  {
    // Without pidfds only a child can be waited for: the wait fails at
    // once with ECHILD, an outcome kept like any other.
    error_code ec;
    EXPECT_EQ(p.try_wait(ec), std::nullopt);
    EXPECT_EQ(ec, errc::no_child_process);
  }
}

// A helper child that forks a grandchild: the grandchild is not our child.
// The grandchild waits for a byte on the FIFO "go", then exits with 7; the
// helper reaps it (after a byte on the FIFO "reap", if held).
class grandchild_test : public adopt_test
{
protected:
  void TearDown() override
  {
    helper_.reset();
    report_.reset();
    go_.reset();
    reap_.reset();
    adopt_test::TearDown();
  }

  // Starts the helper; returns the grandchild's PID (0 on failure). The
  // grandchild exits with 7, or dumps core with `code` "core".
  pid_t start(bool hold = false, std::string code = "7")
  {
    // O_RDWR: opening a FIFO so never blocks (Linux), and the FIFO keeps
    // the bytes written to it while we hold it open.
    report_ = make_fifo("pid");
    go_ = make_fifo("go");
    reap_ = make_fifo("reap");
    std::vector<std::string> args{"grandchild", temp_dir(), code};
    if (hold)
      args.push_back("hold");
    helper_.emplace(pidfd::spawn(ctx.get_executor(), child_program, args));

    // The pid arrives on the FIFO; if the helper dies instead, fail
    // rather than block forever.
    pollfd fds[2] = {
        {report_.get(), POLLIN, 0}, {helper_->native_handle(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 1 || !(fds[0].revents & POLLIN))
    {
      ADD_FAILURE() << "the helper exited early";
      return 0;
    }
    char buf[32] = {};
    if (::read(report_.get(), buf, sizeof buf - 1) <= 0)
      return 0;
    return static_cast<pid_t>(std::atoi(buf));
  }

  // Lets the grandchild exit.
  void release_grandchild() { ASSERT_EQ(::write(go_.get(), "x", 1), 1); }

  // Lets the grandchild, adopted as `p`, end and awaits it with
  // async_wait.
  std::optional<exit_status> await_end(process& p)
  {
    std::optional<exit_status> s;
    p.async_wait([&](error_code ec, exit_status st) {
      EXPECT_FALSE(ec) << ec.message();
      s = st;
    });
    release_grandchild();
    run();
    return s;
  }

  // Lets a held helper reap the grandchild.
  void let_helper_reap() { ASSERT_EQ(::write(reap_.get(), "x", 1), 1); }

  // The helper reaped the grandchild and saw it exit with 7.
  void expect_helper_done() { EXPECT_TRUE(helper_->wait().success()); }

  std::optional<pidfd::process> helper_;

private:
  pidfd_test::unique_fd make_fifo(const char* name)
  {
    const std::string path = temp_path(name);
    if (::mkfifo(path.c_str(), 0600) != 0)
      ADD_FAILURE() << "mkfifo " << path << ": " << std::strerror(errno);
    return pidfd_test::unique_fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  }

  pidfd_test::unique_fd report_;
  pidfd_test::unique_fd go_;
  pidfd_test::unique_fd reap_;
};

TEST_F(grandchild_test, async_wait_gets_the_status_of_a_non_child)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  // Its parent may reap it before we look.
  if (!pidfd::kernel_support().exit_info)
    GTEST_SKIP() << "the kernel keeps no exit status for reaped non-children"
                 << " (Linux < 6.15)";
  const pid_t grandchild = start();
  ASSERT_GT(grandchild, 0);
  process p = process::adopt(ex(), grandchild);
  EXPECT_EQ(p.id(), grandchild);
  EXPECT_EQ(p.try_wait(), std::nullopt);
  std::optional<exit_status> s = await_end(p);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->exited()) << *s;
  EXPECT_EQ(s->code(), 7);
  // Not ours: no resource usage.
  EXPECT_FALSE(s->usage_known());
  EXPECT_EQ(s->max_rss(), 0u);
  expect_helper_done();

  // Kept, like any collected status.
  EXPECT_EQ(p.wait(), *s);
  error_code ec;
  p.signal(SIGTERM, ec);
  EXPECT_EQ(ec, pidfd::error::process_done);
}

TEST_F(grandchild_test, status_of_a_zombie_non_child)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  // Its parent has not reaped it yet: the kernel has no PIDFD_INFO_EXIT
  // for it, the zombie's /proc entry has the status.
  const pid_t grandchild = start(true);
  ASSERT_GT(grandchild, 0);
  process p = process::adopt(ex(), grandchild);
  std::optional<exit_status> s = await_end(p);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->code(), 7) << *s;
  // It was still a zombie then; now let its parent reap it.
  let_helper_reap();
  expect_helper_done();
}

TEST_F(grandchild_test, wait_after_its_parent_reaped_it)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  if (!pidfd::kernel_support().exit_info)
    GTEST_SKIP() << "the kernel keeps no exit status for reaped non-children"
                 << " (Linux < 6.15)";
  const pid_t grandchild = start();
  ASSERT_GT(grandchild, 0);
  process p = process::adopt(ex(), grandchild);
  error_code ec;
  p.signal(0, ec);
  EXPECT_FALSE(ec) << ec.message();

  release_grandchild();
  expect_helper_done();
  // Gone for good: only PIDFD_GET_INFO knows how it ended.
  error_code signal_ec;
  p.signal(SIGTERM, signal_ec);
  EXPECT_EQ(signal_ec, pidfd::error::process_done);
  exit_status s = p.wait(ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(s.code(), 7) << s;
  EXPECT_EQ(p.try_wait(), s);
}

// How a non-child ended, core dump included: from PIDFD_INFO_EXIT's exit
// code (its 0x80 bit) once its parent has reaped it, from /proc while it
// is a zombie.
TEST_F(grandchild_test, core_dump_of_a_non_child)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  if (std::string why = pidfd_test::cores_not_in_cwd(); !why.empty())
    GTEST_SKIP() << why;
  for (bool zombie : {false, true})
  {
    SCOPED_TRACE(zombie ? "still a zombie" : "reaped by its parent");
    if (!zombie && !pidfd::kernel_support().exit_info)
      continue; // the kernel keeps no status for reaped non-children
    const pid_t grandchild = start(zombie, "core");
    ASSERT_GT(grandchild, 0);
    process p = process::adopt(ex(), grandchild);
    std::optional<exit_status> s = await_end(p);
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->signaled()) << *s;
    EXPECT_EQ(s->signal(), SIGABRT);
    EXPECT_TRUE(s->core_dumped()) << *s;
    EXPECT_TRUE(!s->core_dump() || s->core_dump()->dumped);
    if (zombie)
      let_helper_reap();
    expect_helper_done();
    EXPECT_EQ(pidfd_test::remove_core_files(temp_dir()), 1u);
    helper_.reset();
    for (const char* fifo : {"pid", "go", "reap"})
      ::unlink(temp_path(fifo).c_str());
  }
}

TEST_F(adopt_test, pidfd_of_own_child)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  const pid_t pid = pidfd_test::posix_spawn_child({"exit", "9"});
  const int fd = pidfd_test::pidfd_open(pid);
  ASSERT_GE(fd, 0);
  error_code ec;
  process p = process::adopt_pidfd(ex(), fd, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(p.native_handle(), fd);
  EXPECT_EQ(p.id(), pid);
  std::optional<exit_status> s;
  p.async_wait([&](error_code e, exit_status st) {
    EXPECT_FALSE(e) << e.message();
    s = st;
  });
  run();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->code(), 9);
  // The object owns fd: the fixture would report it otherwise.
}

TEST_F(adopt_test, pidfd_of_a_running_child_signalled_through_it)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  const pid_t pid = pidfd_test::posix_spawn_child({"pause"});
  const int fd = pidfd_test::pidfd_open(pid, O_NONBLOCK);
  ASSERT_GE(fd, 0);
  process p = process::adopt_pidfd(ex(), fd);
  EXPECT_EQ(p.try_wait(), std::nullopt);
  p.signal(SIGKILL);
  EXPECT_EQ(p.wait().signal(), SIGKILL);
}

TEST_F(adopt_test, pidfd_that_is_not_a_pidfd)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  pidfd_test::unique_fd r(pipe_fds[0]), w(pipe_fds[1]);

  error_code ec;
  process p = process::adopt_pidfd(ex(), r.get(), ec);
  EXPECT_TRUE(ec);
  EXPECT_TRUE(ec == errc::bad_file_descriptor || ec == errc::invalid_argument)
      << ec.message();
  EXPECT_FALSE(p.is_open());
  EXPECT_THROW(
      process::adopt_pidfd(ex(), r.get()), boost::system::system_error);
  // Not closed on failure: it still belongs to the caller.
  EXPECT_NE(::fcntl(r.get(), F_GETFD), -1) << std::strerror(errno);
}

TEST_F(adopt_test, pidfd_that_is_not_an_fd)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  // adopt_pidfd documents errc::bad_file_descriptor or
  // errc::invalid_argument for anything that is not a pidfd.
  for (int fd : {-1, 9999})
  {
    SCOPED_TRACE(fd);
    error_code ec;
    process p = process::adopt_pidfd(ex(), fd, ec);
    EXPECT_FALSE(p.is_open());
    EXPECT_TRUE(ec == errc::bad_file_descriptor || ec == errc::invalid_argument)
        << ec.message();
  }
}

} // namespace
