//
// src/detail/spawn_child.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// Only async-signal-safe raw system calls run here: the child shares the
// parent's memory, so a lock, an allocation or a libc call that keeps state
// could corrupt the parent, as fork-less spawning in glibc's posix_spawn
// and Go's forkAndExecInChild also avoid.
//

#include "detail/spawn_child.hpp"

#include "detail/syscalls.hpp"

#include <cerrno>

namespace pidfd::detail {
namespace {

// execvp's rule for moving on to the next PATH entry.
PIDFD_CHILD_CODE bool try_next_entry(long err) noexcept
{
  switch (err)
  {
  case EACCES:
  case ENOENT:
  case ENOTDIR:
  case ESTALE:
  case ENODEV:
  case ETIMEDOUT:
    return true;
  default:
    return false;
  }
}

} // namespace

PIDFD_CHILD_CODE int child_main(void* arg) noexcept
{
  child_plan& plan = *static_cast<child_plan*>(arg);

  sys::child_reset_signal_handlers();

  if (plan.fd_table_shared)
  {
    // Keep 0, 1 and 2 in a private table; everything else of the parent's,
    // O_CLOEXEC or not, is left behind without being copied.
    long r = sys::child_close_range_unshare(3);
    if (r < 0)
    {
      plan.error = static_cast<int>(-r);
      sys::child_exit(127);
    }
  }
  else
  {
    // The table was copied at clone (no close_range, Linux < 5.9).
    for (int fd = 3; fd <= plan.max_fd; ++fd)
      sys::child_close(fd);
  }

  sys::child_set_signal_mask(plan.signal_mask);

  long err = ENOENT;
  bool saw_eacces = false;
  for (std::size_t i = 0; i < plan.candidate_count; ++i)
  {
    err = -sys::child_execve(plan.candidates[i], plan.argv, plan.envp);
    saw_eacces = saw_eacces || err == EACCES;
    if (!try_next_entry(err))
      break;
  }
  // As execvp: a PATH entry that denied access explains the failure better
  // than the ENOENT of the last entry.
  if (saw_eacces && try_next_entry(err))
    err = EACCES;
  plan.error = static_cast<int>(err);
  sys::child_exit(127);
}

} // namespace pidfd::detail
