//
// test/reliability/hostile_env.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Hostile host environments: what the rest of the program, the kernel's
// limits or the children themselves do to us. Each test states the
// outcome the library guarantees (docs/RELIABILITY.md) and never hangs.
//

#include "pidfd/asio.hpp"
#include "reliability.hpp"
#include "support/child.hpp"
#include "support/fixture.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using boost::system::error_code;
using pidfd::exit_status;
using pidfd_rel::outcome;
using pidfd_test::child_program;
using pidfd_test::unique_fd;

class hostile_env_test : public pidfd_test::fixture
{
protected:
  auto spawn(const pidfd::argument_list& args,
      const pidfd::spawn_options& options = {})
  {
    return pidfd::spawn(ctx, child_program, args, options);
  }

  // A pidfd of our own on a child, to watch or kill it behind the
  // library's back without using its PID.
  static unique_fd own_pidfd(pid_t pid)
  {
    unique_fd fd(pidfd_test::pidfd_open(pid));
    EXPECT_GE(fd.get(), 0) << "pidfd_open: " << std::strerror(errno);
    return fd;
  }

  // After the library gave up a process object whose child then exited:
  // the child is reaped by the library in the background (natively by a
  // wait on ctx, in the fallback by a pool thread), and every fd of the
  // object is closed. `own` is our pidfd on the child; `fds` the fds open
  // before the child was spawned.
  void expect_reaped_in_background(unique_fd& own, const std::set<int>& fds)
  {
    if (pidfd_rel::fallback())
    {
      EXPECT_TRUE(pidfd_rel::wait_reaped(own.get()));
    }
    else
      run();
    EXPECT_FALSE(pidfd_test::has_children());
    own.reset();
    EXPECT_EQ(pidfd_rel::open_fds_settled(fds), fds);
  }

  void expect_every_wait_ends();

  // Runs the limits helper in one scenario; it reports through its exit
  // code (77: cannot run here) and stderr.
  void run_limits_helper(const std::string& scenario)
  {
    std::optional<pidfd::run_result> result;
    error_code ec;
    pidfd::async_run(ctx, pidfd_rel::limits_helper, {scenario}, {},
        [&](error_code e, pidfd::run_result r) {
          ec = e;
          result = std::move(r);
        });
    run();
    ASSERT_TRUE(result);
    ASSERT_FALSE(ec) << ec.message();
    if (result->status.exited() && result->status.code() == 77)
      GTEST_SKIP() << result->err;
    EXPECT_TRUE(result->status.success()) << result->status << "\n"
                                          << result->err;
  }
};

//------------------------------------------------------------------------------
// SIGCHLD ignored: the kernel reaps children itself (no zombie is ever
// left), so no wait can collect a status. Every wait ends with ECHILD --
// natively waitid(P_PIDFD) finds no child once the pidfd is readable; in
// the fallback the pool's waitid(P_PID) returns ECHILD when the child is
// gone -- and never hangs. (Linux 6.15 keeps the status for PIDFD_GET_INFO,
// but the library reads it for adopted non-children only; a spawned child
// whose status is gone reports ECHILD, as when someone else reaped it.)

std::atomic<int> sigchld_count{0};

void count_sigchld(int)
{
  sigchld_count.fetch_add(1, std::memory_order_relaxed);
}

void hostile_env_test::expect_every_wait_ends()
{
  namespace rel = pidfd_rel;
  const std::set<int> fds = pidfd_rel::open_fds_with_reactor(ctx);

  // A child that exits by itself, waited for asynchronously.
  {
    auto p = pidfd::spawn(ctx, child_program, {"exit", "7"});
    outcome o;
    p.async_wait(o.handler());
    run();
    ASSERT_TRUE(o.called);
    EXPECT_EQ(o.ec, errc::no_child_process) << o.status;
    // Signals and later waits agree: the process is done.
    error_code ec;
    p.signal(SIGTERM, ec);
    EXPECT_EQ(ec, pidfd::error::process_done);
    p.wait(ec);
    EXPECT_EQ(ec, errc::no_child_process);
  }
  // A wait outstanding when the child is killed.
  {
    auto p = pidfd::spawn(ctx, child_program, {"pause"});
    outcome o;
    p.async_wait(o.handler());
    p.signal(SIGKILL);
    run();
    ASSERT_TRUE(o.called);
    EXPECT_EQ(o.ec, errc::no_child_process) << o.status;
  }
  // Blocking wait and try_wait.
  {
    auto p = pidfd::spawn(ctx, child_program, {"exit", "7"});
    error_code ec;
    p.wait(ec);
    EXPECT_EQ(ec, errc::no_child_process);

    auto q = pidfd::spawn(ctx, child_program, {"pause"});
    unique_fd own(pidfd_test::pidfd_open(q.id()));
    ASSERT_GE(own.get(), 0);
    EXPECT_EQ(q.try_wait(ec), std::nullopt);
    EXPECT_FALSE(ec) << "running: no error";
    q.signal(SIGKILL);
    EXPECT_TRUE(rel::wait_reaped(own.get())) << "auto-reaped";
    EXPECT_EQ(q.try_wait(ec), std::nullopt);
    EXPECT_EQ(ec, errc::no_child_process);
  }
  // async_terminate ends too.
  {
    auto p = pidfd::spawn(ctx, child_program, {"pause"});
    outcome o;
    p.async_terminate(std::chrono::hours(1), o.handler());
    run();
    ASSERT_TRUE(o.called);
    EXPECT_EQ(o.ec, errc::no_child_process) << o.status;
  }
  // A process object given up while its child runs: the background reaper
  // ends and closes its fds.
  {
    auto p = std::make_optional(pidfd::spawn(ctx, child_program, {"pause"}));
    unique_fd own(pidfd_test::pidfd_open(p->id()));
    ASSERT_GE(own.get(), 0);
    p.reset();
    ASSERT_EQ(pidfd_test::pidfd_send_signal(own.get(), SIGKILL), 0);
    EXPECT_TRUE(rel::wait_reaped(own.get()));
    own.reset();
    run();
    EXPECT_EQ(pidfd_test::open_fds(), fds);
  }
  // A failed exec is still reported (the library reaps the failed child
  // by PID, which then ends with ECHILD instead of a status).
  {
    error_code ec;
    auto p = pidfd::spawn(ctx, temp_path("missing"), {}, {}, ec);
    EXPECT_EQ(ec, errc::no_such_file_or_directory);
    EXPECT_FALSE(p.is_open());
  }
  EXPECT_FALSE(pidfd_test::has_children());
}

TEST_F(hostile_env_test, sigchld_ignored_every_wait_ends_with_echild)
{
  pidfd_rel::disposition_guard guard(SIGCHLD, SIG_IGN);
  expect_every_wait_ends();
}

TEST_F(hostile_env_test, sa_nocldwait_every_wait_ends_with_echild)
{
  // The same through SA_NOCLDWAIT, with a handler (without SA_RESTART, so
  // each SIGCHLD also interrupts whatever system call it lands in).
  sigchld_count = 0;
  pidfd_rel::disposition_guard guard(SIGCHLD, &count_sigchld, SA_NOCLDWAIT);
  expect_every_wait_ends();
  EXPECT_GT(sigchld_count.load(), 0);
}

//------------------------------------------------------------------------------
// Another part of the program reaps with waitpid(-1). Whoever collects the
// status first has it; the library then reports ECHILD (never a wrong
// status, never a hang) and treats the process as done.

// Repeatedly reaps any child, recording what it took, until stopped and
// no child is left.
class thief
{
public:
  thief()
    : thread_([this] {
        for (;;)
        {
          int status = 0;
          pid_t pid = ::waitpid(-1, &status, __WALL);
          if (pid > 0)
          {
            std::lock_guard lock(mutex_);
            stolen_[pid] = status;
            continue;
          }
          if (errno == ECHILD)
          {
            if (stop_.load())
              return;
            std::this_thread::yield();
          }
        }
      })
  {
  }
  thief(const thief&) = delete;
  ~thief() { stop(); }

  // Stops once no child is left; returns the statuses it took, by PID.
  std::map<pid_t, int> stop()
  {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
    return stolen_;
  }

private:
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::map<pid_t, int> stolen_;
  std::thread thread_;
};

TEST_F(hostile_env_test, waitpid_minus_one_steals_the_status)
{
  auto p = spawn({"pause"});
  const pid_t pid = p.id();
  p.signal(SIGKILL);
  {
    // The thief reaps before the library looks: deterministic in both
    // modes (the fallback starts its pool wait only with a wait).
    int status = 0;
    ASSERT_EQ(::waitpid(-1, &status, __WALL), pid);
    EXPECT_EQ(WTERMSIG(status), SIGKILL);
  }
  outcome o;
  p.async_wait(o.handler());
  run();
  ASSERT_TRUE(o.called);
  EXPECT_EQ(o.ec, errc::no_child_process);

  error_code ec;
  p.wait(ec);
  EXPECT_EQ(ec, errc::no_child_process);
  EXPECT_EQ(p.try_wait(ec), std::nullopt);
  EXPECT_EQ(ec, errc::no_child_process);
  p.signal(SIGKILL, ec);
  EXPECT_EQ(ec, pidfd::error::process_done);
  p.signal_group(SIGKILL, ec);
  EXPECT_EQ(ec, pidfd::error::process_done);
  std::optional<error_code> signalled;
  p.async_signal(SIGKILL, [&](error_code e) { signalled = e; });
  run();
  ASSERT_TRUE(signalled);
  EXPECT_EQ(*signalled, pidfd::error::process_done);
}

TEST_F(hostile_env_test, waitpid_minus_one_races_every_wait)
{
  // A thread blocked in waitpid(-1) the whole time: each child's status
  // goes either to it or to the library, exactly once.
  constexpr int children = 40;
  std::vector<decltype(spawn({}))> processes;
  std::vector<outcome> outcomes(children);
  thief t;
  for (int i = 0; i < children; ++i)
  {
    processes.push_back(spawn({"exit", std::to_string(i)}));
    processes.back().async_wait(outcomes[i].handler());
  }
  run();
  // Every child is collected, by us or by the thief: it stops at once.
  const std::map<pid_t, int> stolen = t.stop();
  for (int i = 0; i < children; ++i)
  {
    SCOPED_TRACE(i);
    const outcome& o = outcomes[i];
    ASSERT_TRUE(o.called);
    auto it = stolen.find(processes[i].id());
    if (!o.ec)
    {
      EXPECT_EQ(o.status.code(), i) << o.status;
      EXPECT_TRUE(it == stolen.end()) << "collected twice";
    }
    else
    {
      EXPECT_EQ(o.ec, errc::no_child_process) << o.ec.message();
      ASSERT_TRUE(it != stolen.end()) << "ECHILD, yet nobody took it";
      EXPECT_EQ(WEXITSTATUS(it->second), i);
    }
    error_code ec;
    processes[i].signal(SIGKILL, ec);
    EXPECT_EQ(ec, pidfd::error::process_done);
  }
}

//------------------------------------------------------------------------------
// Spawning from many threads at once, into one io_context that two other
// threads run, with exec failures and fd options mixed in.

TEST_F(hostile_env_test, spawn_from_many_threads_at_once)
{
  constexpr int threads = 4;
  constexpr int per_thread = 25;
  std::mutex mutex;
  std::condition_variable changed;
  int spawning = threads, launched = 0, completed = 0, spawn_errors = 0;
  std::vector<std::string> wrong;
  auto work = asio::make_work_guard(ctx);
  std::vector<std::thread> runners;
  for (int i = 0; i < 2; ++i)
    runners.emplace_back([this] { ctx.run(); });

  // The helper child sets PR_SET_PDEATHSIG, which Linux sends when the
  // *thread* that spawned it exits: spawning threads live until every
  // child is done.
  std::promise<void> all_done;
  std::shared_future<void> done = all_done.get_future().share();
  const std::string missing = temp_path("missing");
  std::vector<std::thread> spawners;
  for (int t = 0; t < threads; ++t)
  {
    spawners.emplace_back([&, t] {
      std::vector<decltype(spawn({}))> owned;
      for (int i = 0; i < per_thread; ++i)
      {
        const int code = t * per_thread + i;
        error_code ec;
        if (i % 5 == 4)
        {
          auto p = pidfd::spawn(ctx, missing, {}, {}, ec);
          if (ec != errc::no_such_file_or_directory || p.is_open())
          {
            std::lock_guard lock(mutex);
            ++spawn_errors;
          }
          continue;
        }
        pidfd::spawn_options options;
        if (i % 3 == 0)
          options.out = pidfd::stdio::null();
        auto p = pidfd::spawn(
            ctx, child_program, {"exit", std::to_string(code)}, options, ec);
        std::lock_guard lock(mutex);
        if (ec)
        {
          ++spawn_errors;
          continue;
        }
        ++launched;
        p.async_wait([&, code](error_code e, exit_status s) {
          std::lock_guard lock(mutex);
          if (e || s.code() != code)
          {
            wrong.push_back("exit " + std::to_string(code) + ": " + e.message()
                + ", " + s.to_string());
          }
          ++completed;
          changed.notify_all();
        });
        owned.push_back(std::move(p));
      }
      {
        std::lock_guard lock(mutex);
        --spawning;
        changed.notify_all();
      }
      done.wait();
    });
  }
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return spawning == 0 && completed == launched; });
  }
  all_done.set_value();
  for (auto& s : spawners)
    s.join();
  work.reset();
  for (auto& r : runners)
    r.join();
  ctx.restart();
  EXPECT_EQ(spawn_errors, 0);
  EXPECT_EQ(wrong, std::vector<std::string>{});
  EXPECT_EQ(completed, threads * (per_thread - per_thread / 5));
}

//------------------------------------------------------------------------------
// Resource limits at spawn.

TEST_F(hostile_env_test, rlimit_nproc_exhausted_spawn_fails_with_eagain)
{
  run_limits_helper("nproc");
}

TEST_F(hostile_env_test, rlimit_nproc_leaves_no_room_for_a_pool_thread)
{
  run_limits_helper("nproc-pool");
}

// Lowers RLIMIT_NOFILE for its lifetime and fills every fd below it.
class fd_exhaustion
{
public:
  fd_exhaustion()
  {
    ::getrlimit(RLIMIT_NOFILE, &old_);
    const std::set<int> open = pidfd_test::open_fds();
    rlimit low = old_;
    low.rlim_cur = static_cast<rlim_t>(*open.rbegin()) + 17;
    ok_ = ::setrlimit(RLIMIT_NOFILE, &low) == 0;
    fill();
  }
  fd_exhaustion(const fd_exhaustion&) = delete;
  ~fd_exhaustion()
  {
    fillers_.clear();
    ::setrlimit(RLIMIT_NOFILE, &old_);
  }

  bool ok() const { return ok_; }

  // Opens fds until EMFILE, then closes `free` of them.
  void leave_free(std::size_t free)
  {
    fill();
    for (std::size_t i = 0; i < free && !fillers_.empty(); ++i)
      fillers_.pop_back();
  }

private:
  void fill()
  {
    for (;;)
    {
      int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0)
      {
        ok_ = ok_ && errno == EMFILE;
        return;
      }
      fillers_.emplace_back(fd);
    }
  }

  rlimit old_{};
  bool ok_ = false;
  std::vector<unique_fd> fillers_;
};

TEST_F(hostile_env_test, rlimit_nofile_exhausted_spawn_fails_with_emfile)
{
  // Whatever is created once (the reactor) exists before the fds run out.
  {
    auto p = spawn({"exit", "0"});
    p.async_wait([](error_code, exit_status) {});
    run();
  }
  const std::set<int> fds = pidfd_test::open_fds();
  enum class streams
  {
    inherit,
    out_pipe,
    all_pipes,
    out_file
  };
  const std::string file = temp_path("out");
  struct attempt
  {
    std::size_t free;
    streams kind;
    error_code ec;
    std::string what;
    bool pipe_left_open;
  };
  std::vector<attempt> attempts;
  {
    fd_exhaustion limit;
    ASSERT_TRUE(limit.ok());
    for (std::size_t free = 0; free <= 8; ++free)
    {
      for (streams kind : {streams::inherit, streams::out_pipe,
               streams::all_pipes, streams::out_file})
      {
        limit.leave_free(free);
        asio::readable_pipe out(ctx), err(ctx);
        asio::writable_pipe in(ctx);
        pidfd::spawn_options options;
        if (kind == streams::out_pipe || kind == streams::all_pipes)
          options.out = pidfd::stdio::pipe(out);
        if (kind == streams::all_pipes)
        {
          options.in = pidfd::stdio::pipe(in);
          options.err = pidfd::stdio::pipe(err);
        }
        if (kind == streams::out_file)
          options.out = pidfd::stdio::file(file);
        attempt a{free, kind, {}, {}, false};
        // The error_code overload: UBSan checks the vptr of the exception
        // the throwing one constructs, and needs a pipe to probe memory
        // for that; without a free fd it reports a false "invalid vptr".
        auto p = pidfd::spawn(ctx, child_program, {"exit", "0"}, options, a.ec);
        if (!a.ec)
        {
          // It ran: waiting needs no new fd in either mode.
          exit_status s = p.wait(a.ec);
          if (!a.ec && !s.success())
            a.what = "status " + s.to_string();
          if (a.ec)
            a.what = "wait failed";
        }
        else
        {
          a.pipe_left_open = in.is_open() || out.is_open() || err.is_open();
        }
        attempts.push_back(a);
      }
    }
  }
  // Reported only now: gtest may need an fd to report.
  EXPECT_FALSE(pidfd_test::has_children());
  EXPECT_EQ(pidfd_test::open_fds(), fds);
  for (const attempt& a : attempts)
  {
    SCOPED_TRACE("free fds " + std::to_string(a.free) + ", streams "
        + std::to_string(static_cast<int>(a.kind)) + ": " + a.what);
    // Either it ran and succeeded, or the spawn failed cleanly with EMFILE.
    EXPECT_TRUE(a.what.empty());
    EXPECT_TRUE(!a.ec || a.ec == errc::too_many_files_open) << a.ec.message();
    EXPECT_FALSE(a.pipe_left_open) << "a failed spawn opened a pipe object";
    if (a.free == 0)
    {
      EXPECT_EQ(a.ec, errc::too_many_files_open);
    }
    const bool pipes =
        a.kind == streams::out_pipe || a.kind == streams::all_pipes;
    if (a.free == 1 && pipes)
    {
      EXPECT_EQ(a.ec, errc::too_many_files_open) << "a pipe needs two";
    }
  }
  // With room again, every kind works.
  asio::readable_pipe out(ctx);
  auto p = spawn({"exit", "0"}, {.out = pidfd::stdio::pipe(out)});
  EXPECT_TRUE(p.wait().success());
}

TEST_F(hostile_env_test, rlimit_nofile_exhausted_spawn_error_names_the_step)
{
  // With no fd free: EMFILE, and the words that go into what() name what
  // wanted the fd (spawn_error_info.cpp checks that what() says the detail
  // after the program). Natively clone3 cannot make the child's pidfd; in
  // the fallback clone needs no fd and the child runs, but its wait cannot
  // get its eventfd, so the child is killed and reaped. A stdout pipe
  // fails first, at pipe2.
  {
    auto p = spawn({"exit", "0"});
    p.async_wait([](error_code, exit_status) {});
    run();
  }
  const std::set<int> fds = pidfd_test::open_fds();
  struct attempt
  {
    error_code ec;
    pidfd::spawn_error_info info;
    std::string what; // the throwing overload's what(), if run
  };
  attempt inherit, out_pipe;
  {
    fd_exhaustion limit;
    ASSERT_TRUE(limit.ok());
    limit.leave_free(0);
    auto p = pidfd::spawn(
        ctx, child_program, {"exit", "0"}, {}, inherit.ec, inherit.info);
    asio::readable_pipe out(ctx);
    auto q = pidfd::spawn(ctx, child_program, {"exit", "0"},
        {.out = pidfd::stdio::pipe(out)}, out_pipe.ec, out_pipe.info);
#ifndef PIDFD_REL_UBSAN
    // UBSan needs a pipe to check the vptr of the exception the throwing
    // overload makes (see above): only without it.
    for (attempt* a : {&inherit, &out_pipe})
    {
      try
      {
        pidfd::spawn_options options;
        if (a == &out_pipe)
          options.out = pidfd::stdio::pipe(out);
        pidfd::spawn(ctx, child_program, {"exit", "0"}, options);
        a->what = "(no exception)";
      }
      catch (const boost::system::system_error& e)
      {
        a->what = e.what();
      }
    }
#endif
  }
  // Reported only now: gtest may need an fd to report.
  EXPECT_FALSE(pidfd_test::has_children());
  EXPECT_EQ(pidfd_test::open_fds(), fds);
  using part = pidfd::spawn_error_info::part;
  const std::string emfile = std::strerror(EMFILE); // "Too many open files"
  const std::string prefix = "spawn \"" + std::string(child_program) + "\": ";

  EXPECT_EQ(inherit.ec, errc::too_many_files_open) << inherit.ec.message();
  EXPECT_EQ(inherit.ec.message(), emfile);
  EXPECT_EQ(inherit.info.failed, part::system);
  const std::string step = pidfd_rel::fallback() ? "eventfd" : "clone";
  EXPECT_EQ(inherit.info.detail, step);

  EXPECT_EQ(out_pipe.ec, errc::too_many_files_open) << out_pipe.ec.message();
  EXPECT_EQ(out_pipe.info.failed, part::stdio);
  EXPECT_EQ(out_pipe.info.child_fd, 1);
  EXPECT_EQ(out_pipe.info.detail, "stdout: pipe");
#ifndef PIDFD_REL_UBSAN
  // Boost.System adds the category and value: "... [system:24]".
  const std::string inherit_what = prefix + step + ": " + emfile;
  EXPECT_EQ(inherit.what.substr(0, inherit_what.size()), inherit_what)
      << inherit.what;
  const std::string pipe_what = prefix + "stdout: pipe: " + emfile;
  EXPECT_EQ(out_pipe.what.substr(0, pipe_what.size()), pipe_what)
      << out_pipe.what;
#endif
}

//------------------------------------------------------------------------------
// The io_context stopped or destroyed, and the process object destroyed,
// while waits are outstanding.

TEST_F(hostile_env_test, io_context_stopped_with_waits_pending)
{
  auto p = spawn({"pause"});
  outcome o;
  p.async_wait(o.handler());
  // Stopped from another thread that runs it.
  std::promise<void> running;
  asio::post(ctx, [&] { running.set_value(); });
  std::thread runner([this] { ctx.run(); });
  running.get_future().wait();
  ctx.stop();
  runner.join();
  ctx.restart();
  EXPECT_FALSE(o.called);

  // The child exits while nothing runs the io_context: nothing is lost.
  // Our own pidfd is opened while it surely runs: in the wait4 fallback the
  // pool thread reaps it the moment it exits.
  unique_fd own(pidfd_test::pidfd_open(p.id()));
  ASSERT_GE(own.get(), 0);
  p.signal(SIGKILL);
  pidfd_test::wait_exited(own.get(), p.id());
  run();
  ASSERT_TRUE(o.called);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_EQ(o.status.signal(), SIGKILL);
}

TEST_F(hostile_env_test, io_context_destroyed_with_waits_pending)
{
  const std::set<int> fds = pidfd_test::open_fds();
  pid_t pids[2];
  unique_fd own[2];
  bool called = false;
  {
    asio::io_context local;
    // A process owned by its own wait's handler (the usual way to keep a
    // process alive until it ends), and a plain one given up before.
    auto p = std::make_shared<pidfd::process>(
        pidfd::spawn(local, child_program, {"pause"}));
    auto q = pidfd::spawn(local, child_program, {"pause"});
    pids[0] = p->id();
    pids[1] = q.id();
    for (int i = 0; i < 2; ++i)
    {
      own[i].reset(pidfd_test::pidfd_open(pids[i]));
      ASSERT_GE(own[i].get(), 0);
    }
    p->async_wait([p, &called](error_code, exit_status) { called = true; });
    q.async_wait([&called](error_code, exit_status) { called = true; });
    p.reset();
    q = decltype(q)(local);
    // local is destroyed with both waits (and q's background reaper)
    // outstanding: the handlers are destroyed, not invoked, and the
    // process object the first one owns dies with it.
  }
  EXPECT_FALSE(called);
  for (int i = 0; i < 2; ++i)
  {
    SCOPED_TRACE(i);
    // Not killed by any of this.
    EXPECT_EQ(pidfd_test::pidfd_send_signal(own[i].get(), 0), 0);
    ASSERT_EQ(pidfd_test::pidfd_send_signal(own[i].get(), SIGKILL), 0);
    // A library thread reaps it, in both modes: natively the io_context's
    // process_service handed its orphans over when it shut down, so that
    // destroying an io_context leaves no zombie.
    EXPECT_TRUE(pidfd_rel::wait_reaped(own[i].get()));
    own[i].reset();
  }
  EXPECT_EQ(pidfd_rel::open_fds_settled(fds), fds);
}

TEST_F(hostile_env_test, process_destroyed_with_waits_pending)
{
  const std::set<int> fds = pidfd_rel::open_fds_with_reactor(ctx);
  std::optional<decltype(spawn({}))> p;
  {
    // The child ignores SIGTERM (inherited), so async_terminate stays in
    // its grace period.
    pidfd_rel::disposition_guard ignore_term(SIGTERM, SIG_IGN);
    p = spawn({"pause"});
  }
  unique_fd own(pidfd_test::pidfd_open(p->id()));
  ASSERT_GE(own.get(), 0);
  outcome waits[2], terminate;
  std::optional<error_code> signalled;
  p->async_wait(waits[0].handler());
  p->async_wait(waits[1].handler());
  p->async_terminate(std::chrono::hours(1), terminate.handler());
  p->async_signal(0, [&](error_code e) { signalled = e; });
  p.reset();
  // Only what is ready: the child still runs, so natively the background
  // reaper's wait stays outstanding.
  ctx.poll();
  ctx.restart();
  for (outcome* o : {&waits[0], &waits[1], &terminate})
  {
    ASSERT_TRUE(o->called);
    EXPECT_EQ(o->ec, asio::error::operation_aborted) << o->ec.message();
  }
  ASSERT_TRUE(signalled);
  EXPECT_FALSE(*signalled) << "sent before the object was destroyed";
  // Not killed; reaped in the background once it exits.
  EXPECT_EQ(pidfd_test::pidfd_send_signal(own.get(), 0), 0);
  ASSERT_EQ(pidfd_test::pidfd_send_signal(own.get(), SIGKILL), 0);
  expect_reaped_in_background(own, fds);
}

//------------------------------------------------------------------------------
// Children that flood or close their stdio.

// What "flood" writes to stream s (0: stdout, 1: stderr).
std::string flood_output(std::size_t size, int s)
{
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    text[i] = pidfd_test::flood_pattern(i, s);
  return text;
}

TEST_F(hostile_env_test, child_floods_stdout_and_stderr)
{
  // 16 times a pipe's capacity on each stream, interleaved: async_run
  // reads both at once, so neither fills up and nothing is lost.
  constexpr std::size_t size = 1 << 20;
  std::optional<pidfd::run_result> result;
  pidfd::async_run(ctx, child_program, {"flood", std::to_string(size)}, {},
      [&](error_code ec, pidfd::run_result r) {
        EXPECT_FALSE(ec) << ec.message();
        result = std::move(r);
      });
  run();
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->status.success()) << result->status;
  EXPECT_EQ(result->out.size(), size);
  EXPECT_EQ(result->err.size(), size);
  EXPECT_TRUE(result->out == flood_output(size, 0));
  EXPECT_TRUE(result->err == flood_output(size, 1));
}

TEST_F(hostile_env_test, reader_goes_away_while_the_child_floods)
{
  // The child writes to stdout forever; when we close our end it gets
  // SIGPIPE, or EPIPE if it inherited SIGPIPE ignored. The wait reports
  // exactly that.
  for (bool ignore : {false, true})
  {
    SCOPED_TRACE(ignore ? "SIGPIPE ignored" : "SIGPIPE default");
    std::optional<decltype(spawn({}))> p;
    asio::readable_pipe out(ctx);
    {
      pidfd_rel::disposition_guard guard(SIGPIPE, ignore ? SIG_IGN : SIG_DFL);
      p = pidfd::spawn(ctx, child_program, {"flood-forever"},
          {.out = pidfd::stdio::pipe(out)});
    }
    std::string some(1 << 16, '\0');
    asio::read(out, asio::buffer(some));
    out.close();
    exit_status s = p->wait();
    if (ignore)
    {
      EXPECT_EQ(s.code(), 4) << s;
    }
    else
    {
      EXPECT_EQ(s.signal(), SIGPIPE) << s;
    }
  }
}

TEST_F(hostile_env_test, child_closes_its_stdio)
{
  // EOF on both output pipes while the child still runs; the wait still
  // waits for the child, and the stdin pipe reports that the reader is
  // gone.
  asio::readable_pipe out(ctx), err(ctx);
  asio::writable_pipe in(ctx);
  auto p = pidfd::spawn(ctx, child_program, {"close-stdio"},
      {.in = pidfd::stdio::pipe(in),
          .out = pidfd::stdio::pipe(out),
          .err = pidfd::stdio::pipe(err)});
  std::string text;
  error_code out_ec, err_ec;
  asio::async_read(out, asio::dynamic_buffer(text),
      [&](error_code e, std::size_t) { out_ec = e; });
  asio::async_read(err, asio::dynamic_buffer(text),
      [&](error_code e, std::size_t) { err_ec = e; });
  run();
  EXPECT_EQ(out_ec, asio::error::eof);
  EXPECT_EQ(err_ec, asio::error::eof);
  EXPECT_EQ(text, "");
  error_code ec;
  EXPECT_EQ(p.try_wait(ec), std::nullopt) << "still running";
  EXPECT_FALSE(ec);
  pollfd writer{in.native_handle(), POLLOUT, 0};
  ASSERT_EQ(::poll(&writer, 1, 0), 1);
  EXPECT_TRUE(writer.revents & POLLERR) << "no reader";

  outcome o;
  p.async_wait(o.handler());
  p.signal(SIGTERM);
  run();
  ASSERT_TRUE(o.called);
  EXPECT_EQ(o.status.signal(), SIGTERM) << o.status;
}

TEST_F(hostile_env_test, async_run_input_to_a_child_that_closed_stdin)
{
  // Far more input than a pipe holds, to a child that closes stdin at
  // once: the write fails with EPIPE, which must neither raise SIGPIPE in
  // this process (default disposition here: it would kill the test) nor
  // fail the run.
  pidfd_rel::disposition_guard guard(SIGPIPE, SIG_DFL);
  pidfd::run_options options;
  options.input = std::string(4 << 20, 'x');
  std::optional<pidfd::run_result> result;
  error_code ec;
  pidfd::async_run(ctx, child_program, {"close-stdio", "5"}, options,
      [&](error_code e, pidfd::run_result r) {
        ec = e;
        result = std::move(r);
      });
  run();
  ASSERT_TRUE(result);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(result->status.code(), 5) << result->status;
}

//------------------------------------------------------------------------------
// A child that forks a grandchild and exits; the grandchild keeps the
// child's stdout and stderr open (until we close its stdin). This process
// is made a subreaper so that the orphaned grandchild is ours to reap.

class hostile_env_grandchild_test : public hostile_env_test
{
protected:
  void SetUp() override
  {
    hostile_env_test::SetUp();
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    stdin_read_.reset(fds[0]);
    stdin_write_.reset(fds[1]);
    subreaper_.emplace();
  }

  void TearDown() override
  {
    release_grandchild();
    // The grandchild is our child now: reap it.
    int status;
    while (::waitpid(-1, &status, __WALL) > 0 || errno == EINTR)
    {
    }
    subreaper_.reset();
    stdin_read_.reset();
    hostile_env_test::TearDown();
  }

  // The child's stdin, which the grandchild reads until EOF.
  int grandchild_stdin() const { return stdin_read_.get(); }

  // Closes the grandchild's stdin: it exits.
  void release_grandchild() { stdin_write_.reset(); }

private:
  unique_fd stdin_read_, stdin_write_;
  std::optional<pidfd_rel::subreaper_guard> subreaper_;
};

TEST_F(hostile_env_grandchild_test, async_wait_completes_while_pipes_stay_open)
{
  asio::readable_pipe out(ctx);
  auto p = pidfd::spawn(ctx, child_program, {"orphan"},
      {.in = pidfd::stdio::fd(grandchild_stdin()),
          .out = pidfd::stdio::pipe(out)});
  outcome o;
  p.async_wait(o.handler());
  std::string text;
  asio::async_read_until(out, asio::dynamic_buffer(text), '\n',
      [](error_code e, std::size_t) { EXPECT_FALSE(e) << e.message(); });
  run();
  ASSERT_TRUE(o.called);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_TRUE(o.status.success()) << o.status;
  // The grandchild still holds stdout: no EOF yet.
  pollfd reader{out.native_handle(), POLLIN, 0};
  EXPECT_EQ(::poll(&reader, 1, 0), 0);

  release_grandchild();
  error_code ec;
  asio::read(out, asio::dynamic_buffer(text), ec);
  EXPECT_EQ(ec, asio::error::eof);
  const pid_t grandchild = static_cast<pid_t>(std::stol(text));
  EXPECT_TRUE(pidfd_test::reap(grandchild) == 0) << "exited 0";
}

TEST_F(hostile_env_grandchild_test, async_run_with_a_timeout_ends)
{
  // run_options::timeout bounds the whole run: the child exits at once,
  // but its output does not end while the grandchild lives. (Without a
  // timeout, async_run waits for the end of the output, as documented.)
  pidfd::run_options options;
  options.spawn.in = pidfd::stdio::fd(grandchild_stdin());
  options.timeout = std::chrono::milliseconds(100);
  // Not a timing assertion: a liveness bound, after which the grandchild
  // is released so that the test ends either way.
  bool hung = false;
  asio::steady_timer watchdog(ctx, pidfd_rel::liveness_bound);
  watchdog.async_wait([&](error_code e) {
    if (e)
      return;
    hung = true;
    release_grandchild();
  });
  std::optional<pidfd::run_result> result;
  error_code ec;
  pidfd::async_run(ctx, child_program, {"orphan"}, options,
      [&](error_code e, pidfd::run_result r) {
        ec = e;
        result = std::move(r);
        watchdog.cancel();
      });
  run();
  EXPECT_FALSE(hung) << "async_run did not end at its timeout while a "
                        "grandchild kept its stdout open";
  ASSERT_TRUE(result);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(result->timed_out);
  // The child normally exits long before the timeout, with its own status
  // (the run still does not end by itself). On a slow machine it may
  // still be starting then, and is terminated: not what this is about.
  EXPECT_TRUE(result->status.success() || result->status.signal() == SIGTERM)
      << result->status;
}

//------------------------------------------------------------------------------
// Signal handlers without SA_RESTART interrupt every blocking system call
// of the thread they run on (EINTR): the library retries.

std::atomic<int> usr1_count{0};

void count_usr1(int)
{
  usr1_count.fetch_add(1, std::memory_order_relaxed);
}

TEST_F(hostile_env_test, eintr_storm_during_waits)
{
  usr1_count = 0;
  pidfd_rel::disposition_guard guard(SIGUSR1, &count_usr1);
  const pthread_t self = ::pthread_self();
  for (bool blocking : {true, false})
  {
    SCOPED_TRACE(blocking ? "wait()" : "async_wait");
    auto p = spawn({"pause"});
    unique_fd own(pidfd_test::pidfd_open(p.id()));
    ASSERT_GE(own.get(), 0);
    std::atomic<bool> done{false};
    std::thread storm([&] {
      for (int i = 0; i < 2000 && !done; ++i)
        ::pthread_kill(self, SIGUSR1);
      pidfd_test::pidfd_send_signal(own.get(), SIGKILL);
    });
    exit_status s;
    if (blocking)
    {
      s = p.wait();
    }
    else
    {
      p.async_wait([&](error_code e, exit_status st) {
        EXPECT_FALSE(e) << e.message();
        s = st;
      });
      run();
    }
    done = true;
    storm.join();
    EXPECT_EQ(s.signal(), SIGKILL) << s;
  }
  EXPECT_GT(usr1_count.load(), 0);
}

} // namespace
