//
// pidfd/spawn_error_info.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// Which part of a failed spawn failed, for callers of the error_code
// overloads.
//

#ifndef PIDFD_SPAWN_ERROR_INFO_HPP
#define PIDFD_SPAWN_ERROR_INFO_HPP

#include <string>

namespace pidfd {

/// What a failed spawn could not do.
/**
 * The error_code alone often cannot say: a missing program, a missing
 * working directory and a stdout file in a missing directory are all
 * @c ENOENT. The exception's what() names the part; this carries the same
 * for the @c error_code overloads of spawn.
 */
struct spawn_error_info
{
  /// The part of the spawn that failed.
  enum class part
  {
    /// Nothing failed.
    none,
    /// The program: its name, its arguments, or @c execve.
    program,
    /// spawn_options::working_directory.
    working_directory,
    /// One of spawn_options::in, out or err; see @c child_fd.
    stdio,
    /// One of spawn_options::inherited_fds; see @c child_fd.
    inherited_fd,
    /// spawn_options::env.
    environment,
    /// spawn_options::groups, gid, uid or keep_groups.
    credentials,
    /// spawn_options::process_group (@c setpgid or @c setsid) or
    /// join_process_group.
    process_group,
    /// spawn_options::parent_death_signal.
    parent_death_signal,
    /// The system refused a resource the spawn needs (clone, a pipe, an
    /// fd): the error_code says which limit.
    system,
    /// spawn_options::cgroup: no cgroup2 mount, a missing or foreign
    /// directory, no permission, or the move into it failed (the detail
    /// names the path).
    cgroup,
    /// spawn_options::terminal with a stdio::pty() stream: opening the
    /// pseudo-terminal (the multiplexer, the terminal side), its window
    /// size or modes, or making it the child's controlling terminal;
    /// @c child_fd is the first stream on it. Also
    /// spawn_options::controlling_terminal, foreground_terminal and
    /// detach_terminal, with @c child_fd the fd named (0 for
    /// detach_terminal).
    terminal,
    /// spawn_options::limits.
    resource_limits,
    /// spawn_options::nice, cpus or oom_score_adj.
    scheduling,
    /// spawn_options::no_new_privs.
    no_new_privs,
    /// spawn_options::default_signals, default_all_signals or
    /// blocked_signals.
    signals,
    /// spawn_options::seccomp_filter.
    seccomp,
    /// spawn_options::new_namespaces or hostname.
    namespaces,
    /// spawn_options::root_directory.
    root_directory,
    /// spawn_options::ambient_capabilities or drop_bounding_capabilities.
    capabilities
  };

  /// The part that failed.
  part failed = part::none;

  /// For @c stdio and @c terminal, the child's fd (0, 1 or 2, or the
  /// inherited fd a job-control option names); for
  /// @c inherited_fd, the child's fd number; otherwise -1.
  int child_fd = -1;

  /// The words the exception's what() adds after the program, for example
  /// <tt>stdout file "/no/such/dir/log"</tt> or
  /// <tt>working directory "/missing"</tt>; empty when the program itself
  /// failed.
  std::string detail;
};

} // namespace pidfd

#endif // PIDFD_SPAWN_ERROR_INFO_HPP
