//
// src/launch.cpp
// ~~~~~~~~~~~~~~
// Starting a child: clone3(CLONE_PIDFD | CLONE_VM | CLONE_VFORK), or clone()
// where clone3 is missing (the wait mechanism then opens the pidfd); into a
// cgroup with CLONE_INTO_CGROUP, or by the child itself where that is
// missing.
//

#include "pidfd/engine/launch.hpp"

#include "pidfd/error.hpp"
#include "pidfd/kernel_support.hpp"

#include "detail/cgroup.hpp"
#include "detail/confinement.hpp"
#include "detail/exec_plan.hpp"
#include "detail/fd_setup.hpp"
#include "detail/features.hpp"
#include "detail/spawn_child.hpp"
#include "detail/syscalls.hpp"
#include "detail/user_namespace.hpp"

#include <boost/system/system_error.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>

#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>

namespace pidfd::detail {
namespace {

using boost::system::error_code;

// Reaps our own child by PID: it is unreaped, so the PID is still its own.
void reap(pid_t pid) noexcept
{
  int status;
  error_code ignored;
  sys::waitpid(pid, status, __WALL, ignored);
}

// A child that is not handed out after all: killed first if it may still
// be running, then reaped so that no zombie is left, and its pidfd (-1 for
// none) closed.
void discard_child(pid_t pid, int pidfd, bool kill) noexcept
{
  if (kill)
  {
    error_code ignored;
    sys::kill(pid, SIGKILL, ignored);
  }
  reap(pid);
  if (pidfd >= 0)
    sys::close(pidfd);
}

// The same for a child the kernel reaps (CLONE_AUTOREAP): its PID may be
// free, even reused, already, so it is reached through its pidfd only,
// and closing that pidfd kills it anyway (CLONE_PIDFD_AUTOKILL).
void discard_autoreaped_child(int pidfd) noexcept
{
  error_code ignored;
  sys::pidfd_send_signal(pidfd, SIGKILL, ignored);
  sys::close(pidfd);
}

// The child runs on this much of the parent's stack; it needs a few hundred
// bytes (no signal handler can run there: all signals are blocked or reset).
constexpr std::size_t child_stack_size = 16 * 1024;

// The child shares the parent's memory and fd table, and the parent
// thread waits until it has run its program (vfork): unless the parent
// must write its id maps meanwhile (child_plan::handshake), when it is a
// fork with copies of both.
unsigned long sharing_flags(const child_plan& plan) noexcept
{
  return plan.handshake.release_fd >= 0 ? 0UL
                                        : CLONE_VM | CLONE_VFORK | CLONE_FILES;
}

std::atomic<bool> clear_sighand_refused{false};
std::atomic<bool> into_cgroup_refused{false};
std::atomic<bool> autokill_refused{false};

// clone3 with CLONE_CLEAR_SIGHAND (Linux 5.5): the kernel resets every
// caught signal to SIG_DFL in the child, so no handler of the parent can run
// there, on the parent's memory, before execve. That makes the signal
// blocking and the 62 rt_sigaction calls of the clone() path unnecessary
// (they cost 13 us per spawn here, a fifth of a whole spawn).
// Returns the child's PID or -errno. With Linux 7.1's flags in args, an
// EINVAL may be theirs: it is returned, and teaches nothing about
// CLONE_CLEAR_SIGHAND.
long clone3_signals(child_plan& plan, clone_args& args, std::size_t size)
{
  if (!clear_sighand_refused.load(std::memory_order_relaxed))
  {
    args.flags |= CLONE_CLEAR_SIGHAND;
    long r = sys::clone3(args, size, &child_main, &plan);
    args.flags &= ~CLONE_CLEAR_SIGHAND;
    if (r != -EINVAL || (args.flags & CLONE_PIDFD_AUTOKILL) != 0)
      return r;
    // Linux 5.3 and 5.4 have clone3 but not this flag.
    clear_sighand_refused.store(true, std::memory_order_relaxed);
  }
  sys::block_all_signals(plan.signal_mask);
  plan.reset_signals = true;
  long r = sys::clone3(args, size, &child_main, &plan);
  sys::restore_signals(plan.signal_mask);
  return r;
}

// clone3, into the cgroup `tree` (if any) with CLONE_INTO_CGROUP (Linux
// 5.7): the child starts there and never runs an instruction outside. Where
// the kernel does not know the flag (E2BIG for the larger clone_args before
// 5.7, EINVAL, or ENOSYS from a policy that knows only the smaller one) or
// refuses it, the child moves itself through `procs_fd` instead, which
// also reports a refusal that is not about the flag with the cgroup's path.
long clone3_child(child_plan& plan, int& pidfd, unsigned char* stack,
    std::size_t stack_size, const cgroup_tree* tree, int procs_fd,
    bool autokill)
{
  clone_args args{};
  args.flags = sharing_flags(plan) | CLONE_PIDFD | plan.confine.namespace_flags;
  args.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  if (autokill)
  {
    // The kernel reaps it, so it sends no exit signal (AUTOREAP demands 0).
    args.flags |= CLONE_PIDFD_AUTOKILL | CLONE_AUTOREAP | CLONE_NNP;
    args.exit_signal = 0;
  }
  args.stack = reinterpret_cast<std::uintptr_t>(stack);
  args.stack_size = stack_size;
  plan.cgroup_procs_fd = -1;
  if (tree && !into_cgroup_refused.load(std::memory_order_relaxed))
  {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<std::uint64_t>(tree->dir_fd());
    long r = clone3_signals(plan, args, CLONE_ARGS_SIZE_VER2);
    // With the 7.1 flags an error may be theirs: the caller tries again
    // without them, and learns about CLONE_INTO_CGROUP then.
    if (r >= 0 || autokill)
      return r;
    if (r == -E2BIG || r == -EINVAL || r == -ENOSYS)
      into_cgroup_refused.store(true, std::memory_order_relaxed);
    args.flags &= ~CLONE_INTO_CGROUP;
    args.cgroup = 0;
  }
  if (tree)
    plan.cgroup_procs_fd = procs_fd;
  return clone3_signals(plan, args, CLONE_ARGS_SIZE_VER0);
}

// clone() (vfork-style, on our stack): for kernels or seccomp policies
// without clone3. Returns the child's PID or -errno. No pidfd: the wait
// mechanism opens one if it uses pidfds (make_spawned), race-free while
// the child is unreaped.
long clone_child(child_plan& plan, unsigned char* stack, std::size_t stack_size)
{
  const unsigned long flags =
      sharing_flags(plan) | SIGCHLD | plan.confine.namespace_flags;
  sys::block_all_signals(plan.signal_mask);
  plan.reset_signals = true;
  long r = sys::clone(flags, stack + stack_size, &child_main, &plan);
  sys::restore_signals(plan.signal_mask);
  return r;
}

// clone3 where the kernel and the seccomp policy allow it, else clone():
// the child's PID, or -errno; clone3's pidfd in `pidfd`. The child runs on
// this frame's stack, which it leaves before clone returns (vfork), or on
// its copy of it (a fork). With die_with_owner, Linux 7.1's flags first
// (`autoreaped` then says the kernel reaps the child).
long start_child(const kernel_features& features, child_plan& plan,
    cgroup_tree* tree, int procs_fd, int& pidfd, bool& autoreaped)
{
  alignas(64) unsigned char stack[child_stack_size];
  long r = -ENOSYS;
  autoreaped = false;
  if (features.pidfd && clone3_usable() && plan.die_with_owner
      && features.pidfd_autokill
      && !autokill_refused.load(std::memory_order_relaxed))
  {
    // Linux 7.1: the pidfd is the child's lifeline, so the parent-death
    // signal (which would also fire when this thread exits) is not set.
    const int death_signal = std::exchange(plan.parent_death_signal, 0);
    r = clone3_child(plan, pidfd, stack, sizeof stack, tree, procs_fd, true);
    if (r >= 0)
    {
      autoreaped = true;
      return r;
    }
    plan.parent_death_signal = death_signal;
    // The probe saw the flags known; a kernel or policy that refuses them
    // when they are really used gets the fallback from now on.
    if (r == -EINVAL || r == -EPERM || r == -ENOSYS)
      autokill_refused.store(true, std::memory_order_relaxed);
  }
  if (features.pidfd && clone3_usable())
  {
    r = clone3_child(plan, pidfd, stack, sizeof stack, tree, procs_fd, false);
    // A seccomp policy may refuse clone3 only when it is really used (the
    // probe's clone3(NULL, 0) passed): remember, and take the clone() path.
    // EPERM for new namespaces is the kernel's refusal of those (clone()
    // gets it too), not the policy's.
    if (r == -ENOSYS || (r == -EPERM && plan.confine.namespace_flags == 0))
      note_clone3_unusable(static_cast<int>(-r));
  }
  if (r == -ENOSYS || r == -EPERM)
  {
    plan.cgroup_procs_fd = procs_fd;
    r = clone_child(plan, stack, sizeof stack);
  }
  return r;
}

using part = spawn_error_info::part;

// A failure in the child: the part of the spawn it belongs to (in info) and
// the message part that says what failed (returned).
std::string explain_failure(const child_plan& plan, const fd_setup& fds,
    const spawn_options& options, const cgroup_tree* tree,
    spawn_error_info& info)
{
  const bool user_namespace = options.new_namespaces.user;
  // setresuid/setresgid's EINVAL: an id the namespace does not map.
  const bool unmapped = user_namespace && plan.error == EINVAL;
  switch (plan.error_stage)
  {
  case child_stage::cgroup:
    info.failed = part::cgroup;
    return "moving into cgroup \"" + (tree ? tree->path() : "") + "\"";
  case child_stage::unshare_fds:
    info.failed = part::system;
    return "unsharing the fd table";
  case child_stage::process_group:
    info.failed = part::process_group;
    if (plan.join_process_group > 0)
      return "join_process_group " + std::to_string(plan.join_process_group)
          + " (setpgid)";
    return plan.new_session ? "setsid" : "setpgid";
  case child_stage::controlling_terminal:
    info.failed = part::terminal;
    info.child_fd = plan.controlling_terminal;
    if (options.controlling_terminal)
      return "controlling_terminal " + std::to_string(plan.controlling_terminal)
          + " (TIOCSCTTY)";
    return "terminal: making it the controlling terminal (TIOCSCTTY)";
  case child_stage::foreground:
    info.failed = part::terminal;
    info.child_fd = plan.foreground_terminal;
    return "foreground_terminal " + std::to_string(plan.foreground_terminal)
        + " (tcsetpgrp)";
  case child_stage::detach_terminal:
    info.failed = part::terminal;
    info.child_fd = 0;
    return "detach_terminal: fd 0 (TIOCNOTTY)";
  case child_stage::open_file:
  case child_stage::duplicate_fd:
    info.child_fd = fds.target_of(plan.error_index);
    info.failed = info.child_fd >= 0 && info.child_fd < 3 ? part::stdio
                                                          : part::inherited_fd;
    return fds.describe(plan.error_index);
  case child_stage::umask:
    info.failed = part::program;
    return "umask";
  case child_stage::change_directory:
    info.failed = part::working_directory;
    return "working directory \"" + *options.working_directory + "\"";
  case child_stage::set_groups:
    info.failed = part::credentials;
    return std::string(options.groups ? "setgroups"
                                      : "setgroups: dropping the supplementary "
                                        "groups for uid/gid "
                                        "(spawn_options::groups unset; "
                                        "keep_groups keeps them)")
        + (user_namespace && options.new_namespaces.gid_map.empty()
                ? " (in a new user namespace, setgroups needs a gid_map)"
                : "");
  case child_stage::set_gid:
    info.failed = part::credentials;
    return "setgid " + std::to_string(*options.gid)
        + (unmapped ? " (not in the new user namespace's gid_map)" : "");
  case child_stage::set_uid:
    info.failed = part::credentials;
    return "setuid " + std::to_string(*options.uid)
        + (unmapped ? " (not in the new user namespace's uid_map)" : "");
  case child_stage::parent_death_signal:
    info.failed = part::parent_death_signal;
    return "parent death signal";
  case child_stage::exec:
    info.failed = part::program;
    if (options.executable_fd)
      return "executable fd " + std::to_string(*options.executable_fd);
    return {};
  case child_stage::none:
    break;
  default:
    return explain_confinement_failure(plan, options, info);
  }
  info.failed = part::program;
  return {};
}

// True if `fd` is one the child will have: 0-2 or an inherited fd.
bool is_child_fd(const spawn_options& options, int fd)
{
  return (fd >= 0 && fd < 3)
      || std::any_of(options.inherited_fds.begin(), options.inherited_fds.end(),
          [fd](const fd_mapping& m) { return m.child_fd == fd; });
}

// join_process_group, controlling_terminal, foreground_terminal and
// detach_terminal, with each other and with the rest.
bool check_job_control(
    const spawn_options& options, error_code& ec, spawn_error_info& info)
{
  auto invalid = [&](part p, std::string what) {
    return refuse_option(ec, info, p, std::move(what));
  };
  const bool own_group = options.process_group != process_group_mode::inherit;
  const bool on_pty = options.in.type() == stdio::kind::pty
      || options.out.type() == stdio::kind::pty
      || options.err.type() == stdio::kind::pty;
  if (const auto& g = options.join_process_group)
  {
    if (*g <= 0)
      return invalid(part::process_group,
          "join_process_group " + std::to_string(*g)
              + ": not a process group id");
    if (own_group || options.controlling_terminal || on_pty)
      return invalid(part::process_group,
          "join_process_group " + std::to_string(*g)
              + ": with a group or session of the child's own");
  }
  if (const auto& t = options.controlling_terminal)
  {
    if (!is_child_fd(options, *t))
      return invalid(part::terminal,
          "controlling_terminal " + std::to_string(*t)
              + ": not one of the child's fds");
    if (on_pty)
      return invalid(part::terminal,
          "controlling_terminal " + std::to_string(*t)
              + ": a stdio::pty() stream gives the child its terminal");
    if (options.detach_terminal)
      return invalid(part::terminal,
          "controlling_terminal and detach_terminal: both asked for");
  }
  if (const auto& t = options.foreground_terminal)
  {
    if (!is_child_fd(options, *t))
      return invalid(part::terminal,
          "foreground_terminal " + std::to_string(*t)
              + ": not one of the child's fds");
    if (options.process_group != process_group_mode::new_group
        && !options.join_process_group)
      return invalid(part::terminal,
          "foreground_terminal " + std::to_string(*t)
              + ": needs a group other than the parent's (new_group, or "
                "join_process_group)");
    // A new session's terminal is not the parent's, and its leader's group
    // is that terminal's foreground already.
    if (options.controlling_terminal || on_pty)
      return invalid(part::terminal,
          "foreground_terminal " + std::to_string(*t)
              + ": with a session of the child's own");
    if (options.detach_terminal)
      return invalid(part::terminal,
          "foreground_terminal and detach_terminal: both asked for");
  }
  // A new session has no terminal of the parent's to give up; a session
  // leader that gave up a pty would hang up its own group.
  if (options.detach_terminal
      && (options.process_group == process_group_mode::new_session || on_pty))
    return invalid(
        part::terminal, "detach_terminal: with a session of the child's own");
  return true;
}

// Options that need no system call to check.
bool check_options(
    const spawn_options& options, error_code& ec, spawn_error_info& info)
{
  auto invalid = [&](part p, std::string what) {
    return refuse_option(ec, info, p, std::move(what));
  };
  if (options.parent_death_signal < 0 || options.parent_death_signal >= _NSIG)
    return invalid(part::parent_death_signal,
        "parent death signal " + std::to_string(options.parent_death_signal));
  if (options.die_with_owner && options.parent_death_signal != 0
      && options.parent_death_signal != SIGKILL)
    return invalid(part::parent_death_signal,
        "parent death signal " + std::to_string(options.parent_death_signal)
            + " with die_with_owner, which kills with SIGKILL");
  if (options.keep_groups && options.groups)
    return invalid(part::credentials,
        "groups and keep_groups: a list and keeping the parent's cannot both "
        "be asked for");
  if (options.working_directory
      && (options.working_directory->empty()
          || options.working_directory->find('\0') != std::string::npos))
    return invalid(
        part::working_directory, "working directory: empty or NUL byte");
  return check_job_control(options, ec, info)
      && check_confinement(options, ec, info);
}

// How the child closes the fds it is not given.
void plan_fd_closing(const kernel_features& features, child_plan& plan)
{
  // A forced fallback has not probed close_range: try it in the child,
  // which falls back to /proc/self/fd on ENOSYS. Closing every fd one by one
  // made each spawn cost grow with the parent's open fds.
  plan.use_close_range = features.close_range || features.forced_fallback;
  if (!plan.use_close_range)
  {
    rlimit limit{};
    error_code ignored; // cannot fail: the resource is valid
    sys::getrlimit(RLIMIT_NOFILE, limit, ignored);
    plan.max_fd = limit.rlim_cur == RLIM_INFINITY
        ? 65535
        : static_cast<int>(limit.rlim_cur);
  }
}

// What the child does to itself besides its fds: session and group,
// umask, directory, groups and ids, parent-death signal. Pointers into
// `options`, which outlives the child's run before execve.
void plan_process_attributes(
    const spawn_options& options, int controlling_terminal, child_plan& plan)
{
  // A terminal can only become the controlling terminal of a session
  // leader that has none: a pty makes the child lead a new session.
  plan.controlling_terminal = controlling_terminal >= 0
      ? controlling_terminal
      : options.controlling_terminal.value_or(-1);
  plan.join_process_group = options.join_process_group.value_or(0);
  plan.foreground_terminal = options.foreground_terminal.value_or(-1);
  plan.detach_terminal = options.detach_terminal;
  plan.new_session = options.process_group == process_group_mode::new_session
      || plan.controlling_terminal >= 0;
  plan.new_process_group =
      options.process_group == process_group_mode::new_group;
  plan.set_umask = options.umask.has_value();
  plan.umask = options.umask.value_or(0);
  plan.working_directory =
      options.working_directory ? options.working_directory->c_str() : nullptr;
  // A child whose ids are changed loses the parent's supplementary groups
  // unless told otherwise: keeping root's groups would leak privilege to a
  // child meant to be unprivileged. An empty list is setgroups(0, NULL).
  plan.set_groups = options.groups.has_value()
      || ((options.uid || options.gid) && !options.keep_groups);
  if (options.groups)
  {
    plan.groups = options.groups->data();
    plan.group_count = options.groups->size();
  }
  plan.set_gid = options.gid.has_value();
  plan.gid = options.gid.value_or(0);
  plan.set_uid = options.uid.has_value();
  plan.uid = options.uid.value_or(0);
  plan.parent_death_signal = options.parent_death_signal;
  // Where the kernel cannot tie the child to its pidfd, start_child()
  // keeps this signal as the fallback.
  plan.die_with_owner = options.die_with_owner;
  if (options.die_with_owner)
    plan.parent_death_signal = SIGKILL;
  if (plan.parent_death_signal != 0)
    plan.parent_pid = sys::getpid(); // a system call: only when needed
}

} // namespace

launched launch(std::string_view program,
    std::span<const std::string_view> args, const spawn_options& options,
    error_code& ec, spawn_error_info& info)
{
  ec.clear();
  info = {};
  std::string& detail = info.detail;
  if (!check_options(options, ec, info))
    return {};
  exec_plan exec;
  if (!exec.build(program, args, options, ec, detail))
  {
    // Only the environment's errors name what was wrong.
    info.failed = detail.empty() ? part::program : part::environment;
    return {};
  }

  const kernel_features& features = kernel_support();

  child_plan plan;
  plan.candidates = exec.candidates();
  plan.candidate_count = exec.candidate_count();
  plan.argv = exec.argv();
  plan.envp = exec.envp();
  plan_fd_closing(features, plan);
  fd_setup fds;
  if (!fds.prepare(options, plan, ec, detail))
  {
    info.child_fd = fds.failed_target();
    info.failed = fds.terminal_failed() ? part::terminal
        : info.child_fd < 3             ? part::stdio
                                        : part::inherited_fd;
    return {};
  }
  plan_process_attributes(options, fds.terminal_target(), plan);
  plan_confinement(options, plan);
  // die_with_owner: see spawn_options. Linux 7.1 asks it of AUTOKILL, and
  // it keeps the parent-death signal of the fallback across exec.
  if (options.die_with_owner)
    plan.confine.no_new_privs = true;
  user_namespace_start user_namespace;
  if (options.new_namespaces.user && !user_namespace.prepare(plan, fds, ec))
  {
    info.failed = part::system;
    detail = "pipe";
    return {};
  }

  // The cgroup last, as the one step that changes the system (a created
  // cgroup); it goes with `tree` when this returns without a child.
  std::shared_ptr<cgroup_tree> tree;
  int procs_fd = -1;
  if (options.cgroup)
  {
    tree = cgroup_tree::open(*options.cgroup, ec, detail);
    // Opened whether or not the child will need it: a cgroup the caller
    // may not write to is reported here, by its path.
    if (tree)
    {
      procs_fd = tree->open_procs(ec);
      if (ec)
        detail = "cgroup \"" + tree->path() + "/cgroup.procs\"";
    }
    if (ec)
    {
      info.failed = part::cgroup;
      return {};
    }
  }

  int pidfd = -1;
  const int saved_errno = errno;
  bool autoreaped = false;
  const long r =
      start_child(features, plan, tree.get(), procs_fd, pidfd, autoreaped);
  if (procs_fd >= 0)
    sys::close(procs_fd);
  errno = saved_errno;

  if (r < 0)
  {
    ec = sys::last_error(static_cast<int>(-r));
    info.failed = part::system;
    detail = explain_clone_failure(static_cast<int>(-r), options, info);
    if (detail.empty())
      detail = "clone";
    return {};
  }
  const pid_t pid = static_cast<pid_t>(r);
  auto discard = [&](bool kill) {
    if (autoreaped)
      discard_autoreaped_child(pidfd);
    else
      discard_child(pid, pidfd, kill);
  };
  if (options.new_namespaces.user
      && !user_namespace.finish(pid, options, plan, ec, detail))
  {
    info.failed = part::namespaces;
    discard(true);
    return {};
  }
  if (plan.error != 0)
  {
    // The child failed before or in execve and is exiting.
    discard(false);
    errno = saved_errno;
    ec = sys::last_error(plan.error);
    detail = explain_failure(plan, fds, options, tree.get(), info);
    return {};
  }
  fds.commit(ec, detail);
  if (ec)
  {
    info.failed = part::stdio;
    info.child_fd = fds.failed_target();
    discard(true);
    return {};
  }
  return {pidfd, pid, std::move(tree),
      plan.new_session || plan.new_process_group, autoreaped};
}

process_init make_spawned(const launched& child, const spawn_options& options,
    error_code& ec, spawn_error_info& info)
{
  const wait_mechanism& mechanism = chosen_mechanism();
  process_init init{&mechanism,
      mechanism.watch(child.pid, child.pidfd,
          child.autoreaped ? process_origin::autoreaped
                           : process_origin::spawned,
          ec)};
  if (ec)
  {
    // Out of fds: do not leave a child nobody can wait for. The pidfd is
    // still ours on failure.
    if (child.autoreaped)
      discard_autoreaped_child(child.pidfd);
    else
      discard_child(child.pid, child.pidfd, true);
    info.failed = part::system;
    info.detail = mechanism.watch_call();
    return {};
  }
  init.kill_on_destroy = options.kill_on_destroy || options.die_with_owner;
  init.target.usage = options.resource_usage;
  init.tree = child.tree;
  init.own_group = child.own_group;
  return init;
}

void throw_spawn_error(
    const error_code& ec, std::string_view program, const std::string& detail)
{
  std::string what = "spawn \"";
  what.append(program.substr(0, 256));
  what += '"';
  if (!detail.empty())
    what += ": " + detail;
  throw boost::system::system_error(ec, what);
}

} // namespace pidfd::detail
