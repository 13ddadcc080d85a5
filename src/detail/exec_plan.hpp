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

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pidfd::detail {

class exec_plan
{
public:
  // Validates the strings (no NUL bytes, non-empty program), builds argv
  // and the environment, and lists the paths to try: the program itself if
  // it has a slash, else each entry of the child's PATH joined with it, as
  // execvp does. On failure `detail` says what was wrong.
  bool build(std::string_view program, std::span<const std::string_view> args,
      const spawn_options& options, boost::system::error_code& ec,
      std::string& detail);

  char* const* argv() const noexcept { return argv_.data(); }
  char* const* envp() const noexcept { return envp_; }
  const char* const* candidates() const noexcept { return candidates_.data(); }
  std::size_t candidate_count() const noexcept { return candidates_.size(); }

private:
  // Sets envp_; for a built environment, returns its PATH (nullptr if it
  // has none). For the parent's own, returns nullptr without looking.
  const char* build_environment(const environment& env,
      boost::system::error_code& ec, std::string& detail);

  std::string storage_;
  std::vector<std::string> env_storage_;
  std::vector<char*> env_pointers_;
  std::vector<char*> argv_;
  std::vector<const char*> candidates_;
  char* const* envp_ = nullptr;
};

} // namespace pidfd::detail

#endif // PIDFD_SRC_DETAIL_EXEC_PLAN_HPP
