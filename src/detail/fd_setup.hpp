//
// src/detail/fd_setup.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// The parent's half of a spawn's fd options: validation, pipes, and the fd
// actions the child carries out.
//

#ifndef PIDFD_SRC_DETAIL_FD_SETUP_HPP
#define PIDFD_SRC_DETAIL_FD_SETUP_HPP

#include "pidfd/spawn_options.hpp"

#include "detail/spawn_child.hpp"

#include <boost/system/error_code.hpp>

#include <string>
#include <vector>

namespace pidfd::detail {

class fd_setup
{
public:
  fd_setup() = default;
  fd_setup(const fd_setup&) = delete;
  fd_setup& operator=(const fd_setup&) = delete;

  // Closes the pipes of a spawn that did not happen.
  ~fd_setup();

  // Validates stdio and inherited fds, creates the pipes (close-on-exec)
  // and fills the plan's fd fields. On failure `detail` names the option.
  bool prepare(const spawn_options& options, child_plan& plan,
      boost::system::error_code& ec, std::string& detail);

  // The child runs: hands the parents' pipe ends to their pipe objects and
  // closes the child's ends here.
  void commit(boost::system::error_code& ec, std::string& detail);

  // What the failed fd action `index` was, for an error message, and the
  // child's fd it was for.
  std::string describe(int index) const;
  int target_of(int index) const;

  // The child's fd whose option prepare() or commit() refused, or -1.
  int failed_target() const noexcept { return failed_target_; }

private:
  struct pipe_end
  {
    const stdio* option = nullptr;
    int parent_end = -1;
    int child_end = -1;
    int target = -1;
  };

  bool add_stream(const stdio& s, int target, boost::system::error_code& ec,
      std::string& detail);

  std::vector<fd_action> actions_;
  std::vector<std::string> descriptions_;
  std::vector<pipe_end> pipes_;
  int failed_target_ = -1;
};

} // namespace pidfd::detail

#endif // PIDFD_SRC_DETAIL_FD_SETUP_HPP
