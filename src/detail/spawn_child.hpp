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
  // Without CLONE_CLEAR_SIGHAND (the clone() path) the parent blocks every
  // signal around the clone; the child resets caught signals to SIG_DFL
  // and then restores this mask, the parent's.
  bool reset_signals = false;
  sigset_t signal_mask{};
  // The fd table is shared with the parent (CLONE_FILES) until the child
  // takes a private copy of fds 0-2 with close_range(CLOSE_RANGE_UNSHARE),
  // or, if that is unavailable (Linux < 5.9, or not probed), copies the
  // whole table and closes what /proc/self/fd lists (or 3..max_fd).
  bool use_close_range = false;
  int max_fd = 0;
  int error = 0;  // errno of the failed execve (or close_range)
};

// The child's entry point (clone3/clone fn); never returns on success.
int child_main(void* plan) noexcept;

} // namespace pidfd::detail

#endif // PIDFD_SRC_DETAIL_SPAWN_CHILD_HPP
