//
// pidfd/engine/launch.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// The engine's spawn: starting a child with its pidfd, and the process
// state it becomes. No Asio here: spawn.hpp binds it to an executor.
//

#ifndef PIDFD_ENGINE_LAUNCH_HPP
#define PIDFD_ENGINE_LAUNCH_HPP

#include "pidfd/engine/process_state.hpp"
#include "pidfd/spawn_error_info.hpp"
#include "pidfd/spawn_options.hpp"

#include <boost/system/error_code.hpp>

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <sys/types.h>

namespace pidfd::detail {

class cgroup_tree;

// A freshly spawned child: its pidfd (owned by the caller), PID, and the
// cgroup it was placed in (if spawn_options::cgroup was given).
struct launched
{
  int pidfd = -1;
  pid_t pid = 0;
  std::shared_ptr<cgroup_tree> tree{};
  // The child leads a process group of its own: new_group, new_session,
  // or the session a pty gives it.
  bool own_group = false;
  // Spawned with CLONE_PIDFD_AUTOKILL and CLONE_AUTOREAP (Linux 7.1): the
  // kernel reaps it.
  bool autoreaped = false;
};

// Starts the child; on failure (including a failed execve) no child and no
// fd remain, and `info` says which part failed (its detail, the words of
// the exception's what(), is empty when it is the program itself).
launched launch(std::string_view program,
    std::span<const std::string_view> args, const spawn_options& options,
    boost::system::error_code& ec, spawn_error_info& info);

// The process state for a launched child, watched by the chosen wait
// mechanism; on failure (no fd left for the mechanism) the child is killed
// and reaped, and `info` names the system call that failed.
process_init make_spawned(const launched& child, const spawn_options& options,
    boost::system::error_code& ec, spawn_error_info& info);

[[noreturn]] void throw_spawn_error(const boost::system::error_code& ec,
    std::string_view program, const std::string& detail);

} // namespace pidfd::detail

#endif // PIDFD_ENGINE_LAUNCH_HPP
