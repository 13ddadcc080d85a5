//
// src/detail/spawn_child.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// Only async-signal-safe raw system calls run here: the child shares the
// parent's memory, so a lock, an allocation or a libc call that keeps state
// could corrupt the parent, as fork-less spawning in glibc's posix_spawn
// and Go's forkAndExecInChild also avoid. (A child in a new user namespace
// is a fork with a copy instead, see child_plan::handshake: the same code
// serves it, as a copy of a multithreaded process needs too.)
//

#include "detail/spawn_child.hpp"

#include "detail/syscalls.hpp"

#include <cerrno>

#include <sys/prctl.h>

namespace pidfd::detail {
namespace {

[[noreturn]] PIDFD_CHILD_CODE void fail(
    child_plan& plan, child_stage stage, long err, int index = -1) noexcept
{
  plan.error = static_cast<int>(err < 0 ? -err : err);
  plan.error_stage = stage;
  plan.error_index = index;
  if (plan.handshake.report_fd >= 0)
  {
    // A forked child's plan is its own copy: the parent reads this instead.
    const child_report report{plan.error, stage, index};
    sys::child_write(plan.handshake.report_fd, &report, sizeof report);
  }
  sys::child_exit(127);
}

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

// Closes every fd above `last_kept` of the (private) table: with
// close_range, or those /proc/self/fd lists, or every number up to max_fd.
PIDFD_CHILD_CODE void close_above(
    const child_plan& plan, int last_kept) noexcept
{
  if (plan.use_close_range
      && sys::child_close_range(static_cast<unsigned>(last_kept) + 1) == 0)
    return;
  long dir = sys::child_open_directory("/proc/self/fd");
  if (dir < 0)
  {
    for (int fd = last_kept + 1; fd <= plan.max_fd; ++fd)
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
      if (number && fd > last_kept && fd != dir)
        sys::child_close(fd);
      pos += reclen;
    }
  }
  sys::child_close(static_cast<int>(dir));
}

// Takes a private fd table holding fds 0..keep_max of the shared one.
// Nothing before this may touch the table: it is still the parent's.
PIDFD_CHILD_CODE void unshare_fd_table(child_plan& plan) noexcept
{
  if (plan.use_close_range
      && sys::child_close_range_unshare(
             static_cast<unsigned>(plan.keep_max) + 1)
          == 0)
    return;
  if (long r = sys::child_unshare_files(); r < 0)
    fail(plan, child_stage::unshare_fds, r);
  close_above(plan, plan.keep_max);
}

PIDFD_CHILD_CODE bool is_target(const child_plan& plan, int fd) noexcept
{
  for (std::size_t i = 0; i < plan.fd_action_count; ++i)
    if (plan.fd_actions[i].target == fd)
      return true;
  return false;
}

// Puts every fd action in place. All sources are first duplicated above
// every target (so that setting one target cannot clobber the source of
// another), then duplicated onto their targets, and then everything that is
// not a target is closed. F_DUPFD takes the lowest free number at or above
// target_end, so the copies clobber nothing either. The base must not be
// keep_max + 1: when the highest source is RLIMIT_NOFILE - 1, F_DUPFD
// fails with EINVAL for a base at the limit.
PIDFD_CHILD_CODE void arrange_fds(child_plan& plan) noexcept
{
  const int base = plan.target_end;
  for (std::size_t i = 0; i < plan.fd_action_count; ++i)
  {
    fd_action& a = plan.fd_actions[i];
    if (a.same_as_target >= 0)
      continue;
    // An fd kept at its own number needs no copy: no other action targets
    // it (targets are unique), and it may be RLIMIT_NOFILE - 1 itself.
    if (!a.path && a.source == a.target)
    {
      a.moved = a.source;
      continue;
    }
    long src = a.source;
    if (a.path)
    {
      src = sys::child_open(a.path, a.open_flags);
      if (src < 0)
        fail(plan, child_stage::open_file, src, static_cast<int>(i));
    }
    long moved = sys::child_dup_above(static_cast<int>(src), base);
    if (moved < 0)
      fail(plan, child_stage::duplicate_fd, moved, static_cast<int>(i));
    if (a.path)
      sys::child_close(static_cast<int>(src));
    a.moved = static_cast<int>(moved);
  }
  // The report pipe's original number may be a target: fail() uses its
  // copy until its own target is in place.
  const int report = plan.handshake.report_action;
  if (report >= 0)
    plan.handshake.report_fd = plan.fd_actions[report].moved;
  for (std::size_t i = 0; i < plan.fd_action_count; ++i)
  {
    fd_action& a = plan.fd_actions[i];
    const int from = a.same_as_target >= 0 ? a.same_as_target : a.moved;
    if (long r = a.close_on_exec ? sys::child_dup2_cloexec(from, a.target)
                                 : sys::child_dup2(from, a.target);
        r < 0)
      fail(plan, child_stage::duplicate_fd, r, static_cast<int>(i));
  }
  if (report >= 0)
    plan.handshake.report_fd = plan.fd_actions[report].target;
  for (int fd = 3; fd < plan.target_end; ++fd)
    if (!is_target(plan, fd))
      sys::child_close(fd);
  close_above(plan, plan.target_end - 1);
}

// In the child's new namespaces, before anything else uses them: its
// mounts stop propagating, and it gets its hostname.
PIDFD_CHILD_CODE void enter_namespaces(child_plan& plan) noexcept
{
  const confinement_plan& c = plan.confine;
  if (c.namespace_flags & CLONE_NEWNS)
  {
    if (long r = sys::child_make_mounts_private(); r < 0)
      fail(plan, child_stage::mount_propagation, r);
  }
  if (c.hostname)
  {
    if (long r = sys::child_sethostname(c.hostname, c.hostname_size); r < 0)
      fail(plan, child_stage::hostname, r);
  }
}

// Resource limits and scheduling: before the credentials, while the child
// may still have the privilege they need, and before a new root, which
// may have no /proc for oom_score_adj.
PIDFD_CHILD_CODE void limit_and_schedule(child_plan& plan) noexcept
{
  const confinement_plan& c = plan.confine;
  for (std::size_t i = 0; i < c.limit_count; ++i)
  {
    const resource_limit& l = c.limits[i];
    if (long r = sys::child_set_limit(l.resource, l.soft, l.hard); r < 0)
      fail(plan, child_stage::resource_limit, r, static_cast<int>(i));
  }
  if (c.set_nice)
  {
    if (long r = sys::child_set_nice(c.nice); r < 0)
      fail(plan, child_stage::nice, r);
  }
  if (c.set_affinity)
  {
    if (long r = sys::child_set_affinity(c.affinity); r < 0)
      fail(plan, child_stage::cpu_affinity, r);
  }
  if (c.oom_score_adj_size > 0)
  {
    long fd = sys::child_open("/proc/self/oom_score_adj", O_WRONLY);
    long r = fd;
    if (fd >= 0)
    {
      r = sys::child_write(
          static_cast<int>(fd), c.oom_score_adj, c.oom_score_adj_size);
      sys::child_close(static_cast<int>(fd));
    }
    if (r < 0)
      fail(plan, child_stage::oom_score_adj, r);
  }
}

// Before the credentials, while the child still has CAP_SETPCAP: the
// bounding set loses what was asked; and where ambient capabilities are
// to survive a change of uid, the permitted set is kept through it.
PIDFD_CHILD_CODE void prepare_capabilities(child_plan& plan) noexcept
{
  const confinement_plan& c = plan.confine;
  for (std::size_t i = 0; i < c.drop_bounding_count; ++i)
  {
    if (long r = sys::child_drop_bounding_capability(c.drop_bounding[i]); r < 0)
      fail(plan, child_stage::drop_bounding_capability, r, static_cast<int>(i));
  }
  if (c.ambient_count > 0 && plan.set_uid)
  {
    if (long r = sys::child_keep_capabilities(true); r < 0)
      fail(plan, child_stage::keep_capabilities, r);
  }
}

// After the credentials, before anything a credential change would reset
// (the parent death signal): the permitted, effective and inheritable sets
// become exactly the ambient capabilities, which are then raised, so that
// the program gets them (and only them) across execve.
PIDFD_CHILD_CODE void raise_ambient_capabilities(child_plan& plan) noexcept
{
  const confinement_plan& c = plan.confine;
  if (c.ambient_count == 0)
    return;
  if (long r = sys::child_set_capabilities(c.ambient_mask); r < 0)
    fail(plan, child_stage::set_capabilities, r);
  for (std::size_t i = 0; i < c.ambient_count; ++i)
  {
    if (long r = sys::child_raise_ambient_capability(c.ambient[i]); r < 0)
      fail(plan, child_stage::ambient_capability, r, static_cast<int>(i));
  }
}

// After the credentials: no_new_privs, the signal state, and the seccomp
// filter last, so that it filters none of the library's own steps.
PIDFD_CHILD_CODE void restrict_before_exec(child_plan& plan) noexcept
{
  const confinement_plan& c = plan.confine;
  if (c.no_new_privs)
  {
    if (long r = sys::child_set_no_new_privs(); r < 0)
      fail(plan, child_stage::no_new_privs, r);
  }
  if (c.default_all_signals)
  {
    for (int sig = 1; sig < _NSIG; ++sig)
      if (sig != SIGKILL && sig != SIGSTOP)
        sys::child_set_default_action(sig); // EINVAL for none of these
  }
  for (std::size_t i = 0; i < c.default_signal_count; ++i)
  {
    if (long r = sys::child_set_default_action(c.default_signals[i]); r < 0)
      fail(plan, child_stage::default_signal, r, static_cast<int>(i));
  }
  // The mask asked for, or (where the parent blocked every signal around
  // the clone) the parent's.
  if (c.set_signal_mask)
    sys::child_set_signal_mask(c.signal_mask);
  else if (plan.reset_signals)
    sys::child_set_signal_mask(plan.signal_mask);
  if (c.seccomp_filter)
  {
    if (long r = sys::child_set_seccomp_filter(c.seccomp_filter); r < 0)
      fail(plan, child_stage::seccomp, r);
  }
}

// The session or process group of its own, if asked for (or a pty's).
PIDFD_CHILD_CODE void join_session(child_plan& plan) noexcept
{
  if (plan.new_session)
  {
    if (long r = sys::child_setsid(); r < 0)
      fail(plan, child_stage::process_group, r);
  }
  else if (plan.new_process_group || plan.join_process_group > 0)
  {
    if (long r = sys::child_setpgid(plan.join_process_group); r < 0)
      fail(plan, child_stage::process_group, r);
  }
}

// After setsid (a session leader without a terminal may acquire one) and
// on the child's own fd: the terminal becomes the session's, and the
// child's group its foreground group, which gets SIGINT for ^C and
// SIGWINCH on a resize. The parent opened it O_NOCTTY, so it never was the
// parent's.
// Then, with the fds in place: a foreground job takes its terminal, or the
// child gives up the one it inherited.
PIDFD_CHILD_CODE void take_terminal(child_plan& plan) noexcept
{
  if (plan.controlling_terminal >= 0)
  {
    if (long r = sys::child_set_controlling_terminal(plan.controlling_terminal);
        r < 0)
      fail(plan, child_stage::controlling_terminal, r);
  }
  if (plan.foreground_terminal >= 0)
  {
    if (long r = sys::child_take_foreground(plan.foreground_terminal); r < 0)
      fail(plan, child_stage::foreground, r);
  }
  if (plan.detach_terminal)
  {
    if (long r = sys::child_detach_terminal(0); r < 0)
      fail(plan, child_stage::detach_terminal, r);
  }
}

// umask, root and working directory. After the fds (stdio files are the
// caller's paths, outside a new root); the working directory and the
// program are then found inside.
PIDFD_CHILD_CODE void change_directories(child_plan& plan) noexcept
{
  if (plan.set_umask)
    sys::child_umask(plan.umask);
  if (plan.confine.root_directory)
  {
    if (long r = sys::child_chroot(plan.confine.root_directory); r < 0)
      fail(plan, child_stage::root_directory, r);
    if (!plan.working_directory)
    {
      if (long r = sys::child_chdir("/"); r < 0)
        fail(plan, child_stage::root_directory, r);
    }
  }
  if (plan.working_directory)
  {
    if (long r = sys::child_chdir(plan.working_directory); r < 0)
      fail(plan, child_stage::change_directory, r);
  }
}

// Groups first, then the group id, then the user id: once the user id is
// dropped, the others can no longer be changed.
PIDFD_CHILD_CODE void set_credentials(child_plan& plan) noexcept
{
  if (plan.set_groups)
  {
    if (long r = sys::child_setgroups(plan.group_count, plan.groups); r < 0)
      fail(plan, child_stage::set_groups, r);
  }
  if (plan.set_gid)
  {
    if (long r = sys::child_setresgid(plan.gid); r < 0)
      fail(plan, child_stage::set_gid, r);
  }
  if (plan.set_uid)
  {
    if (long r = sys::child_setresuid(plan.uid); r < 0)
      fail(plan, child_stage::set_uid, r);
  }
}

// After every credential change, which would clear it.
PIDFD_CHILD_CODE void set_parent_death_signal(child_plan& plan) noexcept
{
  if (plan.parent_death_signal == 0)
    return;
  if (long r = sys::child_set_pdeathsig(plan.parent_death_signal); r < 0)
    fail(plan, child_stage::parent_death_signal, r);
  // The parent may have died before the setting took effect; then the
  // signal will never come, so send it now. Compare with the spawner's PID,
  // not with 1: a subreaper may have adopted us. In a new PID namespace the
  // parent is outside and getppid() says 0, whether it lives or not: no
  // check can be made there.
  if ((plan.confine.namespace_flags & CLONE_NEWPID) == 0
      && sys::child_getppid() != plan.parent_pid)
    sys::child_raise(plan.parent_death_signal);
}

// execve of each candidate in turn, or execveat of the program's fd;
// returns only to fail.
[[noreturn]] PIDFD_CHILD_CODE void exec_program(child_plan& plan) noexcept
{
  if (plan.executable_fd >= 0)
    fail(plan, child_stage::exec,
        sys::child_execveat(plan.executable_fd, plan.argv, plan.envp));
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
  fail(plan, child_stage::exec, err);
}

// A forked child in a new user namespace waits here for its id maps (see
// child_plan::handshake), before any step that needs them.
PIDFD_CHILD_CODE void wait_for_id_maps(child_plan& plan) noexcept
{
  const child_plan::fork_handshake& h = plan.handshake;
  if (h.release_fd < 0)
    return;
  if (h.make_dumpable)
  {
    // Our own mm (no CLONE_VM): the parent's stays as it is.
    sys::child_set_dumpable();
    sys::child_write(h.report_fd, "r", 1);
  }
  char go = 0;
  if (sys::child_read(h.release_fd, &go, 1) != 1)
    sys::child_exit(127); // the parent failed and will say why
}

} // namespace

PIDFD_CHILD_CODE int child_main(void* arg) noexcept
{
  child_plan& plan = *static_cast<child_plan*>(arg);

  if (plan.reset_signals)
    sys::child_reset_signal_handlers();
  wait_for_id_maps(plan);

  // First of all, so that everything the child does, and the program, is
  // accounted to the cgroup and reached by the tree operations. The fd is
  // the parent's (the table is still shared) and close-on-exec.
  if (plan.cgroup_procs_fd >= 0)
  {
    if (long r = sys::child_write(plan.cgroup_procs_fd, "0", 1); r < 0)
      fail(plan, child_stage::cgroup, r);
  }

  // Keep only what the child needs; everything else of the parent's,
  // O_CLOEXEC or not, is left behind without being copied.
  unshare_fd_table(plan);

  // The order spawn_options documents (Confinement).
  enter_namespaces(plan);
  join_session(plan);
  if (plan.fd_action_count > 0)
    arrange_fds(plan);
  take_terminal(plan);
  limit_and_schedule(plan); // before a new root: it writes to /proc
  change_directories(plan);
  prepare_capabilities(plan);
  set_credentials(plan);
  raise_ambient_capabilities(plan);
  set_parent_death_signal(plan);
  restrict_before_exec(plan);
  exec_program(plan);
}

} // namespace pidfd::detail
