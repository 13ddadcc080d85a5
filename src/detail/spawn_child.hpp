//
// src/detail/spawn_child.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// The code that runs in the child between clone and execve, and the plan
// the parent prepares for it.
//

#ifndef PIDFD_SRC_DETAIL_SPAWN_CHILD_HPP
#define PIDFD_SRC_DETAIL_SPAWN_CHILD_HPP

#include "pidfd/spawn_options.hpp"

#include <cstddef>
#include <cstdint>

#include <sched.h>
#include <signal.h>
#include <sys/types.h>

namespace pidfd::detail {

// One fd the child must have: `target` becomes a copy of `source` (a
// parent fd), of the file at `path` (opened in the child), or, for
// `same_as_target`, of another target set up before it (2>&1).
struct fd_action
{
  int target = -1;
  int source = -1;
  const char* path = nullptr;
  int open_flags = 0;
  int same_as_target = -1;
  int moved = -1; // child's scratch: the source, duplicated out of the way
  // The target stays close-on-exec: an fd the child needs only until
  // execve (spawn_options::executable_fd).
  bool close_on_exec = false;
};

// What the child was doing when it failed, for the parent's message.
enum class child_stage : int
{
  none,
  cgroup,
  unshare_fds,
  process_group,
  controlling_terminal,
  open_file,
  duplicate_fd,
  umask,
  change_directory,
  set_groups,
  set_gid,
  set_uid,
  parent_death_signal,
  foreground,
  detach_terminal,
  mount_propagation,
  hostname,
  root_directory,
  drop_bounding_capability, // error_index: which one
  keep_capabilities,
  set_capabilities,
  ambient_capability, // error_index: which one
  resource_limit, // error_index: which one
  nice,
  cpu_affinity,
  oom_score_adj,
  no_new_privs,
  default_signal, // error_index: which signal
  seccomp,
  exec
};

// The confinement steps of spawn_options (see there), prepared by the
// parent (confinement.cpp): pointers into the options, which outlive the
// child's run before execve, and values computed beforehand so that the
// child only makes system calls.
struct confinement_plan
{
  // CLONE_NEW* flags for clone3 or clone. With CLONE_NEWNS the child
  // first makes its mounts private.
  unsigned long namespace_flags = 0;
  const char* hostname = nullptr;
  std::size_t hostname_size = 0;
  const char* root_directory = nullptr;
  const resource_limit* limits = nullptr;
  std::size_t limit_count = 0;
  bool set_nice = false;
  int nice = 0;
  bool set_affinity = false;
  cpu_set_t affinity{};
  // oom_score_adj as the decimal text written to /proc/self/oom_score_adj.
  char oom_score_adj[8]{};
  std::size_t oom_score_adj_size = 0;
  const int* drop_bounding = nullptr;
  std::size_t drop_bounding_count = 0;
  const int* ambient = nullptr;
  std::size_t ambient_count = 0;
  std::uint64_t ambient_mask = 0; // a bit per ambient capability
  bool no_new_privs = false;
  const int* default_signals = nullptr;
  std::size_t default_signal_count = 0;
  bool default_all_signals = false;
  bool set_signal_mask = false;
  sigset_t signal_mask{};
  const sock_fprog* seccomp_filter = nullptr;
};

// Shared with the child, which runs on the parent's memory while the parent
// thread is suspended (CLONE_VM | CLONE_VFORK). The child writes only the
// error fields and fd_action::moved; the parent reads them once the child
// has exec'd or exited. A child in a new user namespace has a copy instead
// (see handshake below).
struct child_plan
{
  // For a child in a new user namespace, started as a fork (no CLONE_VM,
  // no CLONE_VFORK) so that the parent can write its id maps while it
  // waits: it first makes itself dumpable if `make_dumpable` (the parent
  // then reads one byte from report_fd's pipe before opening the maps),
  // then waits for a byte on release_fd (EOF: the parent gave up), and it
  // reports a failure by writing a child_report to report_fd, which
  // closes at execve. report_fd is an fd action's source (report_action),
  // so that it survives the fd steps. All -1 for the usual spawn.
  struct fork_handshake
  {
    int release_fd = -1;
    int report_fd = -1;
    int report_action = -1;
    bool make_dumpable = false;
  } handshake{};

  // The program's fd in the child (spawn_options::executable_fd, moved by
  // the fd actions), run instead of the candidates; -1 without one.
  int executable_fd = -1;
  const char* const* candidates = nullptr;
  std::size_t candidate_count = 0;
  char* const* argv = nullptr;
  char* const* envp = nullptr;

  // Without CLONE_CLEAR_SIGHAND (the clone() path) the parent blocks every
  // signal around the clone; the child resets caught signals to SIG_DFL
  // and then restores this mask, the parent's.
  bool reset_signals = false;

  // Where CLONE_INTO_CGROUP is missing or was not used, the child moves
  // itself into its cgroup first, by writing "0" to this fd (cgroup.procs,
  // opened by the parent); -1 otherwise.
  int cgroup_procs_fd = -1;

  sigset_t signal_mask{};

  // The fd table is shared with the parent (CLONE_FILES) until the child
  // takes a private copy of fds 0..keep_max with close_range(keep_max + 1,
  // ~0, CLOSE_RANGE_UNSHARE) (Linux 5.9). Without it, it copies the whole
  // table and closes what /proc/self/fd lists above keep_max (or every
  // number up to max_fd).
  bool use_close_range = false;
  int keep_max = 2;
  int max_fd = 0;

  fd_action* fd_actions = nullptr;
  std::size_t fd_action_count = 0;
  int target_end = 3; // 1 + the highest target fd

  bool new_session = false;
  bool new_process_group = false;
  pid_t join_process_group = 0; // 0: none
  int foreground_terminal = -1; // the child's fd, or -1
  bool detach_terminal = false;
  // With a pty: the child's fd (0-2) that is its terminal side, made the
  // controlling terminal of the new session once the fds are in place;
  // -1 otherwise.
  int controlling_terminal = -1;
  bool set_umask = false;
  mode_t umask = 0;
  const char* working_directory = nullptr;
  bool set_groups = false;
  const gid_t* groups = nullptr;
  std::size_t group_count = 0;
  bool set_gid = false;
  gid_t gid = 0;
  bool set_uid = false;
  uid_t uid = 0;
  int parent_death_signal = 0;
  pid_t parent_pid = 0;
  // spawn_options::die_with_owner: the parent's choice of clone3 flags
  // (parent_death_signal is SIGKILL unless the kernel ties the child to
  // its pidfd instead).
  bool die_with_owner = false;
  confinement_plan confine{};

  // The failure: errno, stage and the fd_action index (for open and dup).
  int error = 0;
  child_stage error_stage = child_stage::none;
  int error_index = -1;
};

// What a forked child (child_plan::handshake) writes before it exits
// without running its program: child_plan's error fields.
struct child_report
{
  int error = 0;
  child_stage stage = child_stage::none;
  int index = -1;
};

// The child's entry point (clone3/clone fn); never returns.
int child_main(void* plan) noexcept;

} // namespace pidfd::detail

#endif // PIDFD_SRC_DETAIL_SPAWN_CHILD_HPP
