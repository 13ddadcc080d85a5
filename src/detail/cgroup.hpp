//
// src/detail/cgroup.hpp
// ~~~~~~~~~~~~~~~~~~~~~
// cgroup v2: finding the mount, opening or creating a child's cgroup, and
// acting on every process in it (kill, signal, wait until empty).
//

#ifndef PIDFD_SRC_DETAIL_CGROUP_HPP
#define PIDFD_SRC_DETAIL_CGROUP_HPP

#include "pidfd/cgroup_placement.hpp"

#include <boost/system/error_code.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace pidfd::detail {

using boost::system::error_code;

// The mount point of the cgroup2 hierarchy from /proc/self/mountinfo (the
// first one listed); nullopt with ec = ENOENT if there is none.
std::optional<std::string> cgroup2_mount(error_code& ec);

// One child's cgroup: an open directory fd, and for a cgroup the library
// created, what it needs to remove it. Thread-safe; shared by the process
// state and the operations on the tree.
class cgroup_tree
{
public:
  // Opens (join, join_fd) or creates (create_in) the cgroup; nullptr with
  // ec set and `detail` naming the path on failure (nothing is left).
  static std::shared_ptr<cgroup_tree> open(
      const cgroup_placement& where, error_code& ec, std::string& detail);

  cgroup_tree(const cgroup_tree&) = delete;
  cgroup_tree& operator=(const cgroup_tree&) = delete;
  // Removes a created cgroup if it is empty (and not removed yet).
  ~cgroup_tree();

  // The directory fd (for clone_args.cgroup); -1 once removed.
  int dir_fd() const noexcept { return dir_; }

  // The cgroup's path, for messages.
  const std::string& path() const noexcept { return path_; }

  // A new O_WRONLY fd on cgroup.procs, for a child that moves itself.
  int open_procs(error_code& ec) const;

  // True once the library removed its cgroup: the tree is gone.
  bool removed() const;

  // Sends sig to every process in the cgroup and its descendants:
  // cgroup.kill for SIGKILL (Linux 5.14), else freeze, signal each PID in
  // cgroup.procs, thaw. Frozen processes can neither exit nor fork, so no
  // PID signalled can be a reused one and none escapes. process_done once
  // removed; errc::resource_deadlock_would_occur if the calling process is
  // in the cgroup (or below it), which would kill or freeze itself.
  void signal(int sig, error_code& ec);

  // Blocks until the cgroup is empty (poll for POLLPRI on cgroup.events),
  // then removes a created cgroup if nobody else watches cgroup.events
  // (see close_events); device_or_resource_busy if the kernel still
  // refused to remove it after a bounded retry.
  void wait_empty(error_code& ec);

  // A new non-blocking fd on cgroup.events, whose POLLPRI announces a
  // change; -1 with ec clear if the cgroup was removed (the tree is gone).
  // The caller watches the cgroup until it calls close_events().
  int open_events(error_code& ec);

  // Reads "populated" from an open_events() fd (from offset 0, which also
  // acknowledges the change, so that POLLPRI clears). Once it reads 0, the
  // tree is known to be empty. A read that fails because the cgroup was
  // removed (ENODEV) reads as empty.
  bool populated(int events_fd, error_code& ec);

  // The caller has closed its open_events() fd. A created cgroup is
  // removed once it was seen empty and the last watcher is gone: removing
  // it earlier would make the other watchers' next read fail with ENODEV.
  // Returns device_or_resource_busy if the kernel refused the removal for
  // now (see try_remove), else success: removed, or left to the watchers
  // still there.
  error_code close_events() noexcept;

  // Removes a created cgroup if it was seen empty and nobody watches it;
  // device_or_resource_busy if the kernel refused. Right after
  // cgroup.events reports "populated 0" it may still refuse for a short
  // while (seen on Linux 6.18): the tasks killed have left the count but
  // are still being released. Retry after a short delay.
  error_code try_remove() noexcept;

private:
  cgroup_tree() = default;

  // With mutex_ held.
  error_code remove_locked() noexcept;
  void signal_frozen_locked(int sig, error_code& ec);
  void set_frozen_locked(bool frozen, error_code& ec);
  // One read of "populated", as a watcher's but counting none, for the
  // destructor: a cgroup that reads empty may then be removed.
  void read_populated_now() noexcept;
  // For the synchronous paths: try_remove() until it is not refused, with
  // a bounded back-off (tree_removal_backoff).
  error_code remove_retrying() noexcept;

  mutable std::mutex mutex_;
  int dir_ = -1;
  std::string path_;
  // For a created cgroup: its parent and name, for unlinkat(AT_REMOVEDIR).
  int parent_ = -1;
  std::string name_;
  bool removed_ = false;
  // cgroup.events read "populated 0": nothing runs in the cgroup.
  bool seen_empty_ = false;
  // The open_events() fds not yet closed (close_events).
  int watchers_ = 0;
};

} // namespace pidfd::detail

#endif // PIDFD_SRC_DETAIL_CGROUP_HPP
