//
// test/reliability/traced.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Spawn and wait loops that must behave the same with and without a ptrace
// tracer. ctest runs this program on its own and again under `strace -f`
// (reliability.strace.*), where every child is traced: the kernel tells
// the tracer of an exit first, so a child's pidfd is readable before its
// parent may reap it (waitid(WNOHANG) still finds nothing). Waits must
// re-arm until the child is reapable: never block, fail, or lose it.
//
// With PIDFD_REL_EXPECT_TRACED=1 every test first checks that a tracer is
// attached, so that the strace run cannot pass untraced.
//

#include "pidfd/asio.hpp"
#include "reliability.hpp"
#include "support/fixture.hpp"

#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <sys/wait.h>

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using boost::system::error_code;
using pidfd::exit_status;
using pidfd_rel::outcome;
using pidfd_test::child_program;
using pidfd_test::unique_fd;

// The TracerPid of this process, from /proc/self/status.
long tracer_pid()
{
  for (const std::string& line : pidfd_test::read_lines("/proc/self/status"))
  {
    if (line.rfind("TracerPid:", 0) == 0)
      return std::strtol(line.c_str() + 10, nullptr, 10);
  }
  return -1;
}

class traced_test : public pidfd_test::fixture
{
protected:
  void SetUp() override
  {
    pidfd_test::fixture::SetUp();
    const char* expect = std::getenv("PIDFD_REL_EXPECT_TRACED");
    if (expect && std::strcmp(expect, "1") == 0)
    {
      ASSERT_GT(tracer_pid(), 0) << "expected to run under a tracer";
    }
  }

  using process_type =
      decltype(pidfd::spawn(std::declval<asio::io_context&>(), child_program));
};

TEST_F(traced_test, async_waits)
{
  constexpr int children = 24;
  std::vector<process_type> processes;
  std::vector<outcome> outcomes(children);
  for (int i = 0; i < children; ++i)
  {
    processes.push_back(
        pidfd::spawn(ctx, child_program, {"exit", std::to_string(i)}));
    processes.back().async_wait(outcomes[i].handler());
  }
  run();
  for (int i = 0; i < children; ++i)
  {
    SCOPED_TRACE(i);
    ASSERT_TRUE(outcomes[i].called);
    EXPECT_FALSE(outcomes[i].ec) << outcomes[i].ec.message();
    EXPECT_EQ(outcomes[i].status.code(), i);
  }
}

TEST_F(traced_test, blocking_waits)
{
  for (int i = 0; i < 12; ++i)
  {
    auto p = pidfd::spawn(ctx, child_program, {"exit", std::to_string(i)});
    EXPECT_EQ(p.wait().code(), i);
  }
}

TEST_F(traced_test, exited_but_not_yet_reapable)
{
  // Once the pidfd is readable: signals report process_done, try_wait
  // finds nothing or the status (under ptrace: nothing until the tracer
  // lets go), and a wait gets the status.
  auto p = pidfd::spawn(ctx, child_program, {"exit", "3"});
  unique_fd own(pidfd_test::pidfd_open(p.id()));
  ASSERT_GE(own.get(), 0);
  pidfd_test::wait_exited(own.get(), p.id());
  error_code ec;
  p.signal(0, ec);
  if (!pidfd_rel::fallback())
  {
    EXPECT_EQ(ec, pidfd::error::process_done);
  }
  std::optional<exit_status> early = p.try_wait(ec);
  EXPECT_FALSE(ec) << ec.message();
  if (early)
  {
    EXPECT_EQ(early->code(), 3);
  }
  outcome o;
  p.async_wait(o.handler());
  run();
  ASSERT_TRUE(o.called);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_EQ(o.status.code(), 3);
  p.signal(0, ec);
  EXPECT_EQ(ec, pidfd::error::process_done);
}

TEST_F(traced_test, cancel_and_wait_again)
{
  auto p = pidfd::spawn(ctx, child_program, {"pause"});
  outcome first, second;
  p.async_wait(first.handler());
  p.cancel();
  run();
  ASSERT_TRUE(first.called);
  EXPECT_EQ(first.ec, asio::error::operation_aborted);
  p.async_wait(second.handler());
  p.signal(SIGTERM);
  run();
  ASSERT_TRUE(second.called);
  EXPECT_EQ(second.status.signal(), SIGTERM) << second.status;
}

TEST_F(traced_test, terminate_and_signal)
{
  auto p = pidfd::spawn(ctx, child_program, {"pause"});
  outcome o;
  p.async_terminate(std::chrono::seconds(10), o.handler());
  run();
  ASSERT_TRUE(o.called);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_EQ(o.status.signal(), SIGTERM) << o.status;
}

TEST_F(traced_test, background_reaping)
{
  // Objects given up while their children run: each child is reaped once
  // it exits (natively by a wait that re-arms on the io_context, in the
  // fallback by a pool thread).
  const std::set<int> fds = pidfd_rel::open_fds_with_reactor(ctx);
  std::vector<unique_fd> own;
  {
    std::vector<process_type> processes;
    for (int i = 0; i < 6; ++i)
    {
      processes.push_back(pidfd::spawn(ctx, child_program, {"pause"}));
      own.emplace_back(pidfd_test::pidfd_open(processes.back().id()));
      ASSERT_GE(own.back().get(), 0);
    }
  }
  for (unique_fd& fd : own)
    ASSERT_EQ(pidfd_test::pidfd_send_signal(fd.get(), SIGKILL), 0);
  if (pidfd_rel::fallback())
  {
    for (unique_fd& fd : own)
      EXPECT_TRUE(pidfd_rel::wait_reaped(fd.get()));
  }
  else
  {
    run();
  }
  EXPECT_FALSE(pidfd_test::has_children());
  own.clear();
  EXPECT_EQ(pidfd_test::open_fds(), fds);
}

TEST_F(traced_test, exec_failure)
{
  error_code ec;
  auto p = pidfd::spawn(ctx, temp_path("missing"), {}, {}, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  EXPECT_FALSE(p.is_open());
}

TEST_F(traced_test, async_run)
{
  std::optional<pidfd::run_result> result;
  pidfd::async_run(ctx, child_program, {"flood", "100000"}, {},
      [&](error_code ec, pidfd::run_result r) {
        EXPECT_FALSE(ec) << ec.message();
        result = std::move(r);
      });
  run();
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->status.success()) << result->status;
  EXPECT_EQ(result->out.size(), 100000u);
  EXPECT_EQ(result->err.size(), 100000u);
}

} // namespace
