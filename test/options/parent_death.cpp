//
// test/options/parent_death.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// spawn_options::parent_death_signal: set before exec, sent when the
// spawner dies (or only the spawning thread exits), and sent by the child
// itself when the spawner died before the setting took effect. And
// spawn_options::die_with_owner, which builds on it where Linux 7.1's
// CLONE_PIDFD_AUTOKILL is missing.
//

// Test that header file is self-contained.
#include "pidfd/spawn_options.hpp"

#include "options/support.hpp"
#include "pidfd/kernel_support.hpp"
#include "pidfd/process.hpp"
#include "pidfd/spawn.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

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

  // A spawner spawns "child linger" with die_with_owner and is then
  // killed by SIGKILL. The grandchild is watched through a pidfd opened
  // while it runs: it is this process's child once reparented (a
  // subreaper), or reaped by the kernel (Linux 7.1's CLONE_AUTOREAP), and
  // adopt_pidfd gets its status either way.
  // With `assume_autokill`, the spawner's probe is told that the kernel
  // knows Linux 7.1's flags (PIDFD_ASIO_TEST_ASSUME_AUTOKILL), so that its
  // spawn tries them: a kernel that refuses them must then give the
  // fallback.
  pidfd::exit_status grandchild_status_after_owner_dies(
      bool assume_autokill = false)
  {
    pidfd_options_test::subreaper_guard subreaper;
    auto in = pidfd_options_test::make_pipe();
    auto out = pidfd_options_test::make_pipe();
    pidfd::spawn_options options;
    if (assume_autokill)
      options.env.set("PIDFD_ASIO_TEST_ASSUME_AUTOKILL", "1");
    options.in = pidfd::stdio::fd(in.read.get());
    options.out = pidfd::stdio::fd(out.write.get());
    auto p = pidfd::spawn(
        ctx, spawner, {"spawn-grandchild", child_program, "owner"}, options);
    in.read.reset();
    out.write.reset();
    const pid_t grandchild =
        static_cast<pid_t>(std::stol(read_line(out.read.get())));
    // Its stdin stays open: it cannot end by itself.
    const int fd = pidfd_test::pidfd_open(grandchild);
    EXPECT_GE(fd, 0) << std::strerror(errno);
    if (fd < 0)
      return {};
    pidfd::process watched =
        pidfd::process::adopt_pidfd(ctx.get_executor(), fd);

    p.signal(SIGKILL);
    EXPECT_EQ(p.wait().signal(), SIGKILL);
    return watched.wait();
  }

  // A process that spawns "child linger" with parent_death_signal `sig`
  // (or die_with_owner, for -1) from a thread that then exits; returns
  // the child's status once its stdin is closed.
  pidfd::exit_status status_after_spawning_thread_exits(int sig)
  {
    auto in = pidfd_options_test::make_pipe();
    pidfd::spawn_options options;
    options.in = pidfd::stdio::fd(in.read.get());
    if (sig < 0)
      options.die_with_owner = true;
    else
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

//------------------------------------------------------------------------------
// die_with_owner

TEST_F(options_parent_death_test, die_with_owner_sets_what_this_kernel_needs)
{
  const std::string path = temp_path("report");
  pidfd::spawn_options options;
  options.die_with_owner = true;
  EXPECT_TRUE(pidfd::spawn(ctx, child_program, {"report", path}, options)
                  .wait()
                  .success());
  auto report = read_report(path);
  // Linux 7.1 ties the child to its pidfd instead of a signal; this
  // kernel refuses those clone3 flags, so the fallback is taken.
  const bool autokill = pidfd::kernel_support().pidfd_autokill;
  EXPECT_EQ(report["pdeathsig"], autokill ? "0" : std::to_string(SIGKILL));
  EXPECT_EQ(report["no_new_privs"], "1");
  EXPECT_NE(pidfd::kernel_support().to_string().find(autokill
                    ? "die_with_owner by clone3(CLONE_PIDFD_AUTOKILL)"
                    : "die_with_owner by the parent-death signal"),
      std::string::npos)
      << pidfd::kernel_support();

  // SIGKILL as the parent-death signal agrees with it; another does not.
  options.parent_death_signal = SIGKILL;
  EXPECT_TRUE(pidfd::spawn(ctx, child_program, {"report", path}, options)
                  .wait()
                  .success());
  options.parent_death_signal = SIGTERM;
  boost::system::error_code ec;
  pidfd::spawn_error_info info;
  pidfd::process p =
      pidfd::spawn(ctx, child_program, {"report", path}, options, ec, info);
  EXPECT_EQ(ec, boost::system::errc::invalid_argument);
  EXPECT_EQ(info.failed, pidfd::spawn_error_info::part::parent_death_signal);
  EXPECT_NE(info.detail.find("die_with_owner"), std::string::npos)
      << info.detail;
}

TEST_F(options_parent_death_test, die_with_owner_when_the_object_is_destroyed)
{
  auto in = pidfd_options_test::make_pipe();
  auto lifeline = pidfd_options_test::make_pipe();
  pidfd::spawn_options options{
      .in = pidfd::stdio::fd(in.read.get()), .die_with_owner = true};
  options.inherit_fd(3, lifeline.write.get());
  std::optional<pidfd::process> p;
  p.emplace(pidfd::spawn(ctx, child_program, {"linger"}, options));
  in.read.reset();
  lifeline.write.reset();
  // Watched through a pidfd of our own, which (unlike the one clone3
  // gave) does not keep it alive on Linux 7.1.
  const int fd = pidfd_test::pidfd_open(p->id());
  ASSERT_GE(fd, 0) << std::strerror(errno);
  pidfd::process watched = pidfd::process::adopt_pidfd(ctx.get_executor(), fd);
  p.reset();
  // Its stdin is still open: it did not end by itself.
  EXPECT_EQ(pidfd_options_test::read_to_eof(lifeline.read.get()), "");
  pidfd::exit_status s = watched.wait();
  EXPECT_EQ(s.signal(), SIGKILL) << s;
  run();
  EXPECT_FALSE(pidfd_test::children_left());
}

TEST_F(options_parent_death_test, die_with_owner_when_the_owner_is_sigkilled)
{
  pidfd::exit_status s = grandchild_status_after_owner_dies();
  EXPECT_TRUE(s.signaled() && s.signal() == SIGKILL) << s;
}

TEST_F(options_parent_death_test, die_with_owner_many_owners_killed_at_once)
{
  // Cleanup under load: several owners, each with a child, all killed
  // together, in a loop.
  for (int round = 0; round < 20; ++round)
  {
    pidfd_options_test::subreaper_guard subreaper;
    auto in = pidfd_options_test::make_pipe();
    std::vector<pidfd::process> owners;
    std::vector<pidfd::process> watched;
    for (int i = 0; i < 4; ++i)
    {
      auto out = pidfd_options_test::make_pipe();
      owners.push_back(pidfd::spawn(ctx, spawner,
          {"spawn-grandchild", child_program, "owner"},
          {.in = pidfd::stdio::fd(in.read.get()),
              .out = pidfd::stdio::fd(out.write.get())}));
      out.write.reset();
      const pid_t grandchild =
          static_cast<pid_t>(std::stol(read_line(out.read.get())));
      const int fd = pidfd_test::pidfd_open(grandchild);
      ASSERT_GE(fd, 0) << std::strerror(errno);
      watched.push_back(pidfd::process::adopt_pidfd(ctx.get_executor(), fd));
    }
    in.read.reset();
    for (auto& owner : owners)
      owner.signal(SIGKILL);
    int killed = 0;
    for (auto& w : watched)
      w.async_wait([&](boost::system::error_code ec, pidfd::exit_status s) {
        EXPECT_FALSE(ec) << ec.message();
        killed += s.signal() == SIGKILL;
      });
    for (auto& owner : owners)
      owner.async_wait([](boost::system::error_code, pidfd::exit_status) {});
    run();
    EXPECT_EQ(killed, 4) << "round " << round;
  }
  EXPECT_FALSE(pidfd_test::children_left());
}

// The kernel ladder: a kernel whose probe said yes but which refuses the
// flags when they are used (this one refuses them: EINVAL) gets the
// fallback at that spawn.
TEST_F(options_parent_death_test, die_with_owner_when_the_flags_are_refused)
{
  if (pidfd::kernel_support().pidfd_autokill)
    GTEST_SKIP() << "this kernel has CLONE_PIDFD_AUTOKILL";
  pidfd::exit_status s = grandchild_status_after_owner_dies(true);
  EXPECT_TRUE(s.signaled() && s.signal() == SIGKILL) << s;
}

// The fallback's caveat: the parent-death signal fires when the spawning
// thread exits. CLONE_PIDFD_AUTOKILL has no such caveat.
TEST_F(options_parent_death_test, die_with_owner_and_the_spawning_thread)
{
  pidfd::exit_status s = status_after_spawning_thread_exits(-1);
  if (pidfd::kernel_support().pidfd_autokill)
    EXPECT_TRUE(s.success()) << s;
  else
    EXPECT_TRUE(s.signaled() && s.signal() == SIGKILL) << s;
}

} // namespace
