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

// Returns the child's PID, or -errno. The caller has blocked all signals.
long clone_child(child_plan& plan, int& pidfd, bool use_clone3,
    unsigned char* stack, std::size_t stack_size)
{
  std::uint64_t flags = CLONE_VM | CLONE_VFORK;
  if (plan.fd_table_shared)
    flags |= CLONE_FILES;

  if (use_clone3)
  {
    clone_args args{};
    args.flags = flags | CLONE_PIDFD;
    args.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    args.stack = reinterpret_cast<std::uintptr_t>(stack);
    args.stack_size = stack_size;
    long r = sys::clone3(args, &child_main, &plan);
    // A seccomp policy may forbid clone3 (EPERM or ENOSYS) although the
    // probe's clone3(NULL, 0) passed, if it filters on the flags' pointer;
    // remember and take the clone() path.
    if (r != -ENOSYS && r != -EPERM)
      return r;
    note_clone3_unusable(-r);
  }

  pid_t pid = ::clone(&child_main, stack + stack_size,
      static_cast<int>(flags) | SIGCHLD, &plan);
  if (pid < 0)
    return -errno;
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
  if (!features.pidfd)
  {
    ec = errno_code(ENOSYS);
    return {};
  }

  child_plan plan;
  plan.candidates = exec.candidates();
  plan.candidate_count = exec.candidate_count();
  plan.argv = exec.argv();
  plan.envp = exec.envp();
  plan.fd_table_shared = features.close_range;
  if (!plan.fd_table_shared)
  {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    plan.max_fd = limit.rlim_cur == RLIM_INFINITY
        ? 65535 : static_cast<int>(limit.rlim_cur);
  }

  alignas(64) unsigned char stack[child_stack_size];
  int pidfd = -1;
  const int saved_errno = errno;
  sys::block_all_signals(plan.signal_mask);
  long r = clone_child(plan, pidfd, clone3_usable(), stack, sizeof stack);
  sys::restore_signals(plan.signal_mask);
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
    ::close(pidfd);
    errno = saved_errno;
    ec = errno_code(plan.error);
    return {};
  }
  ec.clear();
  return {pidfd, pid};
}

} // namespace pidfd::detail
