//
// test/reliability/limits_helper.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// RLIMIT_NPROC scenarios, run in a process of their own by
// hostile_env.cpp: root ignores RLIMIT_NPROC (CAP_SYS_RESOURCE,
// CAP_SYS_ADMIN), so this program first drops to an unprivileged user id of
// its own (100000 + its PID, so that concurrent runs do not share a
// process count) and then sets the limit. argv[1] selects the scenario:
//
//   nproc        no new task at all: every spawn fails with EAGAIN, with
//                and without stdio pipes, through both overloads and
//                async_run, leaving no fd and no child; after the limit is
//                lifted, spawning works again
//   nproc-pool   room for the child but not for a wait4 pool thread: the
//                spawn works; natively the wait needs no thread and gets
//                the status; in the fallback the wait reports EAGAIN at
//                once instead of hanging, and works once the limit is lifted
//
// Exit status: 0 passed, 1 failed (reasons on stderr), 77 cannot run here
// (not root).
//

#include <pidfd/asio.hpp>

#include "support/child.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include <dirent.h>
#include <grp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace errc = boost::system::errc;
using boost::system::error_code;

using pidfd_test::child_program;

int failures = 0;

void check(bool ok, const std::string& what)
{
  if (!ok)
  {
    std::fprintf(stderr, "FAILED: %s\n", what.c_str());
    ++failures;
  }
}

std::set<int> open_fds()
{
  std::set<int> fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir)
    return fds;
  const int own = ::dirfd(dir);
  while (dirent* e = ::readdir(dir))
  {
    if (e->d_name[0] != '.' && std::atoi(e->d_name) != own)
      fds.insert(std::atoi(e->d_name));
  }
  ::closedir(dir);
  return fds;
}

// Tasks (threads) of this process: each counts against RLIMIT_NPROC.
int task_count()
{
  int n = 0;
  DIR* dir = ::opendir("/proc/self/task");
  if (!dir)
    return -1;
  while (dirent* e = ::readdir(dir))
    n += e->d_name[0] != '.';
  ::closedir(dir);
  return n;
}

bool has_children()
{
  siginfo_t info{};
  return !(::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT | __WALL) < 0
      && errno == ECHILD);
}

// Sets the soft limit; RLIM_INFINITY stands for the hard limit, which an
// unprivileged process cannot raise.
bool set_nproc(rlim_t soft)
{
  rlimit limit{};
  if (::getrlimit(RLIMIT_NPROC, &limit) != 0)
    return false;
  limit.rlim_cur = std::min(soft, limit.rlim_max);
  return ::setrlimit(RLIMIT_NPROC, &limit) == 0;
}

// Becomes an unprivileged user; false if that is not possible here.
bool drop_privileges()
{
  if (::geteuid() != 0)
    return false;
  const uid_t id = 100000 + static_cast<uid_t>(::getpid());
  return ::setgroups(0, nullptr) == 0 && ::setresgid(id, id, id) == 0
      && ::setresuid(id, id, id) == 0 && ::geteuid() == id;
}

std::string describe(const error_code& ec)
{
  return ec.message() + " (" + std::to_string(ec.value()) + ")";
}

void nproc()
{
  boost::asio::io_context ctx;
  // What is created once exists before the limit: the probe's results,
  // and the reactor, which opens its fds on first use, as the library's
  // service of the context does (its ring, in the io_uring mechanism).
  pidfd::kernel_support();
  boost::asio::steady_timer(ctx).cancel();
  boost::asio::use_service<pidfd::detail::process_service>(ctx);
  const std::set<int> fds = open_fds();
  check(set_nproc(0), "setrlimit(RLIMIT_NPROC, 0)");

  {
    error_code ec;
    auto p = pidfd::spawn(ctx, child_program, {"exit", "0"}, {}, ec);
    check(ec == errc::resource_unavailable_try_again,
        "plain spawn: EAGAIN, got " + describe(ec));
    check(!p.is_open(), "plain spawn: no process");
  }
  {
    boost::asio::readable_pipe out(ctx), err(ctx);
    boost::asio::writable_pipe in(ctx);
    pidfd::spawn_options options{.in = pidfd::stdio::pipe(in),
        .out = pidfd::stdio::pipe(out),
        .err = pidfd::stdio::pipe(err)};
    error_code ec;
    auto p = pidfd::spawn(ctx, child_program, {"exit", "0"}, options, ec);
    check(ec == errc::resource_unavailable_try_again,
        "spawn with pipes: EAGAIN, got " + describe(ec));
    check(!p.is_open() && !in.is_open() && !out.is_open() && !err.is_open(),
        "spawn with pipes: no process, pipe objects left closed");
  }
  try
  {
    pidfd::spawn(ctx, child_program, {"exit", "0"});
    check(false, "throwing spawn: did not throw");
  }
  catch (const boost::system::system_error& e)
  {
    check(e.code() == errc::resource_unavailable_try_again,
        std::string("throwing spawn: EAGAIN, got ") + e.what());
    check(std::string_view(e.what()).find(child_program)
            != std::string_view::npos,
        std::string("throwing spawn: what() names the program: ") + e.what());
  }
  {
    std::optional<error_code> got;
    pidfd::async_run(ctx, child_program, {"exit", "0"}, {},
        [&](error_code ec, pidfd::run_result) { got = ec; });
    ctx.run();
    ctx.restart();
    check(got && *got == errc::resource_unavailable_try_again,
        "async_run: EAGAIN, got "
            + (got ? describe(*got) : std::string("nothing")));
  }
  check(!has_children(), "no child or zombie left");
  check(open_fds() == fds, "no fd left open");

  // Lifted: spawning works again.
  check(set_nproc(RLIM_INFINITY), "setrlimit(RLIMIT_NPROC, hard limit)");
  error_code ec;
  auto p = pidfd::spawn(ctx, child_program, {"exit", "3"}, {}, ec);
  check(!ec, "spawn after the limit was lifted: " + describe(ec));
  if (!ec)
    check(p.wait().code() == 3, "wait after the limit was lifted");
}

void nproc_pool()
{
  const bool fallback = !pidfd::kernel_support().pidfd;
  boost::asio::io_context ctx;
  // The reactor opens its fds on first use, and so does the library's
  // service of the context (its ring, in the io_uring mechanism).
  boost::asio::steady_timer(ctx).cancel();
  boost::asio::use_service<pidfd::detail::process_service>(ctx);
  const std::set<int> fds = open_fds();
  const int tasks = task_count();
  // Room for exactly one more task: the child.
  check(tasks > 0 && set_nproc(static_cast<rlim_t>(tasks) + 1),
      "setrlimit(RLIMIT_NPROC, tasks + 1)");

  error_code ec;
  auto p = pidfd::spawn(ctx, child_program, {"pause"}, {}, ec);
  check(!ec, "spawn with room for one task: " + describe(ec));
  if (ec)
    return;

  std::optional<error_code> waited;
  pidfd::exit_status status;
  p.async_wait([&](error_code e, pidfd::exit_status s) {
    waited = e;
    status = s;
  });
  ctx.poll(); // runs what is ready, never blocks
  ctx.restart();
  if (fallback)
  {
    // No pool thread: reported at once, the child still runs.
    check(waited && *waited == errc::resource_unavailable_try_again,
        "fallback async_wait without a pool thread: EAGAIN, got "
            + (waited ? describe(*waited) : std::string("nothing")));
    p.wait(ec);
    check(ec == errc::resource_unavailable_try_again,
        "fallback wait() without a pool thread: EAGAIN, got " + describe(ec));
    check(p.try_wait(ec) == std::nullopt && !ec,
        "try_wait needs no thread: still running, no error");
  }
  else
  {
    check(!waited, "native async_wait: pending while the child runs");
  }
  p.signal(SIGKILL, ec);
  check(!ec, "signal: " + describe(ec));
  ctx.run();
  ctx.restart();
  if (!fallback)
    check(waited && !*waited && status.signal() == SIGKILL,
        "native async_wait: the status");

  // Lifted: the fallback starts its thread now.
  check(set_nproc(RLIM_INFINITY), "setrlimit(RLIMIT_NPROC, hard limit)");
  pidfd::exit_status s = p.wait(ec);
  check(!ec && s.signal() == SIGKILL,
      "wait after the limit was lifted: " + describe(ec) + ", "
          + s.to_string());
  p = decltype(p)(ctx);
  ctx.run();
  check(!has_children(), "no child or zombie left");
  check(open_fds() == fds, "no fd left open");
}

} // namespace

int main(int argc, char** argv)
{
  if (argc != 2)
    return 2;
  const std::string_view mode = argv[1];
  if (mode != "nproc" && mode != "nproc-pool")
    return 2;
  // Any thread a runtime (a sanitizer's) starts on the first thread
  // creation exists before the tasks are counted.
  std::thread([] {}).join();
  if (!drop_privileges())
  {
    std::fprintf(stderr, "cannot drop privileges: not root\n");
    return 77;
  }
  if (mode == "nproc")
    nproc();
  else
    nproc_pool();
  // Sanitizer runtimes create a task at exit (LeakSanitizer).
  set_nproc(RLIM_INFINITY);
  return failures == 0 ? 0 : 1;
}
