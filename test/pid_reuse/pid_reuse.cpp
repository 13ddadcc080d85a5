//
// test/pid_reuse/pid_reuse.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Proves that a stale process handle never signals the process that was
// given its recycled PID.
//
// Inside a new PID namespace (unshare(CLONE_NEWPID), root) the kernel is
// made to hand a finished child's PID to a new process (by writing
// ns_last_pid), and the stale handle is then used to send SIGKILL: it must
// report process_done, and the new process must be alive afterwards. Run
// once natively and once with PIDFD_ASIO_FORCE_FALLBACK=1 (where signals go
// by PID and only the reap lock protects them).
//
// Exit status: 0 passed, 1 failed, 77 skipped (not root / no namespaces).
//

#include <pidfd/asio.hpp>

#include <boost/asio/io_context.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <time.h>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

int failures = 0;

void check(bool ok, const char* what)
{
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (!ok)
    ++failures;
}

bool set_last_pid(pid_t pid)
{
  int fd = ::open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  std::string text = std::to_string(pid);
  bool ok = ::write(fd, text.data(), text.size())
      == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// Starts `sleep 1000` outside the library, so that nothing of ours refers
// to it; returns its PID.
pid_t start_bystander()
{
  pid_t pid = 0;
  char arg0[] = "sleep";
  char arg1[] = "1000";
  char* argv[] = {arg0, arg1, nullptr};
  if (::posix_spawnp(&pid, "sleep", nullptr, nullptr, argv, environ) != 0)
    return -1;
  return pid;
}

// Starts `sleep 1000` outside the library as the leader of a new process
// group, with SIGUSR1 blocked so that a SIGUSR1 sent to it stays pending
// (and visible) instead of ending it; returns its PID, which is the
// group's id.
pid_t start_group_bystander()
{
  posix_spawnattr_t attr;
  if (::posix_spawnattr_init(&attr) != 0)
    return -1;
  sigset_t mask;
  ::sigemptyset(&mask);
  ::sigaddset(&mask, SIGUSR1);
  ::posix_spawnattr_setsigmask(&attr, &mask);
  ::posix_spawnattr_setpgroup(&attr, 0);
  ::posix_spawnattr_setflags(
      &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  pid_t pid = 0;
  char arg0[] = "sleep";
  char arg1[] = "1000";
  char* argv[] = {arg0, arg1, nullptr};
  int rc = ::posix_spawnp(&pid, "sleep", nullptr, &attr, argv, environ);
  ::posix_spawnattr_destroy(&attr);
  return rc == 0 ? pid : -1;
}

// True if sig is pending for the process as a whole (ShdPnd in its
// /proc/<pid>/status): a signal sent to its group is queued there before
// kill() returns, so this needs no waiting.
bool signal_pending(pid_t pid, int sig)
{
  std::string path = "/proc/" + std::to_string(pid) + "/status";
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f)
    return false;
  char line[256];
  unsigned long long mask = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "ShdPnd: %llx", &mask) == 1)
      break;
  std::fclose(f);
  return (mask >> (sig - 1)) & 1;
}

bool alive_and_running(pid_t pid)
{
  siginfo_t info{};
  int r = ::waitid(
      P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
  return r == 0 && info.si_pid == 0;
}

void stop(pid_t pid)
{
  ::kill(pid, SIGKILL);
  int status;
  ::waitpid(pid, &status, 0);
}

// Busy-waits (CLOCK_BOOTTIME, which process start times come from) until
// the current clock tick is over, so a process started afterwards has a
// different start time than one started before.
void spin_past_clock_tick()
{
  const long long tick_ns = 1'000'000'000LL / ::sysconf(_SC_CLK_TCK);
  timespec t{};
  ::clock_gettime(CLOCK_BOOTTIME, &t);
  const long long start = t.tv_sec * 1'000'000'000LL + t.tv_nsec;
  long long now = start;
  while (now / tick_ns == start / tick_ns)
  {
    ::clock_gettime(CLOCK_BOOTTIME, &t);
    now = t.tv_sec * 1'000'000'000LL + t.tv_nsec;
  }
}

// A stale handle never signals a process group that got its leader's id.
// The new group's leader blocks SIGUSR1, so a SIGUSR1 that reached it would
// still be pending.
void check_process_groups(boost::asio::io_context& ctx)
{
  pidfd::spawn_options group;
  group.process_group = pidfd::process_group_mode::new_group;
  boost::system::error_code ec;

  // Collected by the library: its id is free for a new group at once.
  pidfd::process done = pidfd::spawn(ctx, "true", {}, group);
  const pid_t old_pgid = done.id();
  check(done.wait().success(), "the group leader exited and was collected");
  check(set_last_pid(old_pgid - 1), "ns_last_pid written for a group");
  const pid_t leader = start_group_bystander();
  check(leader == old_pgid && ::getpgid(leader) == old_pgid,
      "a new process group got the collected leader's id");
  done.signal_group(SIGUSR1, ec);
  check(ec == pidfd::error::process_done,
      "signal_group on the stale handle reports process_done");
  check(!signal_pending(leader, SIGUSR1),
      "the group that got the id did not receive the signal");
  // The check can fail: a signal to that group is seen at once.
  ::kill(-leader, SIGUSR1);
  check(signal_pending(leader, SIGUSR1), "a signal to the new group shows");
  stop(leader);

  // Reaped by someone else: the library never collected it. Natively the
  // kernel's pidfd (PIDFD_SIGNAL_PROCESS_GROUP) cannot reach the new group;
  // in the fallback the reaping is seen (by the start time, hence the
  // later clock tick) before killpg.
  pidfd::process stolen = pidfd::spawn(ctx, "true", {}, group);
  const pid_t stolen_pgid = stolen.id();
  spin_past_clock_tick();
  int status;
  ::waitpid(stolen_pgid, &status, __WALL);
  check(set_last_pid(stolen_pgid - 1), "ns_last_pid written for a group again");
  const pid_t second = start_group_bystander();
  check(second == stolen_pgid && ::getpgid(second) == stolen_pgid,
      "a new process group got the stolen leader's id");
  stolen.signal_group(SIGUSR1, ec);
  check(ec == pidfd::error::process_done,
      "signal_group for a leader reaped elsewhere reports process_done");
  check(!signal_pending(second, SIGUSR1),
      "the group that got the stolen leader's id did not receive it");
  stolen.wait(ec);
  check(ec == boost::system::errc::no_child_process,
      "waiting for a leader reaped elsewhere reports ECHILD");
  stop(second);
}

// Runs as PID 1 of the new namespace.
int run_checks()
{
  boost::asio::io_context ctx;
  std::printf("%s\n", pidfd::kernel_support().to_string().c_str());

  // A finished and collected child: its PID is free for reuse.
  pidfd::process done = pidfd::spawn(ctx, "true");
  const pid_t recycled = done.id();
  boost::system::error_code first_ec;
  const pidfd::process_identity first = done.identity(first_ec);
  check(done.wait().success(), "the first child exited and was collected");

  check(set_last_pid(recycled - 1), "ns_last_pid written");
  const pid_t bystander = start_bystander();
  check(bystander == recycled, "the kernel reused the collected child's PID");

  // The process that got the PID is someone else to the identity too (in
  // the fallback, without pidfds, there is no identity at all).
  {
    boost::system::error_code id_ec;
    pidfd::process adopted =
        pidfd::process::adopt(ctx.get_executor(), bystander);
    const pidfd::process_identity second = adopted.identity(id_ec);
    if (pidfd::kernel_support().forced_fallback)
      check(first_ec == pidfd::error::no_identity
              && id_ec == pidfd::error::no_identity,
          "the fallback reports no identity");
    else
      check(!first_ec && !id_ec && first != second && done.identity() == first,
          "the process with the recycled PID has another identity");
  }

  boost::system::error_code ec;
  done.signal(SIGKILL, ec);
  check(ec == pidfd::error::process_done,
      "the stale handle reports process_done");
  check(alive_and_running(bystander),
      "the process that got the PID did not receive the signal");
  stop(bystander);

  // A child that exited but was not collected yet holds its PID; the
  // handle still reports process_done rather than signalling the zombie.
  pidfd::process zombie = pidfd::spawn(ctx, "true");
  siginfo_t info{};
  ::waitid(P_PID, static_cast<id_t>(zombie.id()), &info, WEXITED | WNOWAIT);
  zombie.signal(SIGKILL, ec);
  check(ec == pidfd::error::process_done, "a zombie reports process_done");
  check(zombie.wait().success(), "the zombie's status is intact");

  // The same after someone else reaped our child: the PID is free at once.
  // Without pidfds only the process start time (in clock ticks) tells the
  // new owner of the PID apart, so it is started in a later tick; with
  // pidfds this needs no help.
  pidfd::process stolen = pidfd::spawn(ctx, "true");
  const pid_t stolen_pid = stolen.id();
  spin_past_clock_tick();
  int status;
  ::waitpid(stolen_pid, &status, __WALL);
  check(set_last_pid(stolen_pid - 1), "ns_last_pid written again");
  const pid_t second = start_bystander();
  check(second == stolen_pid, "the stolen child's PID was reused");
  stolen.signal(SIGKILL, ec);
  check(ec == pidfd::error::process_done,
      "a child reaped elsewhere reports process_done");
  check(alive_and_running(second), "the new owner of the PID is untouched");
  stolen.wait(ec);
  check(ec == boost::system::errc::no_child_process,
      "waiting for a child reaped elsewhere reports ECHILD");
  stop(second);

  check_process_groups(ctx);
  return failures == 0 ? 0 : 1;
}

} // namespace

int main()
{
  // A mount namespace too, so that the new PID namespace gets a /proc of
  // its own (the library reads /proc/<pid> in the fallback).
  if (::geteuid() != 0 || ::unshare(CLONE_NEWPID | CLONE_NEWNS) != 0)
  {
    std::printf(
        "skipped: needs root and PID namespaces (%s)\n", std::strerror(errno));
    return 77;
  }
  // The first child of this process is PID 1 of the new namespace.
  pid_t init = ::fork();
  if (init < 0)
    return 1;
  if (init == 0)
  {
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0
        || ::mount("proc", "/proc", "proc", 0, nullptr) != 0)
    {
      std::printf("skipped: cannot mount /proc (%s)\n", std::strerror(errno));
      std::fflush(stdout);
      ::_exit(77);
    }
    int rc = run_checks();
    std::fflush(stdout);
    ::_exit(rc);
  }
  int status = 0;
  ::waitpid(init, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
