//
// test/exit_status.cpp
// ~~~~~~~~~~~~~~~~~~~~
//

// Test that header file is self-contained.
#include "pidfd/exit_status.hpp"

#include "pidfd/spawn.hpp"
#include "support/fixture.hpp"

#include <chrono>
#include <optional>
#include <csignal>
#include <sstream>
#include <string>

#include <sys/resource.h>
#include <sys/wait.h>

namespace {

using pidfd::exit_status;
using pidfd_test::child_program;

class exit_status_test : public pidfd_test::fixture
{
};

// Wait status words as waitpid reports them.
constexpr int exited_with(int code)
{
  return (code & 0xff) << 8;
}
constexpr int killed_by(int sig)
{
  return sig & 0x7f;
}
constexpr int dumped_by(int sig)
{
  return (sig & 0x7f) | 0x80;
}

std::string streamed(const exit_status& s)
{
  std::ostringstream out;
  out << s;
  return out.str();
}

TEST_F(exit_status_test, default_is_unknown)
{
  exit_status s;
  EXPECT_FALSE(s.known());
  EXPECT_FALSE(s.exited());
  EXPECT_FALSE(s.signaled());
  EXPECT_FALSE(s.success());
  EXPECT_FALSE(s.core_dumped());
  EXPECT_EQ(s.code(), -1);
  EXPECT_EQ(s.signal(), 0);
  EXPECT_EQ(s.native(), 0);
  EXPECT_EQ(s.user_time(), std::chrono::microseconds(0));
  EXPECT_EQ(s.system_time(), std::chrono::microseconds(0));
  EXPECT_EQ(s.max_rss(), 0u);
  EXPECT_EQ(s.to_string(), "exited, status unknown");
  EXPECT_EQ(streamed(s), "exited, status unknown");
}

TEST_F(exit_status_test, exited)
{
  for (int code : {0, 3, 255})
  {
    exit_status s = exit_status::from_wait_status(exited_with(code));
    EXPECT_TRUE(s.known());
    EXPECT_TRUE(s.exited());
    EXPECT_FALSE(s.signaled());
    EXPECT_FALSE(s.core_dumped());
    EXPECT_EQ(s.code(), code);
    EXPECT_EQ(s.signal(), 0);
    EXPECT_EQ(s.success(), code == 0);
    EXPECT_EQ(s.native(), exited_with(code));
    EXPECT_TRUE(WIFEXITED(s.native()));
    EXPECT_EQ(s.to_string(), "exited with code " + std::to_string(code));
  }
}

TEST_F(exit_status_test, signaled_is_not_an_exit_code)
{
  exit_status s = exit_status::from_wait_status(killed_by(SIGKILL));
  EXPECT_TRUE(s.known());
  EXPECT_TRUE(s.signaled());
  EXPECT_FALSE(s.exited());
  EXPECT_FALSE(s.success());
  EXPECT_FALSE(s.core_dumped());
  EXPECT_EQ(s.signal(), SIGKILL);
  // Boost.Process v2 folds WTERMSIG into the exit code; we do not.
  EXPECT_EQ(s.code(), -1);
  EXPECT_EQ(s.native(), killed_by(SIGKILL));
  EXPECT_TRUE(WIFSIGNALED(s.native()));
  EXPECT_EQ(s.to_string(), "killed by SIGKILL");
  EXPECT_EQ(streamed(s), "killed by SIGKILL");
}

TEST_F(exit_status_test, core_dumped)
{
  exit_status s = exit_status::from_wait_status(dumped_by(SIGSEGV));
  EXPECT_TRUE(s.signaled());
  EXPECT_TRUE(s.core_dumped());
  EXPECT_EQ(s.signal(), SIGSEGV);
  EXPECT_EQ(s.to_string(), "killed by SIGSEGV (core dumped)");
  EXPECT_EQ(streamed(s), "killed by SIGSEGV (core dumped)");

  exit_status abrt = exit_status::from_wait_status(dumped_by(SIGABRT));
  EXPECT_EQ(abrt.to_string(), "killed by SIGABRT (core dumped)");
}

TEST_F(exit_status_test, the_kernels_core_dump_account)
{
  // As the library attaches PIDFD_INFO_COREDUMP's account.
  exit_status s = exit_status::from_wait_status(dumped_by(SIGSEGV));
  EXPECT_EQ(s.core_dump(), std::nullopt);
  s.set_core_dump({.dumped = true, .as_user = true});
  ASSERT_TRUE(s.core_dump());
  EXPECT_TRUE(s.core_dump()->dumped);
  EXPECT_TRUE(s.core_dump()->as_user);
  EXPECT_EQ(s.to_string(), "killed by SIGSEGV (core dumped)");
  // Not part of what the ending was.
  EXPECT_EQ(s, exit_status::from_wait_status(dumped_by(SIGSEGV)));

  exit_status root = exit_status::from_wait_status(dumped_by(SIGABRT));
  root.set_core_dump({.dumped = true, .as_root = true});
  EXPECT_EQ(root.to_string(), "killed by SIGABRT (core dumped as root)");

  // The account alone says a core was dumped, even without the bit.
  exit_status socket = exit_status::from_wait_status(killed_by(SIGSEGV));
  EXPECT_FALSE(socket.core_dumped());
  socket.set_core_dump({.dumped = true, .as_user = true});
  EXPECT_TRUE(socket.core_dumped());

  exit_status skipped = exit_status::from_wait_status(killed_by(SIGQUIT));
  skipped.set_core_dump({.skipped = true});
  EXPECT_FALSE(skipped.core_dumped());
  EXPECT_EQ(skipped.to_string(), "killed by SIGQUIT (core dump skipped)");
}

// Every account comes back as it was given, an empty one included (the
// status keeps it as bits).
TEST_F(exit_status_test, every_core_dump_account_comes_back_as_given)
{
  for (unsigned bits = 0; bits < 16; ++bits)
  {
    const pidfd::core_dump_info given{.dumped = (bits & 1) != 0,
        .skipped = (bits & 2) != 0,
        .as_user = (bits & 4) != 0,
        .as_root = (bits & 8) != 0};
    exit_status s = exit_status::from_wait_status(killed_by(SIGSEGV));
    s.set_core_dump(given);
    EXPECT_EQ(s.core_dump(), given) << "bits " << bits;
    EXPECT_EQ(s.core_dumped(), given.dumped) << "bits " << bits;
    EXPECT_EQ(s.signal(), SIGSEGV);
  }
}

TEST_F(exit_status_test, signal_without_a_name)
{
  // Real-time signals have no abbreviation.
  exit_status s = exit_status::from_wait_status(killed_by(40));
  EXPECT_EQ(s.signal(), 40);
  EXPECT_EQ(s.to_string(), "killed by signal 40");
  EXPECT_EQ(exit_status::from_wait_status(dumped_by(40)).to_string(),
      "killed by signal 40 (core dumped)");
}

TEST_F(exit_status_test, stopped_or_continued_is_not_an_end_state)
{
  EXPECT_FALSE(exit_status::from_wait_status(0x137f).known()); // stopped
  EXPECT_FALSE(exit_status::from_wait_status(0xffff).known()); // continued
}

TEST_F(exit_status_test, equality_compares_how_it_ended)
{
  using s = exit_status;
  EXPECT_EQ(
      s::from_wait_status(exited_with(3)), s::from_wait_status(exited_with(3)));
  EXPECT_NE(
      s::from_wait_status(exited_with(3)), s::from_wait_status(exited_with(4)));
  EXPECT_NE(
      s::from_wait_status(exited_with(9)), s::from_wait_status(killed_by(9)));
  EXPECT_NE(s::from_wait_status(killed_by(SIGSEGV)),
      s::from_wait_status(dumped_by(SIGSEGV)));
  EXPECT_EQ(s(), s());
  EXPECT_NE(s(), s::from_wait_status(exited_with(0)));
}

TEST_F(exit_status_test, set_usage_is_reported_back)
{
  exit_status s = exit_status::from_wait_status(exited_with(0));
  s.set_usage(
      std::chrono::microseconds(1500), std::chrono::microseconds(250), 4096);
  EXPECT_EQ(s.user_time(), std::chrono::microseconds(1500));
  EXPECT_EQ(s.system_time(), std::chrono::microseconds(250));
  EXPECT_EQ(s.max_rss(), 4096u);
}

TEST_F(exit_status_test, real_exit_codes)
{
  for (int code : {0, 3, 255})
  {
    auto p = pidfd::spawn(ctx, child_program, {"exit", std::to_string(code)});
    exit_status s = p.wait();
    EXPECT_TRUE(s.exited());
    EXPECT_EQ(s.code(), code);
    EXPECT_EQ(s.success(), code == 0);
    EXPECT_EQ(s.to_string(), "exited with code " + std::to_string(code));
  }
}

TEST_F(exit_status_test, real_signals)
{
  for (int sig : {SIGKILL, SIGTERM, SIGSEGV, SIGABRT})
  {
    auto p =
        pidfd::spawn(ctx, child_program, {"signal-self", std::to_string(sig)});
    exit_status s = p.wait();
    EXPECT_TRUE(s.signaled()) << s;
    EXPECT_EQ(s.signal(), sig);
    EXPECT_EQ(s.code(), -1);
    // The child disables core dumps.
    EXPECT_FALSE(s.core_dumped());
    EXPECT_TRUE(WIFSIGNALED(s.native()));
    EXPECT_EQ(WTERMSIG(s.native()), sig);
  }

  auto p = pidfd::spawn(
      ctx, child_program, {"signal-self", std::to_string(SIGKILL)});
  EXPECT_EQ(p.wait().to_string(), "killed by SIGKILL");
}

// Real core dumps: a shell kills itself with a signal that dumps core,
// in this test's directory, with RLIMIT_CORE as the test says.
class core_dump_test : public exit_status_test
{
protected:
  void SetUp() override
  {
    exit_status_test::SetUp();
    if (std::string why = pidfd_test::cores_not_in_cwd(); !why.empty())
      GTEST_SKIP() << why;
  }

  exit_status dump(const char* sig, rlim_t core_limit)
  {
    pidfd::spawn_options o;
    o.working_directory = temp_dir();
    o.limits = {{RLIMIT_CORE, core_limit, core_limit}};
    auto p = pidfd::spawn(
        ctx, "/bin/sh", {"-c", std::string("kill -") + sig + " $$"}, o);
    std::optional<exit_status> s;
    p.async_wait([&](boost::system::error_code ec, exit_status st) {
      EXPECT_FALSE(ec) << ec.message();
      s = st;
    });
    run();
    return s.value_or(exit_status{});
  }
};

TEST_F(core_dump_test, a_child_that_dumps_core)
{
  exit_status s = dump("SEGV", RLIM_INFINITY);
  EXPECT_TRUE(s.signaled()) << s;
  EXPECT_EQ(s.signal(), SIGSEGV);
  EXPECT_TRUE(s.core_dumped()) << s;
  EXPECT_EQ(s.to_string(), "killed by SIGSEGV (core dumped)");
  // Where the kernel gives its own account, it agrees.
  EXPECT_TRUE(!s.core_dump() || s.core_dump()->dumped);
  EXPECT_EQ(pidfd_test::remove_core_files(temp_dir()), 1u);
}

TEST_F(core_dump_test, no_core_with_rlimit_core_zero)
{
  exit_status s = dump("ABRT", 0);
  EXPECT_TRUE(s.signaled()) << s;
  EXPECT_EQ(s.signal(), SIGABRT);
  EXPECT_FALSE(s.core_dumped()) << s;
  EXPECT_EQ(s.to_string(), "killed by SIGABRT");
  EXPECT_TRUE(!s.core_dump() || !s.core_dump()->dumped);
  EXPECT_EQ(pidfd_test::remove_core_files(temp_dir()), 0u);
}

TEST_F(exit_status_test, killed_by_sigterm_from_the_parent)
{
  auto p = pidfd::spawn(ctx, child_program, {"pause"});
  p.signal(SIGTERM);
  exit_status s = p.wait();
  EXPECT_TRUE(s.signaled());
  EXPECT_EQ(s.signal(), SIGTERM);
  EXPECT_EQ(s.to_string(), "killed by SIGTERM");
}

TEST_F(exit_status_test, resource_usage_of_a_child)
{
  auto p = pidfd::spawn(ctx, child_program, {"burn-cpu", "50"});
  exit_status s = p.wait();
  ASSERT_TRUE(s.success()) << s;
  EXPECT_TRUE(s.usage_known());
  EXPECT_GT(s.user_time(), std::chrono::microseconds(0));
  EXPECT_GE(s.system_time(), std::chrono::microseconds(0));
  EXPECT_GT(s.max_rss(), 0u);
  // A status made from a status word has none.
  EXPECT_FALSE(exit_status::from_wait_status(s.native()).usage_known());
}

TEST_F(exit_status_test, resource_usage_through_async_wait)
{
  auto p = pidfd::spawn(ctx, child_program, {"burn-cpu", "50"});
  exit_status s;
  p.async_wait([&](boost::system::error_code ec, exit_status st) {
    EXPECT_FALSE(ec) << ec.message();
    s = st;
  });
  run();
  ASSERT_TRUE(s.success()) << s;
  EXPECT_GT(s.user_time(), std::chrono::microseconds(0));
  EXPECT_GT(s.max_rss(), 0u);
}

} // namespace
