//
// pidfd/cgroup_placement.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// Which cgroup (v2) a spawned child starts in, for spawn_options::cgroup.
//

#ifndef PIDFD_CGROUP_PLACEMENT_HPP
#define PIDFD_CGROUP_PLACEMENT_HPP

#include <string>
#include <utility>

namespace pidfd {

/// The cgroup (v2) a child is spawned into, and so the tree it heads.
/**
 * A child spawned with a placement starts in the cgroup: with
 * @c clone3(CLONE_INTO_CGROUP) (Linux 5.7) it never runs an instruction
 * outside it; on older kernels it moves itself there (by writing to
 * @c cgroup.procs) before @c execve, so the program never runs outside it
 * either. Every process it starts is in the cgroup too (unless moved out),
 * which is what basic_process::signal_tree(), kill_tree(),
 * async_wait_tree() and the tree scope of async_terminate() act on.
 *
 * Paths that do not start with @c / are relative to the cgroup2 mount,
 * found in @c /proc/self/mountinfo (@c /sys/fs/cgroup on a pure v2 host,
 * @c /sys/fs/cgroup/unified on a hybrid one). A missing cgroup2 mount, a
 * path that is not a cgroup2 directory, a missing directory or one the
 * caller may not use makes the spawn fail with
 * spawn_error_info::part::cgroup and a message naming the path; no child
 * and no cgroup of the library's are left behind.
 */
class cgroup_placement
{
public:
  /// How the cgroup is given.
  enum class kind
  {
    /// An existing cgroup directory, by path.
    join_path,
    /// An existing cgroup directory, by an fd of the caller's.
    join_fd,
    /// A new cgroup the library creates under a parent and removes.
    create_in
  };

  /// An existing cgroup, by path: the library neither creates nor removes
  /// it.
  static cgroup_placement join(std::string path)
  {
    return {kind::join_path, std::move(path), -1};
  }

  /// An existing cgroup, by an fd open on its directory (@c O_RDONLY or
  /// @c O_PATH). The caller keeps the fd, which must stay open until spawn
  /// returns; the library opens the directory again through it and keeps
  /// only its own fd.
  static cgroup_placement join_fd(int dirfd)
  {
    return {kind::join_fd, {}, dirfd};
  }

  /// A new cgroup, uniquely named (@c pidfd-asio-PID-N), made under the
  /// cgroup @c parent_path (for example a subtree delegated to the
  /// caller). The library removes it (@c rmdir) once the tree in it is
  /// gone: when async_wait_tree(), kill_tree() or a tree-scoped
  /// async_terminate() completes, or at the latest when the process object
  /// and its operations are gone, if the tree is empty by then. A tree
  /// still running at that point keeps its cgroup, which then is the
  /// caller's to remove.
  static cgroup_placement create_in(std::string parent_path)
  {
    return {kind::create_in, std::move(parent_path), -1};
  }

  /// How the cgroup is given.
  kind type() const noexcept { return kind_; }
  /// The path: of the cgroup for join(), of its parent for create_in().
  const std::string& path() const noexcept { return path_; }
  /// The caller's fd, for join_fd(); otherwise -1.
  int fd() const noexcept { return fd_; }

private:
  cgroup_placement(kind k, std::string path, int fd)
    : kind_(k), path_(std::move(path)), fd_(fd)
  {
  }

  kind kind_;
  std::string path_;
  int fd_;
};

} // namespace pidfd

#endif // PIDFD_CGROUP_PLACEMENT_HPP
