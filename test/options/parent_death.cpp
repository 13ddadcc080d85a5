//
// test/options/parent_death.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// spawn_options::parent_death_signal: set before exec, sent when the
// spawner dies (or only the spawning thread exits), and sent by the child
// itself when the spawner died before the setting took effect.
//

// Test that header file is self-contained.
#include "pidfd/spawn_options.hpp"

#include "options/support.hpp"
#include "pidfd/process.hpp"
#include "pidfd/spawn.hpp"

#include <csignal>
#include <optional>
#include <string>
#include <thread>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using pidfd_options_test::read_line;
using pidfd_options_test::read_report;
using pidfd_options_test::spawner;
using pidfd_test::child_program;

class options_parent_death_test : public pidfd_test::fixture
{
protected:
  // A spawner spawns "child linger" with parent_death_signal `sig` and is
  // then killed; the grandchild, which reads stdin until EOF, is reparented
  // to this process (a subreaper). Returns the grandchild's wait status.
  int grandchild_status_after_spawner_dies(int sig)
  {
    pidfd_options_test::subreaper_guard subreaper;
    auto in = pidfd_options_test::make_pipe();
    auto out = pidfd_options_test::make_pipe();
    pidfd::spawn_options options;
    options.in = pidfd::stdio::fd(in.read.get());
    options.out = pidfd::stdio::fd(out.write.get());
    auto p = pidfd::spawn(ctx, spawner,
        {"spawn-grandchild", child_program, std::to_string(sig)}, options);
    in.read.reset();
    out.write.reset();
    const pid_t grandchild =
        static_cast<pid_t>(std::stol(read_line(out.read.get())));

    p.signal(SIGKILL);
    pidfd::exit_status s = p.wait();
    EXPECT_EQ(s.signal(), SIGKILL) << s;
    // The spawner is collected, so it has exited and its exit has sent
    // the grandchild its signal, if any. Now let a grandchild without one
    // end by itself.
    in.write.reset();
    return pidfd_test::reap(grandchild);
  }

  // A process that spawns "child linger" with parent_death_signal `sig`
  // from a thread that then exits; returns the child's status once its
  // stdin is closed.
  pidfd::exit_status status_after_spawning_thread_exits(int sig)
  {
    auto in = pidfd_options_test::make_pipe();
    pidfd::spawn_options options;
    options.in = pidfd::stdio::fd(in.read.get());
    options.parent_death_signal = sig;
    std::optional<pidfd::process> p;
    std::thread([&] {
      p.emplace(pidfd::spawn(ctx, child_program, {"linger"}, options));
    }).join();
    in.read.reset();
    EXPECT_TRUE(p);
    if (!p)
      return {};
    // With the signal, the child is already being killed: the thread has
    // exited. Without it, closing stdin ends it normally.
    in.write.reset();
    return p->wait();
  }
};

TEST_F(options_parent_death_test, the_signal_is_set_before_exec)
{
  const std::string path = temp_path("report");
  pidfd::spawn_options options;
  options.parent_death_signal = SIGUSR2;
  EXPECT_TRUE(pidfd::spawn(ctx, child_program, {"report", path}, options)
                  .wait()
                  .success());
  EXPECT_EQ(read_report(path)["pdeathsig"], std::to_string(SIGUSR2));

  EXPECT_TRUE(
      pidfd::spawn(ctx, child_program, {"report", path}).wait().success());
  EXPECT_EQ(read_report(path)["pdeathsig"], "0");
}

TEST_F(options_parent_death_test, set_after_the_credentials_change)
{
  // A change of the effective uid or gid clears the setting: it must come
  // after them.
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root to change credentials";
  ASSERT_EQ(::chmod(temp_dir().c_str(), 0777), 0);
  const std::string path = temp_path("report");
  pidfd::spawn_options options;
  options.parent_death_signal = SIGUSR2;
  options.gid = 65534;
  options.uid = 65534;
  EXPECT_TRUE(pidfd::spawn(ctx, child_program, {"report", path}, options)
                  .wait()
                  .success());
  EXPECT_EQ(read_report(path)["uid"], "65534,65534,65534");
  EXPECT_EQ(read_report(path)["pdeathsig"], std::to_string(SIGUSR2));
}

TEST_F(
    options_parent_death_test, grandchild_gets_the_signal_when_its_spawner_dies)
{
  const int status = grandchild_status_after_spawner_dies(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << pidfd::exit_status::from_wait_status(status);
}

TEST_F(options_parent_death_test, without_the_option_the_grandchild_lives_on)
{
  const int status = grandchild_status_after_spawner_dies(0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << pidfd::exit_status::from_wait_status(status);
}

TEST_F(options_parent_death_test, spawner_dead_before_the_setting_took_effect)
{
  // See spawner.cpp, pdeath_race: the child must send itself the signal.
  auto p = pidfd::spawn(ctx, spawner,
      {"pdeath-race", temp_dir(), child_program, std::to_string(SIGKILL)},
      {.in = pidfd::stdio::null()});
  pidfd::exit_status s = p.wait();
  EXPECT_TRUE(s.exited() && s.code() == 0)
      << s << " (20: the grandchild ran; 30: it never blocked)";
}

TEST_F(options_parent_death_test, spawner_dead_before_exec_without_the_option)
{
  // The control: the same race without a signal lets the grandchild run.
  auto p = pidfd::spawn(ctx, spawner,
      {"pdeath-race", temp_dir(), child_program, "0"},
      {.in = pidfd::stdio::null()});
  pidfd::exit_status s = p.wait();
  EXPECT_TRUE(s.exited() && s.code() == 20) << s;
}

// Linux caveat: PR_SET_PDEATHSIG fires when the *thread* that spawned the
// child exits, even though the parent process lives on.
TEST_F(options_parent_death_test, fires_when_the_spawning_thread_exits)
{
  pidfd::exit_status s = status_after_spawning_thread_exits(SIGKILL);
  EXPECT_TRUE(s.signaled() && s.signal() == SIGKILL) << s;
}

TEST_F(options_parent_death_test, spawning_thread_exit_without_the_option)
{
  pidfd::exit_status s = status_after_spawning_thread_exits(0);
  EXPECT_TRUE(s.success()) << s;
}

} // namespace
