//
// test/kernel_levels/kernel_levels.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Emulates older kernels and restrictive seccomp policies in this process,
// then shows that the probe picks the right level and that spawn, wait and
// signal work there.
//
//   pidfd_kernel_levels SCENARIO
//
// Each scenario installs a seccomp filter that makes some system calls fail
// as they do on an older kernel (ENOSYS), under a container policy (EPERM),
// or for flags the kernel does not know (EINVAL), before the library is
// used. Exit status 0 means every check passed; failures are printed.
//
// Run as root on a host with cgroup2, each scenario also spawns into a
// cgroup and stops and waits for the tree, so that the cgroup placement
// works on every path (clone3 with CLONE_INTO_CGROUP, clone3 without it,
// clone()). Three scenarios are about cgroups alone:
//   no_clone_into_cgroup  clone3 knows only the first clone_args (before
//                         Linux 5.7): seccomp refuses clone3 whose size
//                         argument is larger (it cannot read the flags,
//                         which are in memory), so the child must move
//                         itself through cgroup.procs;
//   no_cgroup_kill        no cgroup.kill (before Linux 5.14): seccomp
//                         cannot filter openat by path, so the library's
//                         test hook PIDFD_ASIO_TEST_NO_CGROUP_KILL=1 hides
//                         it, and SIGKILL goes by freezing the cgroup;
//   no_cgroup2            no cgroup2 mount (a mount namespace without it):
//                         a placement is refused, naming the cause.
// Three are about the io_uring mechanism's ring:
//   ring_attach_refused   the epoll reactor refuses the ring's fd (its
//                         filter is installed once the ring exists, since
//                         it names the ring's fd);
//   ring_reaps            the ring reaps the children spawned without
//                         resource usage (IORING_OP_WAITID, Linux 6.7):
//                         with waitid refused, their waits still report
//                         each end, and leave no zombie;
//   no_ring_waitid        no IORING_OP_WAITID (before Linux 6.7; the test
//                         hook PIDFD_ASIO_TEST_NO_RING_WAITID=1 hides it,
//                         since seccomp cannot filter an io_uring opcode):
//                         those children are polled for as the others.
//

#include <pidfd/asio.hpp>

#include "support/child.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using level = pidfd::kernel_features::level;

int failures = 0;

void check(bool ok, const char* what)
{
  if (!ok)
  {
    ++failures;
    std::fprintf(stderr, "FAILED: %s\n", what);
  }
}

struct scenario
{
  const char* name;
  level expected;
  const char* explanation;
};

// One argument comparison. libseccomp's SCMP_Ax macros leave datum_b out of
// the initializer, which clang's -Wmissing-field-initializers rejects.
scmp_arg_cmp arg(
    unsigned index, scmp_compare op, scmp_datum_t a, scmp_datum_t b = 0)
{
  return scmp_arg_cmp{index, op, a, b};
}

// Installs the filter for a scenario; everything else stays allowed.
bool install_filter(std::string_view name)
{
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx)
    return false;
  int rc = 0;
  if (name == "no_clone3")
  {
    // Linux < 5.3, or a policy written before clone3 existed.
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  }
  else if (name == "clone3_eperm")
  {
    // Container runtimes that deny clone3 outright.
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone3), 0);
  }
  else if (name == "clone3_refused_late")
  {
    // The probe's clone3(NULL, 0) passes, real spawns are refused: a
    // policy the probe cannot see. Spawns must switch to clone() at once.
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 1,
        arg(1, SCMP_CMP_NE, 0));
  }
  else if (name == "blocking_pidfd")
  {
    // Linux 5.4 to 5.9: pidfd_open knows no PIDFD_NONBLOCK.
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EINVAL), SCMP_SYS(pidfd_open), 1,
        arg(1, SCMP_CMP_MASKED_EQ, O_NONBLOCK, O_NONBLOCK));
  }
  else if (name == "no_pidfd_open")
  {
    // Linux < 5.3, or a policy that forbids pidfds.
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(pidfd_open), 0);
  }
  else if (name == "no_waitid_pidfd")
  {
    // Linux 5.3: waitid rejects P_PIDFD (3) with EINVAL.
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EINVAL), SCMP_SYS(waitid), 1,
        arg(0, SCMP_CMP_EQ, 3));
  }
  else if (name == "no_pidfd_send_signal")
  {
    rc = seccomp_rule_add(
        ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(pidfd_send_signal), 0);
  }
  else if (name == "no_pidfd_group_signal")
  {
    // Linux 5.4 to 6.8: pidfd_send_signal takes no PIDFD_SIGNAL_* scope
    // yet and rejects PIDFD_SIGNAL_PROCESS_GROUP (1 << 2) with EINVAL.
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EINVAL),
        SCMP_SYS(pidfd_send_signal), 1, arg(3, SCMP_CMP_MASKED_EQ, 4, 4));
  }
  else if (name == "no_clone_into_cgroup")
  {
    // Linux 5.3 to 5.6: clone_args ends before the cgroup field (the
    // kernel says E2BIG for a larger one with the field set; a policy
    // written then, ENOSYS). glibc's threads fall back to clone() on
    // ENOSYS.
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 1,
        arg(1, SCMP_CMP_GT, 64));
  }
  else if (name == "no_io_uring")
  {
    // kernel.io_uring_disabled = 2, and container policies (Docker's
    // default profile since 2023): io_uring_setup fails with EPERM. The
    // pidfds then wait in the reactor.
    rc = seccomp_rule_add(
        ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(io_uring_setup), 0);
  }
  else if (name == "no_io_uring_enter")
  {
    // A policy that lets a ring be made but not used.
    rc = seccomp_rule_add(
        ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(io_uring_enter), 0);
  }
  else if (name == "full" || name == "forced_fallback" || name == "forced_epoll"
      || name == "no_cgroup_kill" || name == "no_cgroup2")
  {
    // No filter.
  }
  else
  {
    std::fprintf(stderr, "unknown scenario %.*s\n",
        static_cast<int>(name.size()), name.data());
    seccomp_release(ctx);
    return false;
  }
  if (rc == 0)
    rc = seccomp_load(ctx);
  seccomp_release(ctx);
  return rc == 0;
}

bool kernel_at_least(int major, int minor)
{
  utsname u{};
  int ma = 0, mi = 0;
  if (::uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &ma, &mi) != 2)
    return false;
  return ma > major || (ma == major && mi >= minor);
}

// kernel.io_uring_disabled is 0 (or absent: before Linux 6.6 only
// seccomp could refuse io_uring).
bool io_uring_enabled()
{
  std::FILE* f = std::fopen("/proc/sys/kernel/io_uring_disabled", "r");
  if (!f)
    return true;
  int v = 0;
  const bool read = std::fscanf(f, "%d", &v) == 1;
  std::fclose(f);
  return !read || v == 0;
}

level expected_level(std::string_view name)
{
  if (name == "full")
    return level::full;
  if (name == "no_clone3" || name == "clone3_eperm")
    return level::no_clone3;
  if (name == "clone3_refused_late" || name == "no_clone_into_cgroup"
      || name == "no_cgroup_kill" || name == "no_cgroup2")
    return level::full; // the probe cannot tell; spawns adapt
  if (name == "no_pidfd_group_signal")
    return level::full; // only signal_group changes
  if (name == "no_io_uring" || name == "no_io_uring_enter"
      || name == "forced_epoll")
    return level::full; // only the way exits are waited for changes
  if (name == "blocking_pidfd")
    return level::blocking_pidfd;
  return level::wait4_fallback;
}

// signal_group reaches the leader and its child, whatever the mechanism
// (with PIDFD_SIGNAL_PROCESS_GROUP refused: killpg). The child (cat) would
// end by itself only once the lifeline is closed, after the signal: its
// status shows whether the signal reached it. It is reparented to this
// process, a subreaper, when the leader dies.
void exercise_group(boost::asio::io_context& ctx)
{
  int out[2], lifeline[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(lifeline, O_CLOEXEC) != 0)
  {
    check(false, "pipes for the group test");
    return;
  }
  pidfd::spawn_options options;
  options.out = pidfd::stdio::fd(out[1]);
  options.inherit_fd(3, lifeline[0]);
  options.process_group = pidfd::process_group_mode::new_group;
  pidfd::process leader = pidfd::spawn(
      ctx, "/bin/sh", {"-c", "cat <&3 >/dev/null & echo $!; wait"}, options);
  ::close(out[1]);
  ::close(lifeline[0]);
  char line[32] = {};
  ssize_t n = ::read(out[0], line, sizeof line - 1);
  ::close(out[0]);
  const pid_t member = n > 0 ? static_cast<pid_t>(std::atoi(line)) : 0;
  check(member > 0, "the group's second member was started");

  boost::system::error_code ec;
  leader.signal_group(SIGTERM, ec);
  check(!ec, "signal_group succeeds");
  pidfd::exit_status s = leader.wait();
  check(s.signaled() && s.signal() == SIGTERM, "the group's leader got it");
  ::close(lifeline[1]);
  int status = 0;
  check(member > 0 && ::waitpid(member, &status, 0) == member
          && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
      "the group's other member got it");

  leader.signal_group(SIGTERM, ec);
  check(ec == pidfd::error::process_done,
      "signal_group after wait: process_done");
}

// Spawn, wait, signal and the "process done" rule, at whatever level, on
// the helper child (test/support/child.cpp), which runs under the filter
// too.
void exercise()
{
  using pidfd_test::child_program;
  boost::asio::io_context ctx;

  // Exit code through an asynchronous wait.
  pidfd::process p = pidfd::spawn(ctx, child_program, {"exit", "7"});
  pidfd::exit_status status;
  boost::system::error_code wait_ec;
  p.async_wait([&](boost::system::error_code ec, pidfd::exit_status s) {
    wait_ec = ec;
    status = s;
  });
  ctx.run();
  check(!wait_ec, "async_wait succeeds");
  check(status.exited() && status.code() == 7, "exit code 7 is reported");

  // A signal reaches a running child and is reported by the wait.
  ctx.restart();
  pidfd::process sleeper = pidfd::spawn(ctx, child_program, {"pause"});
  check(sleeper.id() > 0, "pause was spawned");
  sleeper.signal(SIGTERM);
  pidfd::exit_status killed = sleeper.wait();
  check(killed.signaled() && killed.signal() == SIGTERM,
      "SIGTERM ends the child");

  // After exit (waited for), a signal reports process_done.
  boost::system::error_code ec;
  sleeper.signal(SIGKILL, ec);
  check(ec == pidfd::error::process_done, "signal after wait: process_done");

  // After exit but before the wait, too: the zombie is not signalled.
  pidfd::process quick = pidfd::spawn(ctx, child_program, {"exit", "0"});
  siginfo_t info{};
  ::waitid(
      P_PID, static_cast<id_t>(quick.id()), &info, WEXITED | WNOWAIT | __WALL);
  quick.signal(SIGKILL, ec);
  check(ec == pidfd::error::process_done, "signal to a zombie: process_done");
  check(quick.wait().success(), "the zombie's status is still collected");

  exercise_group(ctx);

  // Exec failures are reported by spawn.
  pidfd::spawn(ctx, "/nonexistent/program", {}, {}, ec);
  check(ec == boost::system::errc::no_such_file_or_directory,
      "a missing program is ENOENT");

  int st;
  check(::waitpid(-1, &st, WNOHANG | __WALL) == -1 && errno == ECHILD,
      "no child is left behind");
}

// A filter installed once the library is in use (its rules, added by
// `add_rules`, name what exists only then); everything else stays allowed.
template <typename AddRules>
bool install_late_filter(AddRules add_rules)
{
  scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
  int rc = filter ? add_rules(filter) : -1;
  if (rc == 0)
    rc = seccomp_load(filter);
  seccomp_release(filter);
  if (rc != 0)
    std::fprintf(stderr, "cannot install the seccomp filter\n");
  return rc == 0;
}

// Every operation pending at once on each of four processes spawned with
// `options`, `rounds` rounds: two waits, a wait cancelled through its
// slot, a terminate whose child ignores SIGTERM (SIGKILL after the grace);
// a fifth process, which exits 5, destroyed with its wait pending, left to
// the service to reap; a sixth, which exits 7, waited for alone. Returns
// the failures.
int every_operation_in_rounds(boost::asio::io_context& ctx,
    const pidfd::spawn_options& options, int rounds)
{
  using pidfd_test::child_program;
  constexpr int at_once = 4;
  int killed = 0, aborted = 0, wrong = 0, exited = 0;
  const int failures_before = failures;
  for (int round = 0; round < rounds; ++round)
  {
    ctx.restart();
    std::vector<pidfd::process> batch;
    {
      struct sigaction ignore
      {
      }, old{};
      ignore.sa_handler = SIG_IGN;
      ::sigaction(SIGTERM, &ignore, &old);
      for (int i = 0; i < at_once; ++i)
        batch.push_back(pidfd::spawn(ctx, child_program, {"pause"}, options));
      ::sigaction(SIGTERM, &old, nullptr);
    }
    std::vector<boost::asio::cancellation_signal> cancels(at_once);
    auto count = [&](boost::system::error_code ec, pidfd::exit_status s) {
      if (ec == boost::asio::error::operation_aborted)
        ++aborted;
      else if (!ec && s.signal() == SIGKILL
          && s.usage_known() == options.resource_usage)
        ++killed;
      else
        ++wrong;
    };
    for (int i = 0; i < at_once; ++i)
    {
      pidfd::process& p = batch[static_cast<std::size_t>(i)];
      p.async_wait(count);
      p.async_wait(count);
      p.async_wait(boost::asio::bind_cancellation_slot(
          cancels[static_cast<std::size_t>(i)].slot(), count));
      p.async_terminate(std::chrono::milliseconds(10), count);
    }
    {
      pidfd::process dropped =
          pidfd::spawn(ctx, child_program, {"exit", "5"}, options);
      dropped.async_wait([](boost::system::error_code, pidfd::exit_status) {});
    }
    pidfd::process alone =
        pidfd::spawn(ctx, child_program, {"exit", "7"}, options);
    alone.async_wait([&](boost::system::error_code ec, pidfd::exit_status s) {
      if (!ec && s.code() == 7)
        ++exited;
      else
        ++wrong;
    });
    for (auto& c : cancels)
      c.emit(boost::asio::cancellation_type::terminal);
    ctx.run_for(std::chrono::seconds(20));
  }
  check(killed == rounds * at_once * 3,
      "every wait and terminate of the rounds reports SIGKILL");
  check(aborted == rounds * at_once, "every cancelled wait is aborted");
  check(exited == rounds, "every exit code is reported");
  check(wrong == 0, "no other outcome");
  return failures - failures_before;
}

// ring_attach_refused: the reactor refuses the ring's fd (EPOLL_CTL_ADD
// failing, as with ENOMEM or fs.epoll.max_user_watches reached), on a
// kernel where the io_uring mechanism was chosen. The context's processes
// then wait in the reactor each, and every wait completes. The filter
// names the fd of this context's ring, so the ring is made first (it
// comes with the binding's service) and the filter installed then.
int ring_attach_refused()
{
  using pidfd_test::child_program;
  const pidfd::kernel_features& f = pidfd::kernel_support();
  std::printf("ring_attach_refused: %s\n", f.to_string().c_str());
  if (!f.io_uring)
  {
    std::printf("ring_attach_refused: no io_uring mechanism here, nothing "
                "to refuse: ok\n");
    return 0;
  }
  boost::asio::io_context ctx;
  auto& service = boost::asio::use_service<pidfd::detail::process_service>(ctx);
  pidfd::detail::wait_ring* ring = service.ring();
  check(ring != nullptr, "the context has a ring");
  if (!ring)
    return 1;
  if (!install_late_filter([&](scmp_filter_ctx filter) {
        return seccomp_rule_add(filter, SCMP_ACT_ERRNO(ENOMEM),
            SCMP_SYS(epoll_ctl), 2, arg(1, SCMP_CMP_EQ, EPOLL_CTL_ADD),
            arg(2, SCMP_CMP_EQ, static_cast<scmp_datum_t>(ring->fd())));
      }))
    return 2;
  const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  check(::epoll_ctl(epfd, EPOLL_CTL_ADD, ring->fd(), &ev) == -1
          && errno == ENOMEM,
      "the filter refuses the ring's fd");
  ::close(epfd);

  // Three waits at once, one on a child that runs until it is killed; then
  // a spawn after the refusal.
  int completed = 0;
  std::vector<pidfd::process> children;
  std::vector<pidfd::exit_status> statuses(4);
  for (int code : {3, 4, 5})
    children.push_back(
        pidfd::spawn(ctx, child_program, {"exit", std::to_string(code)}));
  children.push_back(pidfd::spawn(ctx, child_program, {"pause"}));
  check(service.ring() == nullptr, "the refused ring is given up");
  for (std::size_t i = 0; i < children.size(); ++i)
    children[i].async_wait(
        [&, i](boost::system::error_code ec, pidfd::exit_status s) {
          check(!ec, "a wait after the refusal succeeds");
          statuses[i] = s;
          ++completed;
        });
  children.back().signal(SIGKILL);
  ctx.run_for(std::chrono::seconds(20));
  check(completed == 4, "every wait completes, through the reactor");
  for (int i = 0; i < 3; ++i)
    check(statuses[static_cast<std::size_t>(i)].code() == 3 + i,
        "each exit code is reported");
  check(statuses[3].signal() == SIGKILL, "the killed child's signal too");

  ctx.restart();
  pidfd::process later = pidfd::spawn(ctx, child_program, {"exit", "9"});
  bool later_done = false;
  later.async_wait([&](boost::system::error_code ec, pidfd::exit_status s) {
    check(!ec && s.code() == 9, "a later spawn's wait succeeds");
    later_done = true;
  });
  ctx.run_for(std::chrono::seconds(20));
  check(later_done, "a later spawn's wait completes");

  // Every operation pending at once, in rounds.
  every_operation_in_rounds(ctx, {}, 50);

  int st;
  check(::waitpid(-1, &st, WNOHANG | __WALL) == -1 && errno == ECHILD,
      "no child is left behind");
  std::printf("ring_attach_refused: %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}

// ring_reaps: the ring reaps the children spawned without resource usage.
// waitid is refused (EPERM) once the probe is done, which the library's
// own collect step needs: a status now comes from the ring, or not at all.
int ring_reaps()
{
  using pidfd_test::child_program;
  const pidfd::kernel_features& f = pidfd::kernel_support();
  std::printf("ring_reaps: %s\n", f.to_string().c_str());
  if (!f.io_uring_waitid)
  {
    std::printf("ring_reaps: the ring does not reap here (no io_uring "
                "mechanism, or Linux < 6.7): ok\n");
    return 0;
  }
  if (!install_late_filter([](scmp_filter_ctx filter) {
        return seccomp_rule_add(
            filter, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(waitid), 0);
      }))
    return 2;
  siginfo_t info{};
  check(::waitid(P_ALL, 0, &info, WEXITED | WNOHANG) == -1 && errno == EPERM,
      "the filter refuses waitid");

  boost::asio::io_context ctx;
  // The filter bites: a child whose status is wanted with its usage is
  // collected by waitid, refused.
  pidfd::process with_usage = pidfd::spawn(ctx, child_program, {"exit", "1"});
  boost::system::error_code refused;
  with_usage.async_wait(
      [&](boost::system::error_code ec, pidfd::exit_status) { refused = ec; });
  ctx.run_for(std::chrono::seconds(20));
  check(refused == boost::system::errc::operation_not_permitted,
      "a wait with resource usage meets the refused waitid");
  ::kill(with_usage.id(), SIGKILL); // a zombie, reaped below by wait4
  int st;
  ::waitpid(with_usage.id(), &st, 0);

  pidfd::spawn_options options;
  options.resource_usage = false;
  every_operation_in_rounds(ctx, options, 50);

  check(::waitpid(-1, &st, WNOHANG | __WALL) == -1 && errno == ECHILD,
      "no child is left behind");
  std::printf("ring_reaps: %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}

// no_ring_waitid: a ring that cannot reap polls for every child, those
// spawned without resource usage too, whose waits report each end
// without it.
int no_ring_waitid()
{
  const pidfd::kernel_features& f = pidfd::kernel_support();
  std::printf("no_ring_waitid: %s\n", f.to_string().c_str());
  check(!f.io_uring_waitid, "the ring is not said to reap");
  boost::asio::io_context ctx;
  pidfd::spawn_options options;
  options.resource_usage = false;
  every_operation_in_rounds(ctx, options, 20);
  options.resource_usage = true;
  every_operation_in_rounds(ctx, options, 5);
  int st;
  check(::waitpid(-1, &st, WNOHANG | __WALL) == -1 && errno == ECHILD,
      "no child is left behind");
  std::printf("no_ring_waitid: %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}

// The cgroup2 mount from mountinfo, read here rather than asked of the
// library; empty if there is none.
std::string cgroup2_mount()
{
  std::FILE* f = std::fopen("/proc/self/mountinfo", "r");
  if (!f)
    return {};
  char line[4096];
  std::string mount;
  while (mount.empty() && std::fgets(line, sizeof line, f))
  {
    char point[4096];
    if (std::strstr(line, " - cgroup2 ")
        && std::sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1)
      mount = point;
  }
  std::fclose(f);
  return mount;
}

bool has_subdirectory(const std::string& path)
{
  bool found = false;
  if (DIR* d = ::opendir(path.c_str()))
  {
    while (dirent* e = ::readdir(d))
      found = found
          || (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") != 0
              && std::strcmp(e->d_name, "..") != 0);
    ::closedir(d);
  }
  return found;
}

std::string read_fd(int fd)
{
  std::string all;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0)
    all.append(buf, static_cast<std::size_t>(n));
  return all;
}

// Placement before execve, the tree wait, kill_tree and signal_tree, in a
// parent cgroup made for this run.
void exercise_cgroup(const std::string& mount)
{
  const std::string name = "pidfd-levels-" + std::to_string(::getpid());
  const std::string parent = mount + "/" + name;
  if (::mkdir(parent.c_str(), 0755) != 0)
  {
    std::printf("cgroup checks skipped: cannot create %s: %s\n", parent.c_str(),
        std::strerror(errno));
    return;
  }
  boost::asio::io_context ctx;
  pidfd::spawn_options options;
  options.cgroup = pidfd::cgroup_placement::create_in(name);

  int out[2];
  if (::pipe2(out, O_CLOEXEC) == 0)
  {
    options.out = pidfd::stdio::fd(out[1]);
    pidfd::process cat =
        pidfd::spawn(ctx, "cat", {"/proc/self/cgroup"}, options);
    ::close(out[1]);
    const std::string text = read_fd(out[0]);
    ::close(out[0]);
    check(text.find("0::/" + name + "/pidfd-asio-") != std::string::npos,
        "the child is in its cgroup before execve");
    check(cat.wait().success(), "cat /proc/self/cgroup succeeds");
    boost::system::error_code tree_ec(EIO, boost::system::system_category());
    cat.async_wait_tree([&](boost::system::error_code ec) { tree_ec = ec; });
    ctx.run();
    check(!tree_ec, "async_wait_tree completes");
    check(!has_subdirectory(parent), "the created cgroup is removed");
  }
  options.out = {};

  pidfd::process sleeper = pidfd::spawn(ctx, "sleep", {"1000"}, options);
  sleeper.kill_tree();
  check(!has_subdirectory(parent), "kill_tree empties and removes it");
  pidfd::exit_status killed = sleeper.wait();
  check(killed.signaled() && killed.signal() == SIGKILL,
      "kill_tree kills the child");

  pidfd::process term = pidfd::spawn(ctx, "sleep", {"1000"}, options);
  term.signal_tree(SIGTERM);
  pidfd::exit_status termed = term.wait();
  check(termed.signaled() && termed.signal() == SIGTERM,
      "signal_tree reaches the child");
  term.kill_tree(); // waits for the (empty) cgroup and removes it
  check(!has_subdirectory(parent), "no cgroup is left");
  if (::rmdir(parent.c_str()) != 0)
    check(false, "the test's parent cgroup can be removed");
}

// Without a cgroup2 mount, a placement fails with a message saying so.
void exercise_no_cgroup2(const std::string& mount)
{
  if (::unshare(CLONE_NEWNS) != 0
      || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0
      || ::umount2(mount.c_str(), MNT_DETACH) != 0)
  {
    check(false, "a mount namespace without cgroup2");
    return;
  }
  check(cgroup2_mount().empty(), "cgroup2 is gone from mountinfo");
  boost::asio::io_context ctx;
  pidfd::spawn_options options;
  options.cgroup = pidfd::cgroup_placement::create_in("parent");
  boost::system::error_code ec;
  pidfd::spawn_error_info info;
  pidfd::spawn(ctx, "true", {}, options, ec, info);
  check(ec == boost::system::errc::no_such_file_or_directory,
      "no cgroup2 mount: ENOENT");
  check(info.failed == pidfd::spawn_error_info::part::cgroup,
      "no cgroup2 mount: the cgroup part");
  check(info.detail.find("no cgroup2 mount") != std::string::npos,
      "no cgroup2 mount: the message says so");
}

} // namespace

int main(int argc, char* argv[])
{
  if (argc != 2)
  {
    std::fprintf(stderr, "usage: %s SCENARIO\n", argv[0]);
    return 2;
  }
  const std::string_view name = argv[1];
  if (name == "ring_attach_refused")
  {
    ::unsetenv("PIDFD_ASIO_MECHANISM");
    return ring_attach_refused();
  }
  if (name == "ring_reaps")
  {
    ::unsetenv("PIDFD_ASIO_MECHANISM");
    return ring_reaps();
  }
  if (name == "no_ring_waitid")
  {
    ::unsetenv("PIDFD_ASIO_MECHANISM");
    ::setenv("PIDFD_ASIO_TEST_NO_RING_WAITID", "1", 1);
    return no_ring_waitid();
  }
  if (name == "forced_fallback")
    ::setenv("PIDFD_ASIO_FORCE_FALLBACK", "1", 1);
  if (name == "forced_epoll")
    ::setenv("PIDFD_ASIO_MECHANISM", "epoll", 1);
  else
    ::unsetenv("PIDFD_ASIO_MECHANISM");
  if (name == "no_cgroup_kill")
    ::setenv("PIDFD_ASIO_TEST_NO_CGROUP_KILL", "1", 1);
  const std::string mount = cgroup2_mount();
  if (!install_filter(name))
  {
    std::fprintf(stderr, "cannot install the seccomp filter\n");
    return 2;
  }

  const pidfd::kernel_features& f = pidfd::kernel_support();
  std::printf("%s: %s\n", argv[1], f.to_string().c_str());
  check(f.support_level() == expected_level(name),
      "the probe picks the expected level");
  if (name == "forced_fallback")
    check(f.forced_fallback, "forced_fallback is reported");
  if (name == "no_pidfd_group_signal")
  {
    check(f.pidfd && !f.pidfd_group_signal,
        "pidfds without PIDFD_SIGNAL_PROCESS_GROUP are reported");
    check(f.reason.find("PIDFD_SIGNAL_PROCESS_GROUP") != std::string::npos,
        "the missing PIDFD_SIGNAL_PROCESS_GROUP is the reason");
  }
  if (name == "full")
  {
    check(f.pidfd_group_signal == kernel_at_least(6, 9),
        "PIDFD_SIGNAL_PROCESS_GROUP is found from Linux 6.9");
    check(f.io_uring == (kernel_at_least(5, 17) && io_uring_enabled()),
        "io_uring waits where the kernel allows them (Linux 5.17)");
    check(f.io_uring_waitid
            == (f.io_uring && f.pidfd_group_signal && kernel_at_least(6, 7)),
        "the ring reaps where the kernel has IORING_OP_WAITID (Linux 6.7) "
        "and PIDFD_SIGNAL_PROCESS_GROUP (6.9)");
  }
  if (name == "no_io_uring" || name == "no_io_uring_enter")
  {
    check(f.pidfd && !f.io_uring, "io_uring refused: pidfds in the reactor");
    check(f.reason.find(
              name == "no_io_uring" ? "io_uring_setup" : "io_uring_enter")
            != std::string::npos,
        "the refused io_uring call is the reason");
    check(
        f.to_string().find("non-blocking pidfd + waitid") != std::string::npos,
        "the reactor's wait is named");
  }
  if (name == "forced_epoll")
    check(!f.io_uring
            && f.reason.find("PIDFD_ASIO_MECHANISM") != std::string::npos,
        "PIDFD_ASIO_MECHANISM=epoll keeps the pidfds in the reactor");
  if (!f.pidfd)
    check(!f.pidfd_group_signal, "no group signal through a pidfd");
  // Orphaned grandchildren become children of this process, to be reaped.
  check(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0, "subreaper");
  if (f.support_level() != level::full)
    check(!f.reason.empty(), "the reason is recorded");

  if (name == "no_clone_into_cgroup")
    check(::syscall(SYS_clone3, nullptr, 88) == -1 && errno == ENOSYS,
        "clone3 with the larger clone_args is refused");
  try
  {
    exercise();
    if (name == "no_cgroup2")
    {
      if (::geteuid() == 0 && !mount.empty())
        exercise_no_cgroup2(mount);
      else
        std::printf("no_cgroup2 checks skipped: needs root and cgroup2\n");
    }
    else if (::geteuid() == 0 && !mount.empty())
      exercise_cgroup(mount);
    else
      std::printf("cgroup checks skipped: needs root and cgroup2\n");
  }
  catch (const std::exception& e)
  {
    ++failures;
    std::fprintf(stderr, "FAILED with exception: %s\n", e.what());
  }
  std::printf("%s: %s\n", argv[1], failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
