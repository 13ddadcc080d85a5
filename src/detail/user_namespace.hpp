//
// src/detail/user_namespace.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The parent's half of a child in a new user namespace: the child is
// forked rather than vforked (child_plan::handshake), waits while the
// parent writes its setgroups, gid_map and uid_map files, and reports a
// failure through a pipe instead of the shared plan.
//

#ifndef PIDFD_SRC_DETAIL_USER_NAMESPACE_HPP
#define PIDFD_SRC_DETAIL_USER_NAMESPACE_HPP

#include "pidfd/spawn_options.hpp"

#include "detail/fd_setup.hpp"
#include "detail/spawn_child.hpp"

#include <boost/system/error_code.hpp>

#include <string>

#include <sys/types.h>

namespace pidfd::detail {

class user_namespace_start
{
public:
  user_namespace_start() = default;
  user_namespace_start(const user_namespace_start&) = delete;
  user_namespace_start& operator=(const user_namespace_start&) = delete;
  // Closes whatever pipe end is still open.
  ~user_namespace_start();

  // Before the clone: opens the handshake's pipes and puts the child's
  // ends into `plan` (the report pipe as one of `fds`' actions).
  bool prepare(child_plan& plan, fd_setup& fds, boost::system::error_code& ec);

  // After the clone: closes the child's ends here, writes the maps of the
  // child `pid`, lets it go on, and waits until it has run its program or
  // reported a failure (into plan's error fields). False with ec and
  // `detail` (the map and why it was refused) if the maps could not be
  // written; the child is then still to be discarded by the caller.
  bool finish(pid_t pid, const spawn_options& options, child_plan& plan,
      boost::system::error_code& ec, std::string& detail);

private:
  void close_child_ends() noexcept;
  bool write_maps(pid_t pid, const namespace_options& ns, bool deny_setgroups,
      boost::system::error_code& ec, std::string& detail);
  void read_report(child_plan& plan, boost::system::error_code& ec);

  int release_[2]{-1, -1}; // [0] the child's end, [1] ours
  int report_[2]{-1, -1}; // [0] ours, [1] the child's end
};

// "0 1000 1, 1 100000 65536" for a message.
std::string describe_map(const std::vector<id_mapping>& map);

} // namespace pidfd::detail

#endif // PIDFD_SRC_DETAIL_USER_NAMESPACE_HPP
