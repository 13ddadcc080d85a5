//
// test/options/process_group.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// spawn_options::process_group, and signal_group / async_signal_group.
//

// Test that header file is self-contained.
#include "pidfd/spawn_options.hpp"

#include "options/support.hpp"
#include "pidfd/error.hpp"
#include "pidfd/process.hpp"
#include "pidfd/spawn.hpp"

#include <boost/system/system_error.hpp>

#include <csignal>
#include <optional>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace errc = boost::system::errc;
using boost::system::error_code;
using pidfd::process_group_mode;
using pidfd_options_test::read_line;
using pidfd_options_test::read_report;
using pidfd_options_test::read_to_eof;
using pidfd_options_test::report;
using pidfd_test::child_program;

class options_process_group_test : public pidfd_test::fixture
{
protected:
  report report_with(process_group_mode mode)
  {
    const std::string path = temp_path("report");
    pidfd::spawn_options options;
    options.process_group = mode;
    pidfd::exit_status s =
        pidfd::spawn(ctx, child_program, {"report", path}, options).wait();
    EXPECT_TRUE(s.success()) << s;
    return read_report(path);
  }

  // "child group-report SIG" leading a new group; its stdout is out_.
  pidfd::process spawn_group_report(int sig)
  {
    auto pipe = pidfd_options_test::make_pipe();
    pidfd::spawn_options options;
    options.out = pidfd::stdio::fd(pipe.write.get());
    options.process_group = process_group_mode::new_group;
    auto p = pidfd::spawn(
        ctx, child_program, {"group-report", std::to_string(sig)}, options);
    out_ = std::move(pipe.read);
    // The grandchild exists once its pid is written.
    grandchild_ = read_line(out_.get());
    return p;
  }

  // "child orphan 3" leading a new group: its child stays in the group,
  // holding the lifeline's read end until it reaches EOF, and is
  // reparented to this process (a subreaper) once the leader exits. Returns
  // with the leader exited and not collected.
  pidfd::process spawn_exited_leader()
  {
    auto out = pidfd_options_test::make_pipe();
    auto lifeline = pidfd_options_test::make_pipe();
    pidfd::spawn_options options;
    options.out = pidfd::stdio::fd(out.write.get());
    options.inherit_fd(3, lifeline.read.get());
    options.process_group = process_group_mode::new_group;
    auto p = pidfd::spawn(ctx, child_program, {"orphan", "3"}, options);
    out.write.reset();
    // The member exists once the leader reports its pid.
    EXPECT_GT(std::stoi(read_line(out.read.get())), 0);
    lifeline_ = std::move(lifeline.write);
    pidfd_test::wait_exited(p);
    return p;
  }

  // Lets the group's remaining member end by itself (unless a signal ended
  // it) and returns its wait status.
  int member_status()
  {
    lifeline_.reset();
    int status = 0;
    EXPECT_GT(::waitpid(-1, &status, 0), 0);
    return status;
  }

  pidfd_test::unique_fd out_;
  std::string grandchild_;
  pidfd_test::unique_fd lifeline_;
};

TEST_F(options_process_group_test, inherit_is_the_default)
{
  report r = report_with(process_group_mode::inherit);
  EXPECT_EQ(r["pgid"], std::to_string(::getpgrp()));
  EXPECT_EQ(r["sid"], std::to_string(::getsid(0)));
  EXPECT_EQ(report_with({})["pgid"], std::to_string(::getpgrp()));
}

TEST_F(options_process_group_test, new_group_is_led_by_the_child)
{
  report r = report_with(process_group_mode::new_group);
  EXPECT_EQ(r["pgid"], r["pid"]);
  EXPECT_EQ(r["sid"], std::to_string(::getsid(0)));
}

TEST_F(options_process_group_test, new_session_is_led_by_the_child)
{
  report r = report_with(process_group_mode::new_session);
  EXPECT_EQ(r["sid"], r["pid"]);
  EXPECT_EQ(r["pgid"], r["pid"]);
}

TEST_F(options_process_group_test, signal_group_reaches_child_and_grandchild)
{
  auto p = spawn_group_report(SIGTERM);
  EXPECT_NE(grandchild_, "");
  p.signal_group(SIGTERM);
  EXPECT_EQ(read_to_eof(out_.get()), "grandchild signaled 15\nleader got 15\n");
  pidfd::exit_status s = p.wait();
  EXPECT_TRUE(s.success()) << s;
  out_.reset();
}

TEST_F(
    options_process_group_test, async_signal_group_reaches_child_and_grandchild)
{
  auto p = spawn_group_report(SIGUSR1);
  std::optional<error_code> result;
  p.async_signal_group(SIGUSR1, [&](error_code ec) { result = ec; });
  EXPECT_EQ(read_to_eof(out_.get()), "grandchild signaled 10\nleader got 10\n");
  run();
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result) << result->message();
  pidfd::exit_status s = p.wait();
  EXPECT_TRUE(s.success()) << s;
  out_.reset();
}

TEST_F(options_process_group_test,
    signal_group_of_an_exited_leader_reaches_the_rest)
{
  // The leader is a zombie, not collected: it still holds the group's id,
  // so the group (natively: through the leader's pidfd) is signalled.
  pidfd_options_test::subreaper_guard subreaper;
  auto p = spawn_exited_leader();
  error_code ec;
  p.signal_group(SIGTERM, ec);
  EXPECT_FALSE(ec) << ec.message();
  pidfd::exit_status s = p.wait();
  EXPECT_TRUE(s.success()) << s; // it had exited before the signal
  const int member = member_status();
  EXPECT_TRUE(WIFSIGNALED(member) && WTERMSIG(member) == SIGTERM) << member;
}

TEST_F(options_process_group_test, signal_group_after_a_reap_elsewhere_is_done)
{
  // Someone else reaped the leader: whether or not its group still has
  // members, the group is no longer ours to signal (process_done, as for
  // a collected child), and nothing is sent.
  pidfd_options_test::subreaper_guard subreaper;
  auto p = spawn_exited_leader();
  const int leader = pidfd_test::reap(p.id());
  EXPECT_TRUE(WIFEXITED(leader) && WEXITSTATUS(leader) == 0) << leader;
  error_code ec;
  p.signal_group(SIGTERM, ec);
  EXPECT_EQ(ec, pidfd::error::process_done) << ec.message();
  const int member = member_status();
  EXPECT_TRUE(WIFEXITED(member) && WEXITSTATUS(member) == 0) << member;
  p.wait(ec);
  EXPECT_EQ(ec, errc::no_child_process) << ec.message();
}

TEST_F(options_process_group_test, signal_group_of_a_child_that_leads_none)
{
  auto pipe = pidfd_options_test::make_pipe();
  auto p = pidfd::spawn(ctx, child_program, {"linger"},
      {.in = pidfd::stdio::fd(pipe.read.get())});
  error_code ec;
  p.signal_group(SIGKILL, ec);
  EXPECT_EQ(ec, errc::no_such_process) << ec.message();
  EXPECT_THROW(p.signal_group(SIGKILL), boost::system::system_error);
  // The child was not hit.
  pipe.write.reset();
  pidfd::exit_status s = p.wait();
  EXPECT_TRUE(s.success()) << s;
}

TEST_F(
    options_process_group_test, signal_group_after_collection_is_process_done)
{
  auto p = pidfd::spawn(ctx, child_program, {"write", "", ""},
      {.process_group = process_group_mode::new_group});
  EXPECT_TRUE(p.wait().success());
  error_code ec;
  p.signal_group(SIGTERM, ec);
  EXPECT_EQ(ec, pidfd::error::process_done) << ec.message();
  std::optional<error_code> async_ec;
  p.async_signal_group(SIGTERM, [&](error_code e) { async_ec = e; });
  run();
  ASSERT_TRUE(async_ec);
  EXPECT_EQ(*async_ec, pidfd::error::process_done);
}

TEST_F(options_process_group_test, signal_group_with_an_invalid_signal)
{
  auto pipe = pidfd_options_test::make_pipe();
  auto p = pidfd::spawn(ctx, child_program, {"linger"},
      {.in = pidfd::stdio::fd(pipe.read.get()),
          .process_group = process_group_mode::new_group});
  error_code ec;
  p.signal_group(-1, ec);
  EXPECT_EQ(ec, pidfd::error::invalid_signal);
  p.signal_group(_NSIG, ec);
  EXPECT_EQ(ec, pidfd::error::invalid_signal);
  pipe.write.reset();
  EXPECT_TRUE(p.wait().success());
}

} // namespace
