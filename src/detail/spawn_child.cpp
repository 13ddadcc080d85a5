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

// Closes every fd above 2 of the (now private) table: those /proc/self/fd
// lists, or, without /proc, every number up to max_fd.
PIDFD_CHILD_CODE void close_inherited_fds(int max_fd) noexcept
{
  long dir = sys::child_open_directory("/proc/self/fd");
  if (dir < 0)
  {
    for (int fd = 3; fd <= max_fd; ++fd)
      sys::child_close(fd);
    return;
  }
  // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
  alignas(8) char buf[1024];
  for (;;)
  {
    long n = sys::child_getdents64(static_cast<int>(dir), buf, sizeof buf);
    if (n <= 0)
      break;
    for (long pos = 0; pos < n;)
    {
      const char* entry = buf + pos;
      unsigned short reclen;
      __builtin_memcpy(&reclen, entry + 16, sizeof reclen);
      const char* name = entry + 19;
      int fd = 0;
      bool number = *name != '\0';
      for (; *name; ++name)
      {
        if (*name < '0' || *name > '9')
          number = false;
        fd = fd * 10 + (*name - '0');
      }
      // Closing while listing is safe: getdents continues by fd number.
      if (number && fd > 2 && fd != dir)
        sys::child_close(fd);
      pos += reclen;
    }
  }
  sys::child_close(static_cast<int>(dir));
}

} // namespace

PIDFD_CHILD_CODE int child_main(void* arg) noexcept
{
  child_plan& plan = *static_cast<child_plan*>(arg);

  if (plan.reset_signals)
    sys::child_reset_signal_handlers();

  // Keep 0, 1 and 2 in a private table; everything else of the parent's,
  // O_CLOEXEC or not, is left behind without being copied.
  if (!plan.use_close_range || sys::child_close_range_unshare(3) < 0)
  {
    if (long r = sys::child_unshare_files(); r < 0)
    {
      plan.error = static_cast<int>(-r);
      sys::child_exit(127);
    }
    close_inherited_fds(plan.max_fd);
  }

  if (plan.reset_signals)
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
