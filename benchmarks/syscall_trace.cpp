//
// benchmarks/syscall_trace.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// A system-call counter on ptrace, for `pidfd_bench counts`: strace -c -f
// would count the children's system calls too (their execve, their whole
// run), and strace without -f would miss the library's threads in the
// wait4 fallback. Here the tracee's threads are followed
// (PTRACE_O_TRACECLONE) and its children are not: a clone with CLONE_VFORK
// or exit signal SIGCHLD is a vfork or fork event, which stays untraced
// unless asked for. PTRACE_GET_SYSCALL_INFO (Linux 5.3) gives the number
// without reading registers, the same way on every architecture.
//

#include "bench.hpp"

#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bench {

namespace {

[[noreturn]] void fail(const char* what)
{
  throw std::system_error(errno, std::generic_category(), what);
}

} // namespace

trace_result trace_syscalls(
    const std::string& path, char* const* argv, char* const* envp)
{
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    fail("pipe2");
  const pid_t pid = ::fork();
  if (pid < 0)
    fail("fork");
  if (pid == 0)
  {
    // Only async-signal-safe calls until execve. A refused PTRACE_TRACEME
    // is seen by the parent: the program then exits without stopping.
    ::dup2(p[1], 1);
    ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    ::execve(path.c_str(), argv, envp);
    ::_exit(127);
  }
  ::close(p[1]);

  trace_result r;
  r.phases.resize(1);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      fail("waitpid");
  // Traced, the program stops with SIGTRAP after its execve.
  r.traced = WIFSTOPPED(status);
  if (r.traced)
  {
    if (::ptrace(PTRACE_SETOPTIONS, pid, nullptr,
            PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL)
        != 0)
      fail("ptrace(PTRACE_SETOPTIONS)");
    ::ptrace(PTRACE_SYSCALL, pid, nullptr, nullptr);
    std::size_t phase = 0;
    for (;;)
    {
      const pid_t t = ::waitpid(-1, &status, __WALL);
      if (t < 0)
      {
        if (errno == EINTR)
          continue;
        fail("waitpid");
      }
      if (!WIFSTOPPED(status))
      {
        if (t == pid)
          break; // the program has exited; its threads went with it
        continue;
      }
      const int sig = WSTOPSIG(status);
      int deliver = 0;
      if (sig == (SIGTRAP | 0x80))
      {
        __ptrace_syscall_info info{};
        if (::ptrace(PTRACE_GET_SYSCALL_INFO, t,
                reinterpret_cast<void*>(sizeof info), &info)
                > 0
            && info.op == PTRACE_SYSCALL_INFO_ENTRY)
        {
          const long nr = static_cast<long>(info.entry.nr);
          if (nr == SYS_getppid && info.entry.args[0] == count_marker)
          {
            phase = static_cast<std::size_t>(info.entry.args[1]);
            if (r.phases.size() <= phase)
              r.phases.resize(phase + 1);
          }
          else
            ++r.phases[phase][nr];
        }
      }
      else if (sig == SIGTRAP && (status >> 16) != 0)
      {
        // PTRACE_EVENT_CLONE: a new thread, traced from now on.
      }
      else if (sig != SIGSTOP)
      {
        // A signal for the program (SIGCHLD from its children): deliver
        // it. A new thread's first stop is a SIGSTOP of ptrace's own.
        deliver = sig;
      }
      ::ptrace(PTRACE_SYSCALL, t, nullptr,
          reinterpret_cast<void*>(static_cast<long>(deliver)));
    }
  }
  r.wait_status = status;
  char buf[512];
  ssize_t k;
  while ((k = ::read(p[0], buf, sizeof buf)) > 0 || (k < 0 && errno == EINTR))
    if (k > 0)
      r.out.append(buf, static_cast<std::size_t>(k));
  ::close(p[0]);
  return r;
}

std::string syscall_name(long nr)
{
  // The calls a spawn+wait cycle of some variant makes; the others by
  // number.
  static const std::pair<long, const char*> names[] = {
#define PIDFD_BENCH_SYSCALL(name) {SYS_##name, #name},
    PIDFD_BENCH_SYSCALL(read) PIDFD_BENCH_SYSCALL(write) PIDFD_BENCH_SYSCALL(
        openat) PIDFD_BENCH_SYSCALL(close) PIDFD_BENCH_SYSCALL(close_range)
        PIDFD_BENCH_SYSCALL(fcntl) PIDFD_BENCH_SYSCALL(ioctl) PIDFD_BENCH_SYSCALL(
            pipe2) PIDFD_BENCH_SYSCALL(dup3) PIDFD_BENCH_SYSCALL(newfstatat)
            PIDFD_BENCH_SYSCALL(statx) PIDFD_BENCH_SYSCALL(getdents64) PIDFD_BENCH_SYSCALL(
                lseek) PIDFD_BENCH_SYSCALL(mmap) PIDFD_BENCH_SYSCALL(munmap)
                PIDFD_BENCH_SYSCALL(mprotect) PIDFD_BENCH_SYSCALL(madvise) PIDFD_BENCH_SYSCALL(
                    brk) PIDFD_BENCH_SYSCALL(rt_sigaction) PIDFD_BENCH_SYSCALL(rt_sigprocmask)
                    PIDFD_BENCH_SYSCALL(clone) PIDFD_BENCH_SYSCALL(
                        clone3) PIDFD_BENCH_SYSCALL(execve)
                        PIDFD_BENCH_SYSCALL(exit) PIDFD_BENCH_SYSCALL(exit_group) PIDFD_BENCH_SYSCALL(
                            wait4) PIDFD_BENCH_SYSCALL(waitid)
                            PIDFD_BENCH_SYSCALL(kill) PIDFD_BENCH_SYSCALL(tgkill) PIDFD_BENCH_SYSCALL(
                                getpid) PIDFD_BENCH_SYSCALL(gettid)
                                PIDFD_BENCH_SYSCALL(getppid) PIDFD_BENCH_SYSCALL(
                                    prctl) PIDFD_BENCH_SYSCALL(set_robust_list)
                                    PIDFD_BENCH_SYSCALL(rseq) PIDFD_BENCH_SYSCALL(
                                        futex) PIDFD_BENCH_SYSCALL(sched_yield)
                                        PIDFD_BENCH_SYSCALL(getrusage) PIDFD_BENCH_SYSCALL(
                                            clock_gettime) PIDFD_BENCH_SYSCALL(clock_nanosleep)
                                            PIDFD_BENCH_SYSCALL(epoll_create1) PIDFD_BENCH_SYSCALL(
                                                epoll_ctl) PIDFD_BENCH_SYSCALL(epoll_pwait)
                                                PIDFD_BENCH_SYSCALL(eventfd2) PIDFD_BENCH_SYSCALL(
                                                    timerfd_create)
                                                    PIDFD_BENCH_SYSCALL(
                                                        timerfd_settime)
                                                        PIDFD_BENCH_SYSCALL(
                                                            ppoll)
                                                            PIDFD_BENCH_SYSCALL(
                                                                pidfd_open)
                                                                PIDFD_BENCH_SYSCALL(
                                                                    pidfd_send_signal)
                                                                    PIDFD_BENCH_SYSCALL(
                                                                        io_uring_enter)
#if defined(__x86_64__)
    // The older calls aarch64 never had.
    PIDFD_BENCH_SYSCALL(open) PIDFD_BENCH_SYSCALL(pipe)
        PIDFD_BENCH_SYSCALL(dup2) PIDFD_BENCH_SYSCALL(fork)
            PIDFD_BENCH_SYSCALL(vfork) PIDFD_BENCH_SYSCALL(poll)
                PIDFD_BENCH_SYSCALL(epoll_wait) PIDFD_BENCH_SYSCALL(readlink)
#endif
#undef PIDFD_BENCH_SYSCALL
  };
  for (const auto& [number, name] : names)
    if (number == nr)
      return name;
  return format("#%ld", nr);
}

} // namespace bench
