//
// src/launch.cpp
// ~~~~~~~~~~~~~~
// Starting a child: clone3(CLONE_PIDFD | CLONE_VM | CLONE_VFORK), or clone()
// plus pidfd_open where clone3 is missing.
//

#include "pidfd/kernel_support.hpp"
#include "pidfd/spawn.hpp"

#include "detail/exec_plan.hpp"
#include "detail/features.hpp"
#include "detail/spawn_child.hpp"
#include "detail/syscalls.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>

#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>

namespace pidfd::detail {
namespace {

using boost::system::error_code;

error_code errno_code(int e) noexcept
{
  return {e, boost::system::system_category()};
}

// The child runs on this much of the parent's stack; it needs a few hundred
// bytes (no signal handler can run there: all signals are blocked or reset).
constexpr std::size_t child_stack_size = 16 * 1024;

std::atomic<bool> clear_sighand_refused{false};

// clone3 with CLONE_CLEAR_SIGHAND (Linux 5.5): the kernel resets every
// caught signal to SIG_DFL in the child, so no handler of the parent can run
// there, on the parent's memory, before execve. That makes the signal
// blocking and the 62 rt_sigaction calls of the clone() path unnecessary
// (they cost 13 us per spawn here, a fifth of a whole spawn).
// Returns the child's PID or -errno.
long clone3_child(child_plan& plan, int& pidfd, unsigned char* stack,
    std::size_t stack_size)
{
  clone_args args{};
  args.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_FILES;
  args.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  args.stack = reinterpret_cast<std::uintptr_t>(stack);
  args.stack_size = stack_size;
  if (!clear_sighand_refused.load(std::memory_order_relaxed))
  {
    args.flags |= CLONE_CLEAR_SIGHAND;
    long r = sys::clone3(args, &child_main, &plan);
    if (r != -EINVAL)
      return r;
    // Linux 5.3 and 5.4 have clone3 but not this flag.
    clear_sighand_refused.store(true, std::memory_order_relaxed);
    args.flags &= ~CLONE_CLEAR_SIGHAND;
  }
  sys::block_all_signals(plan.signal_mask);
  plan.reset_signals = true;
  long r = sys::clone3(args, &child_main, &plan);
  sys::restore_signals(plan.signal_mask);
  return r;
}

// clone() (vfork-style, on our stack) and pidfd_open: for kernels or
// seccomp policies without clone3. Returns the child's PID or -errno.
long clone_child(child_plan& plan, int& pidfd, unsigned char* stack,
    std::size_t stack_size)
{
  int flags = CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD;
  sys::block_all_signals(plan.signal_mask);
  plan.reset_signals = true;
  pid_t pid = ::clone(&child_main, stack + stack_size, flags, &plan);
  const int clone_errno = errno;
  sys::restore_signals(plan.signal_mask);
  if (pid < 0)
    return -clone_errno;
  if (plan.error != 0 || !kernel_support().pidfd)
    return pid; // execve failed (the caller reaps), or the wait4 fallback
  // Race-free: the child is ours and unreaped, so its PID cannot be reused
  // before this pidfd refers to it.
  error_code ec;
  pidfd = sys::pidfd_open(pid,
      kernel_support().nonblocking_pidfd ? PIDFD_NONBLOCK : 0u, ec);
  if (ec)
  {
    // Cannot happen on a kernel that passed the probe; do not leave the
    // child unwatched.
    ::kill(pid, SIGKILL);
    int status;
    while (::waitpid(pid, &status, __WALL) < 0 && errno == EINTR)
    {
    }
    return -ec.value();
  }
  return pid;
}

} // namespace

launched launch(std::string_view program,
    std::span<const std::string_view> args, const spawn_options& options,
    error_code& ec)
{
  exec_plan exec;
  if (!exec.build(program, args, options, ec))
    return {};

  const kernel_features& features = kernel_support();

  child_plan plan;
  plan.candidates = exec.candidates();
  plan.candidate_count = exec.candidate_count();
  plan.argv = exec.argv();
  plan.envp = exec.envp();
  plan.use_close_range = features.close_range;
  if (!plan.use_close_range)
  {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    plan.max_fd = limit.rlim_cur == RLIM_INFINITY
        ? 65535 : static_cast<int>(limit.rlim_cur);
  }

  alignas(64) unsigned char stack[child_stack_size];
  int pidfd = -1;
  const int saved_errno = errno;
  long r = -ENOSYS;
  if (features.pidfd && clone3_usable())
  {
    r = clone3_child(plan, pidfd, stack, sizeof stack);
    // A seccomp policy may refuse clone3 only when it is really used (the
    // probe's clone3(NULL, 0) passed): remember, and take the clone() path.
    if (r == -ENOSYS || r == -EPERM)
      note_clone3_unusable(static_cast<int>(-r));
  }
  if (r == -ENOSYS || r == -EPERM)
    r = clone_child(plan, pidfd, stack, sizeof stack);
  errno = saved_errno;

  if (r < 0)
  {
    ec = errno_code(static_cast<int>(-r));
    return {};
  }
  const pid_t pid = static_cast<pid_t>(r);
  if (plan.error != 0)
  {
    // execve failed and the child is exiting: reap it (by PID: it is our
    // unreaped child, so the PID cannot have been reused) so that no zombie
    // is left.
    int status;
    while (::waitpid(pid, &status, __WALL) < 0 && errno == EINTR)
    {
    }
    if (pidfd >= 0)
      ::close(pidfd);
    errno = saved_errno;
    ec = errno_code(plan.error);
    return {};
  }
  ec.clear();
  return {pidfd, pid};
}

} // namespace pidfd::detail
