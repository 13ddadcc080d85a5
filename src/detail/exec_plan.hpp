//
// src/detail/exec_plan.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
// Everything the child needs for execve, prepared in the parent: the child
// shares the parent's memory and may not allocate, lock or touch libc state.
//

#ifndef PIDFD_SRC_DETAIL_EXEC_PLAN_HPP
#define PIDFD_SRC_DETAIL_EXEC_PLAN_HPP

#include "pidfd/spawn_options.hpp"

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <memory_resource>
#include <span>
#include <string>
#include <string_view>

namespace pidfd::detail {

// Lives on the stack of the spawning call, for that one spawn. The strings
// and pointer arrays it builds are carved out of its own buffer, so a
// spawn with a usual command line costs no heap allocation (issue #13);
// a larger one takes the rest from the heap.
class exec_plan
{
public:
  exec_plan() = default;
  exec_plan(const exec_plan&) = delete;
  exec_plan& operator=(const exec_plan&) = delete;

  // Validates the strings (no NUL bytes, non-empty program), builds argv
  // and the environment, and lists the paths to try: the program itself if
  // it has a slash, else each entry of the child's PATH joined with it, as
  // execvp does. On failure `detail` says what was wrong. Called once.
  bool build(std::string_view program, std::span<const std::string_view> args,
      const spawn_options& options, boost::system::error_code& ec,
      std::string& detail);

  char* const* argv() const noexcept { return argv_; }
  char* const* envp() const noexcept { return envp_; }
  const char* const* candidates() const noexcept { return candidates_; }
  std::size_t candidate_count() const noexcept { return candidate_count_; }

private:
  // Sets envp_; for a built environment, returns its PATH (nullptr if it
  // has none). For the parent's own, returns nullptr without looking.
  const char* build_environment(const environment& env,
      boost::system::error_code& ec, std::string& detail);

  // n uninitialised objects from the arena, which frees them all at once
  // when the plan goes.
  template <typename T>
  T* allocate(std::size_t n)
  {
    return static_cast<T*>(arena_.allocate(n * sizeof(T), alignof(T)));
  }

  // Enough for a program, a few dozen arguments and a PATH search; the
  // child's own stack (launch.cpp) is four times as large.
  alignas(std::max_align_t) std::byte buffer_[4096];
  // The heap explicitly, not the process's default memory resource, which
  // the program may have set to one that refuses.
  std::pmr::monotonic_buffer_resource arena_{
      buffer_, sizeof buffer_, std::pmr::new_delete_resource()};
  char** argv_ = nullptr;
  const char** candidates_ = nullptr;
  std::size_t candidate_count_ = 0;
  char* const* envp_ = nullptr;
};

} // namespace pidfd::detail

#endif // PIDFD_SRC_DETAIL_EXEC_PLAN_HPP
