//
// src/detail/spawn_child.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// The code that runs in the child between clone and execve.
//

#ifndef PIDFD_SRC_DETAIL_SPAWN_CHILD_HPP
#define PIDFD_SRC_DETAIL_SPAWN_CHILD_HPP

#include <cstddef>

#include <signal.h>

namespace pidfd::detail {

// Shared with the child, which runs on the parent's memory while the parent
// thread is suspended (CLONE_VM | CLONE_VFORK). The child writes only
// `error`, which the parent reads once the child has exec'd or exited.
struct child_plan
{
  const char* const* candidates = nullptr;
  std::size_t candidate_count = 0;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  sigset_t signal_mask{}; // the parent's mask, restored before execve
  bool fd_table_shared = false; // CLONE_FILES: unshare with close_range
  int max_fd = 0; // without close_range: close 3..max_fd one by one
  int error = 0;  // errno of the failed execve (or close_range)
};

// The child's entry point (clone3/clone fn); never returns on success.
int child_main(void* plan) noexcept;

} // namespace pidfd::detail

#endif // PIDFD_SRC_DETAIL_SPAWN_CHILD_HPP
