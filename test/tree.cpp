//
// test/tree.cpp
// ~~~~~~~~~~~~~
// Process trees: spawn_options::cgroup, signal_tree, kill_tree,
// async_wait_tree and async_terminate(terminate_scope::tree), on real
// cgroups under the cgroup2 mount.
//

// Test that header file is self-contained.
#include "pidfd/cgroup_placement.hpp"

#include "pidfd/basic_process.hpp"
#include "pidfd/error.hpp"
#include "pidfd/process.hpp"
#include "pidfd/run.hpp"
#include "pidfd/spawn.hpp"
#include "pidfd/spawn_error_info.hpp"
#include "pidfd/spawn_options.hpp"
#include "support/cgroup_fs.hpp"
#include "support/child.hpp"
#include "support/fixture.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using boost::system::error_code;
using namespace std::chrono_literals;
using pidfd_test::cgroup2_mount;
using pidfd_test::path_exists;
using pidfd_test::subdirectories;
using pidfd_test::unique_fd;

struct pipe_pair
{
  unique_fd read;
  unique_fd write;
};

pipe_pair make_pipe()
{
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe2 failed");
  return {unique_fd(fds[0]), unique_fd(fds[1])};
}

// One line from a pipe, blocking; empty at EOF.
std::string read_line(int fd)
{
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n')
    line += c;
  return line;
}

std::string read_to_eof(int fd)
{
  std::string all;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0)
    all.append(buf, static_cast<std::size_t>(n));
  return all;
}

// A shell with a sleep in the background and one in its place in the
// foreground, returned once the background one has started. A signal to
// the tree other than SIGKILL, sent before then, may miss a process: a
// shell blocks every signal while it forks a foreground command, and the
// child it forks with the signal pending gets none (seen here once in
// about 3,000 spawns on a loaded machine; signal_tree() documents it).
pidfd::process spawn_two_sleeps(
    asio::io_context& ctx, pidfd::spawn_options options)
{
  pipe_pair out = make_pipe();
  options.out = pidfd::stdio::fd(out.write.get());
  auto p = pidfd::spawn(ctx, "/bin/sh",
      {"-c", "sleep 100 & echo started; exec sleep 100"}, options);
  out.write.reset();
  EXPECT_EQ(read_line(out.read.get()), "started");
  return p;
}

// The grandchild of the three-generation tree: the child (sh) runs a
// second sh that starts it in the background and exits at once, so that
// it is orphaned (a double fork), in a session of its own (setsid). It
// prints its PID and then holds stdout, blocked reading fd 3 (the test's
// pipe) until EOF; `first` runs in it before. The child then prints
// "ready" (generation 2 is gone and reaped: none is orphaned when the
// child is killed) and runs `rest`.
std::string tree_script(const std::string& first, const std::string& rest)
{
  return "sh -c 'setsid sh -c \"" // generation 2 starts generation 3
      + first + "echo \\$\\$; exec cat <&3\" & exit 0'; echo ready; " + rest;
}

class tree_test : public pidfd_test::fixture
{
protected:
  void SetUp() override
  {
    fixture::SetUp();
    if (::geteuid() != 0)
      GTEST_SKIP() << "needs root to create cgroups";
    std::optional<std::string> mount = cgroup2_mount();
    if (!mount)
      GTEST_SKIP() << "no cgroup2 mount in /proc/self/mountinfo";
    mount_ = *mount;
    // Named by this process and a count. A name taken already is passed
    // over: an earlier test process with the same PID (PIDs come round
    // again within a CI run) may have left its cgroup behind when the
    // machine was too busy to remove it in time. Only a cgroup made here
    // becomes parent_, which TearDown checks and removes.
    static std::atomic<int> count{0};
    for (int attempt = 0;; ++attempt)
    {
      parent_name_ = "pidfd-test-" + std::to_string(::getpid()) + "-"
          + std::to_string(++count);
      const std::string path = mount_ + "/" + parent_name_;
      if (::mkdir(path.c_str(), 0755) == 0)
      {
        parent_ = path;
        break;
      }
      const int error = errno;
      if (error != EEXIST || attempt == 100)
        GTEST_SKIP() << "cannot create a cgroup at " << path << ": "
                     << std::strerror(error);
    }
  }

  void TearDown() override
  {
    out_.reset();
    hold_.reset();
    if (!parent_.empty())
    {
      // Whatever a failed test left: kill it, then remove the cgroups.
      EXPECT_TRUE(subdirectories(parent_).empty())
          << "the library left a cgroup under " << parent_;
      remove_cgroup(parent_);
    }
    fixture::TearDown();
  }

  static void remove_cgroup(const std::string& path)
  {
    for (const std::string& sub : subdirectories(path))
      remove_cgroup(path + "/" + sub);
    if (::rmdir(path.c_str()) == 0)
      return;
    pidfd_test::write_file(path + "/cgroup.kill", "1");
    // The killed processes leave the cgroup as they exit, which on a
    // loaded machine (a sanitizer build beside others) takes longer than a
    // thousand yields: a deadline instead, as the soak's.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (::rmdir(path.c_str()) != 0
        && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
  }

  // The cgroup of a process, relative to the mount ("/a/b").
  static std::string cgroup_of(pid_t pid)
  {
    for (const std::string& line :
        pidfd_test::read_lines("/proc/" + std::to_string(pid) + "/cgroup"))
      if (line.rfind("0::", 0) == 0)
        return line.substr(3);
    return {};
  }

  // Spawns the three-generation tree; the grandchild's PID is in
  // grandchild_, its stdout is out_, and hold_ keeps it blocked.
  pidfd::process spawn_tree(pidfd::spawn_options options,
      const std::string& rest, const std::string& first = "")
  {
    pipe_pair hold = make_pipe();
    pipe_pair out = make_pipe();
    options.out = pidfd::stdio::fd(out.write.get());
    options.inherit_fd(3, hold.read.get());
    auto p =
        pidfd::spawn(ctx, "/bin/sh", {"-c", tree_script(first, rest)}, options);
    out.write.reset();
    hold.read.reset();
    out_ = std::move(out.read);
    hold_ = std::move(hold.write);
    // The grandchild's PID and the child's "ready", in either order.
    for (int i = 0; i < 2; ++i)
    {
      const std::string line = read_line(out_.get());
      if (line != "ready")
        grandchild_ = static_cast<pid_t>(std::atoi(line.c_str()));
    }
    EXPECT_GT(grandchild_, 0);
    return p;
  }

  // The grandchild was orphaned to us (the subreaper): reap it.
  int reap_grandchild()
  {
    int status = 0;
    EXPECT_EQ(::waitpid(grandchild_, &status, 0), grandchild_)
        << std::strerror(errno);
    return status;
  }

  std::string mount_;
  std::string parent_name_; // relative to the mount
  std::string parent_; // absolute
  unique_fd out_;
  unique_fd hold_;
  pid_t grandchild_ = 0;
};

TEST_F(tree_test, placement_is_in_effect_before_execve)
{
  pipe_pair out = make_pipe();
  pidfd::spawn_options options;
  options.out = pidfd::stdio::fd(out.write.get());
  // Relative to the mount.
  options.cgroup = pidfd::cgroup_placement::create_in(parent_name_);
  // cat's first act is to read its own cgroup.
  auto p = pidfd::spawn(ctx, "cat", {"/proc/self/cgroup"}, options);
  out.write.reset();
  const std::string text = read_to_eof(out.read.get());
  EXPECT_TRUE(p.wait().success());
  const std::string expected = "0::/" + parent_name_ + "/pidfd-asio-";
  EXPECT_NE(text.find(expected), std::string::npos) << text;
  // The created cgroup goes once the tree is known to be gone.
  std::vector<std::string> created = subdirectories(parent_);
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].rfind("pidfd-asio-", 0), 0u) << created[0];
  std::optional<error_code> tree_ec;
  p.async_wait_tree([&](error_code ec) { tree_ec = ec; });
  EXPECT_FALSE(tree_ec) << "handler invoked inside async_wait_tree";
  run();
  ASSERT_TRUE(tree_ec);
  EXPECT_FALSE(*tree_ec) << tree_ec->message();
  EXPECT_TRUE(subdirectories(parent_).empty());
}

TEST_F(tree_test, a_created_cgroup_goes_with_the_process_object)
{
  pidfd::spawn_options options;
  options.cgroup = pidfd::cgroup_placement::create_in(parent_);
  {
    auto p = pidfd::spawn(ctx, "true", {}, options);
    EXPECT_TRUE(p.wait().success());
    EXPECT_EQ(subdirectories(parent_).size(), 1u);
  }
  // Nobody waited for the tree, but it was empty when the object went.
  EXPECT_TRUE(subdirectories(parent_).empty());
}

TEST_F(tree_test, a_tree_holding_the_caller_is_not_signalled)
{
  // Our own cgroup (the mount's root here, or wherever the test runs):
  // killing or freezing it would hit this process.
  const std::string own = mount_ + cgroup_of(::getpid());
  pidfd::spawn_options options;
  options.cgroup = pidfd::cgroup_placement::join(own);
  auto p = pidfd::spawn(ctx, "sleep", {"1000"}, options);
  EXPECT_EQ(cgroup_of(p.id()), cgroup_of(::getpid()));
  error_code ec;
  p.kill_tree(ec);
  EXPECT_EQ(ec, errc::resource_deadlock_would_occur) << ec.message();
  p.signal_tree(SIGTERM, ec);
  EXPECT_EQ(ec, errc::resource_deadlock_would_occur) << ec.message();
  // The mount's root holds us too.
  options.cgroup = pidfd::cgroup_placement::join("");
  auto q = pidfd::spawn(ctx, "sleep", {"1000"}, options);
  q.signal_tree(SIGTERM, ec);
  EXPECT_EQ(ec, errc::resource_deadlock_would_occur) << ec.message();
  p.signal(SIGKILL);
  q.signal(SIGKILL);
  p.wait();
  q.wait();
}

TEST_F(tree_test, join_an_existing_cgroup_by_path_and_by_fd)
{
  const std::string mine = parent_ + "/mine";
  ASSERT_EQ(::mkdir(mine.c_str(), 0755), 0);
  {
    pidfd::spawn_options options;
    options.cgroup = pidfd::cgroup_placement::join(mine);
    options.process_group = pidfd::process_group_mode::new_group;
    auto p = pidfd::spawn(ctx, "sleep", {"1000"}, options);
    EXPECT_EQ(cgroup_of(p.id()), "/" + parent_name_ + "/mine");
    p.kill_tree();
    EXPECT_EQ(p.wait().signal(), SIGKILL);
  }
  {
    unique_fd dir(::open(mine.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_GE(dir.get(), 0);
    pidfd::spawn_options options;
    options.cgroup = pidfd::cgroup_placement::join_fd(dir.get());
    auto p = pidfd::spawn(ctx, "sleep", {"1000"}, options);
    EXPECT_EQ(cgroup_of(p.id()), "/" + parent_name_ + "/mine");
    // The caller's fd is still the caller's.
    EXPECT_GE(::fcntl(dir.get(), F_GETFD), 0);
    p.kill_tree();
    EXPECT_EQ(p.wait().signal(), SIGKILL);
  }
  // Joined, not created: the library leaves it.
  EXPECT_TRUE(path_exists(mine));
  ASSERT_EQ(::rmdir(mine.c_str()), 0);
}

TEST_F(tree_test, kill_tree_leaves_nothing_alive)
{
  pidfd_test::subreaper_guard subreaper;
  pidfd::spawn_options options;
  options.cgroup = pidfd::cgroup_placement::create_in(parent_);
  auto p = spawn_tree(options, "exec cat <&3 >/dev/null");
  const std::string group = cgroup_of(grandchild_);
  EXPECT_EQ(group, cgroup_of(p.id()));
  EXPECT_NE(::getsid(grandchild_), ::getsid(p.id())) << "setsid";

  p.kill_tree();
  // Returned once the cgroup is empty; the library's cgroup is gone.
  EXPECT_TRUE(subdirectories(parent_).empty());
  EXPECT_FALSE(path_exists(mount_ + group));
  int status = reap_grandchild();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  pidfd::exit_status s = p.wait();
  EXPECT_TRUE(s.signaled() && s.signal() == SIGKILL) << s;
  // Nothing holds stdout any more.
  EXPECT_EQ(read_to_eof(out_.get()), "");

  // The tree is gone: nothing more to signal.
  error_code ec;
  p.kill_tree(ec);
  EXPECT_EQ(ec, pidfd::error::process_done);
  p.signal_tree(SIGTERM, ec);
  EXPECT_EQ(ec, pidfd::error::process_done);
}

TEST_F(tree_test, async_wait_tree_waits_for_the_last_descendant)
{
  pidfd_test::subreaper_guard subreaper;
  pidfd::spawn_options options;
  options.cgroup = pidfd::cgroup_placement::create_in(parent_);
  // The child exits as soon as the grandchild runs.
  auto p = spawn_tree(options, "exit 3");
  const std::string group = cgroup_of(grandchild_);

  std::optional<error_code> tree_ec;
  std::optional<pidfd::exit_status> child;
  p.async_wait_tree([&](error_code ec) { tree_ec = ec; });
  p.async_wait([&](error_code ec, pidfd::exit_status s) {
    EXPECT_FALSE(ec);
    child = s;
  });
  while (!child && ctx.run_one() > 0)
  {
  }
  ASSERT_TRUE(child);
  EXPECT_EQ(child->code(), 3);
  ctx.poll();
  EXPECT_FALSE(tree_ec) << "completed while the grandchild runs";
  EXPECT_FALSE(subdirectories(parent_).empty());

  // Let the grandchild go: EOF on fd 3.
  hold_.reset();
  run();
  ASSERT_TRUE(tree_ec);
  EXPECT_FALSE(*tree_ec) << tree_ec->message();
  EXPECT_FALSE(path_exists(mount_ + group));
  int status = reap_grandchild();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  // Once the tree is gone, a new wait completes at once (not inline).
  std::optional<error_code> again;
  p.async_wait_tree([&](error_code ec) { again = ec; });
  EXPECT_FALSE(again);
  run();
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
}

TEST_F(tree_test, async_wait_tree_is_cancellable)
{
  pidfd::spawn_options options;
  options.cgroup = pidfd::cgroup_placement::create_in(parent_);
  auto p = pidfd::spawn(ctx, "sleep", {"1000"}, options);
  asio::cancellation_signal cancel;
  std::optional<error_code> tree_ec;
  p.async_wait_tree(asio::bind_cancellation_slot(
      cancel.slot(), [&](error_code ec) { tree_ec = ec; }));
  ctx.poll();
  EXPECT_FALSE(tree_ec);
  cancel.emit(asio::cancellation_type::total);
  run();
  ASSERT_TRUE(tree_ec);
  EXPECT_EQ(*tree_ec, asio::error::operation_aborted);
  // The tree still runs, and a later wait sees it end.
  EXPECT_FALSE(p.try_wait());
  p.signal_tree(SIGTERM);
  auto done = p.async_wait_tree(asio::use_future);
  run();
  done.get();
  EXPECT_EQ(p.wait().signal(), SIGTERM);
  EXPECT_TRUE(subdirectories(parent_).empty());
}

TEST_F(tree_test, signal_tree_reaches_the_whole_tree)
{
  pidfd_test::subreaper_guard subreaper;
  pidfd::spawn_options options;
  options.cgroup = pidfd::cgroup_placement::create_in(parent_);
  auto p = spawn_tree(options, "exec cat <&3 >/dev/null");
  // Not SIGKILL: freeze, signal each process, thaw.
  p.signal_tree(SIGTERM);
  int status = reap_grandchild();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  EXPECT_EQ(p.wait().signal(), SIGTERM);
  p.async_wait_tree(asio::deferred)([](error_code ec) { EXPECT_FALSE(ec); });
  run();
  EXPECT_TRUE(subdirectories(parent_).empty());
  error_code ec;
  p.signal_tree(64, ec);
  EXPECT_EQ(ec, pidfd::error::process_done);
  p.signal_tree(-1, ec);
  EXPECT_EQ(ec, pidfd::error::invalid_signal);
}

// A tree may make cgroups of its own under the one it was given: a signal
// other than SIGKILL reaches the processes in them too, and not only the
// first time (each signal lists the sub-cgroups afresh).
TEST_F(tree_test, every_signal_tree_reaches_the_sub_cgroups)
{
  pidfd::spawn_options options;
  options.cgroup = pidfd::cgroup_placement::create_in(parent_);
  auto p = pidfd::spawn(ctx, pidfd_test::child_program, {"pause"}, options);
  const std::string sub = mount_ + cgroup_of(p.id()) + "/sub";
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0) << std::strerror(errno);
  auto q = pidfd::spawn(ctx, pidfd_test::child_program, {"pause"});
  pidfd_test::write_file(sub + "/cgroup.procs", std::to_string(q.id()));
  ASSERT_EQ(cgroup_of(q.id()), cgroup_of(p.id()) + "/sub");

  p.signal_tree(SIGCONT); // ignored by both, after a first listing
  p.signal_tree(SIGTERM);
  EXPECT_EQ(p.wait().signal(), SIGTERM);
  // Liveness guard: a process the signal missed pauses until killed.
  bool missed = false;
  asio::steady_timer guard(ctx, 10s);
  guard.async_wait([&](error_code ec) {
    if (!ec)
    {
      missed = true;
      q.signal(SIGKILL);
    }
  });
  q.async_wait([&](error_code ec, pidfd::exit_status s) {
    EXPECT_FALSE(ec);
    EXPECT_EQ(s.signal(), SIGTERM);
    guard.cancel();
  });
  run();
  EXPECT_FALSE(missed) << "the second signal_tree missed " << sub;
  ASSERT_EQ(::rmdir(sub.c_str()), 0) << std::strerror(errno);
  p.async_wait_tree([](error_code ec) { EXPECT_FALSE(ec); });
  run();
}

TEST_F(tree_test, async_terminate_tree_kills_what_ignores_sigterm)
{
  pidfd_test::subreaper_guard subreaper;
  pidfd::spawn_options options;
  options.cgroup = pidfd::cgroup_placement::create_in(parent_);
  // The grandchild ignores SIGTERM (ignored signals stay so across
  // execve); the child does not.
  auto p =
      spawn_tree(options, "exec cat <&3 >/dev/null", "trap \\\"\\\" TERM; ");

  std::optional<error_code> got;
  pidfd::exit_status status;
  p.async_terminate(pidfd::terminate_scope::tree, 20ms,
      [&](error_code ec, pidfd::exit_status s) {
        got = ec;
        status = s;
      });
  run();
  ASSERT_TRUE(got);
  EXPECT_FALSE(*got) << got->message();
  EXPECT_TRUE(status.signaled() && status.signal() == SIGTERM) << status;
  int gs = reap_grandchild();
  EXPECT_TRUE(WIFSIGNALED(gs) && WTERMSIG(gs) == SIGKILL) << gs;
  EXPECT_TRUE(subdirectories(parent_).empty());
}

// Tree waits pending while another operation empties the tree complete
// with success once it is empty, the created cgroup removed. (The cgroup
// was removed under their cgroup.events fds, whose next read failed with
// ENODEV.)
TEST_F(tree_test, pending_tree_waits_complete_when_the_tree_is_emptied)
{
  enum class how
  {
    kill_tree,
    signal_tree_sigkill,
    async_terminate
  };
  for (how h : {how::kill_tree, how::signal_tree_sigkill, how::async_terminate})
    for (int waiters : {1, 2})
    {
      SCOPED_TRACE("how " + std::to_string(static_cast<int>(h)) + ", "
          + std::to_string(waiters) + " waiter(s)");
      pidfd::spawn_options options;
      options.cgroup = pidfd::cgroup_placement::create_in(parent_);
      auto p = spawn_two_sleeps(ctx, options);
      std::vector<std::optional<error_code>> got(waiters);
      for (auto& g : got)
        p.async_wait_tree([&g](error_code ec) { g = ec; });
      ctx.poll();
      std::optional<pidfd::exit_status> status;
      switch (h)
      {
      case how::kill_tree:
        p.kill_tree();
        break;
      case how::signal_tree_sigkill:
        p.signal_tree(SIGKILL);
        break;
      case how::async_terminate:
        p.async_terminate(pidfd::terminate_scope::tree, 10s,
            [&](error_code ec, pidfd::exit_status s) {
              EXPECT_FALSE(ec) << ec.message();
              status = s;
            });
        break;
      }
      run();
      for (auto& g : got)
      {
        ASSERT_TRUE(g);
        EXPECT_FALSE(*g) << g->message();
      }
      if (h == how::async_terminate)
      {
        ASSERT_TRUE(status);
        EXPECT_EQ(status->signal(), SIGTERM) << *status;
      }
      else
        EXPECT_EQ(p.wait().signal(), SIGKILL);
      EXPECT_TRUE(subdirectories(parent_).empty());
    }
}

// Each tree operation while another is pending on the same object: every
// one completes as if alone, and the created cgroup is removed.
TEST_F(tree_test, tree_operations_while_another_is_pending)
{
  enum class op
  {
    signal_tree,
    kill_tree,
    wait_tree,
    terminate_tree,
    wait
  };
  const op all[] = {op::signal_tree, op::kill_tree, op::wait_tree,
      op::terminate_tree, op::wait};
  // The pending ones: the asynchronous operations; each pair with the
  // status wanted with and without the resource usage (the io_uring
  // mechanism's ring then reaps the child).
  for (bool usage : {true, false})
    for (op first : {op::wait_tree, op::terminate_tree, op::wait})
      for (op second : all)
      {
        SCOPED_TRACE("pending " + std::to_string(static_cast<int>(first))
            + ", then " + std::to_string(static_cast<int>(second))
            + (usage ? "" : ", without resource usage"));
        pidfd::spawn_options options;
        options.cgroup = pidfd::cgroup_placement::create_in(parent_);
        options.resource_usage = usage;
        auto p = spawn_two_sleeps(ctx, options);
        int outstanding = 0;
        bool stops = false; // something ends the tree
        // A pending async_terminate may have emptied the tree, and its
        // cgroup gone with it, by then: process_done.
        auto gone_or_ok = [](error_code ec) {
          return !ec || ec == pidfd::error::process_done;
        };
        auto start = [&](op o) {
          error_code ec;
          switch (o)
          {
          case op::signal_tree:
            p.signal_tree(SIGTERM, ec);
            EXPECT_TRUE(gone_or_ok(ec)) << ec.message();
            stops = true;
            break;
          case op::kill_tree:
            p.kill_tree(ec);
            EXPECT_TRUE(gone_or_ok(ec)) << ec.message();
            stops = true;
            break;
          case op::wait_tree:
            ++outstanding;
            p.async_wait_tree([&](error_code ec) {
              EXPECT_FALSE(ec) << ec.message();
              --outstanding;
            });
            break;
          case op::terminate_tree:
            ++outstanding;
            stops = true;
            p.async_terminate(pidfd::terminate_scope::tree, 10s,
                [&](error_code ec, pidfd::exit_status s) {
                  EXPECT_FALSE(ec) << ec.message();
                  EXPECT_TRUE(s.signaled()) << s;
                  --outstanding;
                });
            break;
          case op::wait:
            ++outstanding;
            p.async_wait([&](error_code ec, pidfd::exit_status s) {
              EXPECT_FALSE(ec) << ec.message();
              EXPECT_TRUE(s.signaled()) << s;
              --outstanding;
            });
            break;
          }
        };
        // poll() stops the io_context when it runs out of work (the first
        // operation may complete in it), and a stopped one runs nothing
        // until restart(): the second operation would stay pending.
        start(first);
        ctx.poll();
        ctx.restart();
        start(second);
        ctx.poll();
        ctx.restart();
        if (!stops)
          p.kill_tree();
        run();
        EXPECT_EQ(outstanding, 0);
        EXPECT_TRUE(p.wait().signaled());
        // Once the tree is gone: a new wait completes at once, with success.
        std::optional<error_code> again;
        p.async_wait_tree([&](error_code ec) { again = ec; });
        run();
        ASSERT_TRUE(again);
        EXPECT_FALSE(*again) << again->message();
        EXPECT_TRUE(subdirectories(parent_).empty());
      }
}

TEST_F(tree_test, without_a_cgroup_a_new_group_is_the_tree)
{
  pidfd_test::subreaper_guard subreaper;
  pipe_pair out = make_pipe();
  pidfd::spawn_options options;
  options.process_group = pidfd::process_group_mode::new_group;
  options.out = pidfd::stdio::fd(out.write.get());
  auto p = pidfd::spawn(
      ctx, "/bin/sh", {"-c", "sleep 1000 & echo $!; wait"}, options);
  out.write.reset();
  grandchild_ = std::atoi(read_line(out.read.get()).c_str());
  ASSERT_GT(grandchild_, 0);
  std::optional<error_code> tree_ec;
  p.async_wait_tree([&](error_code ec) { tree_ec = ec; });
  run();
  ASSERT_TRUE(tree_ec);
  EXPECT_EQ(*tree_ec, pidfd::error::no_cgroup);
  EXPECT_EQ(*tree_ec, errc::operation_not_supported);

  std::optional<pidfd::exit_status> s;
  p.async_terminate(pidfd::terminate_scope::tree, 10s,
      [&](error_code ec, pidfd::exit_status st) {
        EXPECT_FALSE(ec);
        s = st;
      });
  run();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->signal(), SIGTERM);
  // The sleep, in the group too, was orphaned to us.
  int status = reap_grandchild();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
}

TEST_F(tree_test, without_a_cgroup_or_group_there_is_no_tree)
{
  auto p = pidfd::spawn(ctx, "sleep", {"1000"});
  error_code ec;
  p.signal_tree(SIGTERM, ec);
  EXPECT_EQ(ec, pidfd::error::no_tree);
  EXPECT_NE(ec.message().find("cgroup"), std::string::npos);
  p.kill_tree(ec);
  EXPECT_EQ(ec, pidfd::error::no_tree);
  try
  {
    p.kill_tree();
    ADD_FAILURE() << "kill_tree did not throw";
  }
  catch (const boost::system::system_error& e)
  {
    EXPECT_EQ(e.code(), pidfd::error::no_tree);
    EXPECT_NE(std::string(e.what()).find("kill_tree"), std::string::npos);
  }
  std::optional<error_code> got;
  p.async_terminate(pidfd::terminate_scope::tree, 1s,
      [&](error_code e, pidfd::exit_status) { got = e; });
  run();
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, pidfd::error::no_tree);
  EXPECT_FALSE(p.try_wait()) << "the child was left alone";
  p.signal(SIGKILL);
  p.wait();

  pidfd::process none(ctx);
  none.signal_tree(SIGTERM, ec);
  EXPECT_EQ(ec, pidfd::error::no_process);
}

// Each bad placement: the error, a message naming the path, the cgroup
// part, and neither a child nor a cgroup left (the fixture checks for
// children, TearDown for cgroups).
class tree_error_test : public tree_test
{
protected:
  template <typename Want>
  void expect_refused(const pidfd::cgroup_placement& where, Want want,
      const std::string& in_message, std::size_t cgroups_before = 0)
  {
    pidfd::spawn_options options;
    options.cgroup = where;
    error_code ec;
    pidfd::spawn_error_info info;
    auto p = pidfd::spawn(ctx, "true", {}, options, ec, info);
    EXPECT_FALSE(p.is_open());
    EXPECT_EQ(ec, want) << ec.message();
    EXPECT_EQ(info.failed, pidfd::spawn_error_info::part::cgroup);
    EXPECT_NE(info.detail.find(in_message), std::string::npos) << info.detail;
    try
    {
      pidfd::spawn(ctx, "true", {}, options);
      ADD_FAILURE() << "spawn did not throw";
    }
    catch (const boost::system::system_error& e)
    {
      EXPECT_EQ(e.code(), want);
      EXPECT_NE(std::string(e.what()).find(in_message), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(subdirectories(parent_).size(), cgroups_before);
  }
};

TEST_F(tree_error_test, missing_parent)
{
  expect_refused(pidfd::cgroup_placement::create_in(parent_ + "/missing"),
      errc::no_such_file_or_directory,
      "cgroup parent \"" + parent_ + "/missing\"");
}

TEST_F(tree_error_test, missing_cgroup_relative_to_the_mount)
{
  expect_refused(pidfd::cgroup_placement::join(parent_name_ + "/missing"),
      errc::no_such_file_or_directory, "cgroup \"" + parent_ + "/missing\"");
}

TEST_F(tree_error_test, not_a_cgroup2_directory)
{
  expect_refused(pidfd::cgroup_placement::join(temp_dir()),
      pidfd::error::invalid_option, "not a cgroup2 directory");
}

TEST_F(tree_error_test, not_a_directory)
{
  expect_refused(pidfd::cgroup_placement::join(parent_ + "/cgroup.procs"),
      errc::not_a_directory, parent_ + "/cgroup.procs");
}

TEST_F(tree_error_test, bad_fd)
{
  expect_refused(pidfd::cgroup_placement::join_fd(-1),
      errc::bad_file_descriptor, "cgroup \"fd -1\"");
}

TEST_F(tree_error_test, a_cgroup_that_takes_no_process)
{
  // A sibling of a threaded cgroup is "domain invalid": the kernel refuses
  // to put a process in it, with CLONE_INTO_CGROUP and through
  // cgroup.procs alike. The child, moving itself after the first, reports
  // it.
  const std::string threaded = parent_ + "/threaded";
  const std::string invalid = parent_ + "/invalid";
  ASSERT_EQ(::mkdir(threaded.c_str(), 0755), 0);
  pidfd_test::write_file(threaded + "/cgroup.type", "threaded");
  ASSERT_EQ(::mkdir(invalid.c_str(), 0755), 0);
  ASSERT_EQ(
      pidfd_test::read_file(invalid + "/cgroup.type"), "domain invalid\n");
  expect_refused(pidfd::cgroup_placement::join(invalid),
      errc::operation_not_supported, "moving into cgroup \"" + invalid + "\"",
      2);
  // create_in makes its cgroup in the threaded subtree ("domain invalid"
  // as well), and removes it.
  expect_refused(pidfd::cgroup_placement::create_in(parent_),
      errc::operation_not_supported, "moving into cgroup \"" + parent_, 2);
  ASSERT_EQ(::rmdir(invalid.c_str()), 0);
  ASSERT_EQ(::rmdir(threaded.c_str()), 0);
}

TEST_F(tree_error_test, failed_exec_removes_the_created_cgroup)
{
  pidfd::spawn_options options;
  options.cgroup = pidfd::cgroup_placement::create_in(parent_);
  error_code ec;
  pidfd::spawn(ctx, "/nonexistent/program", {}, options, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  EXPECT_TRUE(subdirectories(parent_).empty());
}

//------------------------------------------------------------------------------
// async_run with a tree scope.

// A process killed with its tree: gone, or a zombie of whoever it was
// orphaned to (init here: this fixture is no subreaper).
bool dead(pid_t pid)
{
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat))
    return true;
  const auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size()
      && stat[paren + 2] == 'Z';
}

// The case: a grandchild outlives a child stopped at its timeout,
// unless the stop reaches the tree. Here the run kills it and completes
// once the cgroup it created is empty, and removed.
TEST_F(tree_test, a_run_stopped_at_its_timeout_stops_the_tree)
{
  pidfd::run_options options{
      .timeout = 100ms, .stop_scope = pidfd::terminate_scope::tree};
  options.spawn.cgroup = pidfd::cgroup_placement::create_in(parent_);
  std::optional<std::pair<error_code, pidfd::run_result>> result;
  pidfd::async_run(ctx, "/bin/sh", {"-c", "sleep 100 & echo $!; sleep 100"},
      std::move(options), [&](error_code ec, pidfd::run_result r) {
        result.emplace(ec, std::move(r));
      });
  run();
  ASSERT_TRUE(result);
  const auto& [ec, r] = *result;
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.status.signal(), SIGTERM) << r.status;
  const pid_t grandchild = std::atoi(r.out.c_str());
  ASSERT_GT(grandchild, 0) << r.out;
  EXPECT_TRUE(dead(grandchild)) << "the grandchild is still running";
  EXPECT_TRUE(subdirectories(parent_).empty());
}

// The child exits at once; its grandchild keeps stdout open. The wait
// delay ends the reading, and the tree scope takes the grandchild with it.
TEST_F(tree_test, a_wait_delay_with_a_tree_scope_kills_what_holds_the_pipes)
{
  pidfd::run_options options{
      .wait_delay = 50ms, .stop_scope = pidfd::terminate_scope::tree};
  options.spawn.cgroup = pidfd::cgroup_placement::create_in(parent_);
  std::optional<std::pair<error_code, pidfd::run_result>> result;
  pidfd::async_run(ctx, "/bin/sh", {"-c", "sleep 100 & echo $!"},
      std::move(options), [&](error_code ec, pidfd::run_result r) {
        result.emplace(ec, std::move(r));
      });
  run();
  ASSERT_TRUE(result);
  const auto& [ec, r] = *result;
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.status.success()) << r.status;
  EXPECT_TRUE(r.output_cut);
  const pid_t grandchild = std::atoi(r.out.c_str());
  ASSERT_GT(grandchild, 0) << r.out;
  EXPECT_TRUE(dead(grandchild)) << "the grandchild is still running";
  EXPECT_TRUE(subdirectories(parent_).empty());
}

// Runs stopped at their timeout, a few at once, each with a cgroup it
// created: each removes its cgroup before it completes. The kernel may
// refuse the rmdir with EBUSY for a moment after cgroup.events reports
// "populated 0" (the killed tasks are still being released), most often
// under load: run it beside a busy CPU to see the race.
TEST_F(tree_test, runs_stopped_at_their_timeout_remove_their_cgroups)
{
  constexpr int total = 200;
  constexpr int at_once = 4;
  int started = 0;
  int completed = 0;
  std::function<void()> start_one = [&] {
    ++started;
    pidfd::run_options options{.timeout = 50ms,
        .grace = 500ms,
        .wait_delay = 200ms,
        .stop_scope = pidfd::terminate_scope::tree};
    options.spawn.cgroup = pidfd::cgroup_placement::create_in(parent_);
    pidfd::async_run(ctx, "/bin/sh", {"-c", "sleep 31"}, std::move(options),
        [&](error_code ec, pidfd::run_result r) {
          ++completed;
          EXPECT_FALSE(ec) << ec.message();
          EXPECT_TRUE(r.timed_out);
          // What is left of the run's cgroups: those still running.
          EXPECT_LE(subdirectories(parent_).size(),
              static_cast<std::size_t>(started - completed));
          if (started < total)
            start_one();
        });
  };
  for (int i = 0; i < at_once; ++i)
    start_one();
  run();
  EXPECT_EQ(completed, total);
  EXPECT_TRUE(subdirectories(parent_).empty());
}

TEST_F(tree_test, a_run_with_a_tree_scope_and_no_tree_is_refused_first)
{
  bool spawned = false;
  pidfd::run_options options{.stop_scope = pidfd::terminate_scope::tree};
  options.on_spawn = [&](const pidfd::run_child&) { spawned = true; };
  std::optional<error_code> result;
  pidfd::async_run(ctx, "/bin/true", {}, std::move(options),
      [&](error_code ec, pidfd::run_result) { result = ec; });
  run();
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, pidfd::error::no_tree);
  EXPECT_FALSE(spawned);
}

} // namespace
