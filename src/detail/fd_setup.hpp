//
// src/detail/fd_setup.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// The parent's half of a spawn's fd options: validation, pipes, the
// pseudo-terminal, and the fd actions the child carries out.
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

  // Closes the pipes (and the pty) of a spawn that did not happen.
  ~fd_setup();

  // Validates stdio and inherited fds, creates the pipes (close-on-exec)
  // and fills the plan's fd fields. On failure `detail` names the option.
  bool prepare(const spawn_options& options, child_plan& plan,
      boost::system::error_code& ec, std::string& detail);

  // After prepare(): the forked child's report pipe (child_plan::
  // handshake), as a close-on-exec fd above every other target.
  void add_report_fd(int fd, child_plan& plan);

  // The child runs: hands the parents' pipe ends to their pipe objects (and
  // the pty's master to its object) and closes the child's ends here, so
  // the parent keeps no terminal side open.
  void commit(boost::system::error_code& ec, std::string& detail);

  // What the failed fd action `index` was, for an error message, and the
  // child's fd it was for.
  std::string describe(int index) const;
  int target_of(int index) const;

  // The child's fd whose option prepare() or commit() refused, or -1.
  int failed_target() const noexcept { return failed_target_; }

  // True if prepare() failed on the pseudo-terminal itself (opening it,
  // its size or modes) rather than on a stream's option.
  bool terminal_failed() const noexcept { return terminal_failed_; }

  // The first of the child's fds 0-2 on the pty, or -1 without one: the
  // fd the child makes its controlling terminal.
  int terminal_target() const noexcept { return pty_target_; }

private:
  struct pipe_end
  {
    const stdio* option = nullptr;
    int parent_end = -1;
    int child_end = -1;
    int target = -1;
  };

  // One of fds 0-2: validates its option and fills its fd action; the
  // add_* functions below are its kinds that take more than a line.
  bool add_stream(const stdio& s, int target, boost::system::error_code& ec,
      std::string& detail);
  bool add_file(const stdio& s, const std::string& name, fd_action& a,
      boost::system::error_code& ec, std::string& detail);
  bool add_parent_fd(const stdio& s, const std::string& name, fd_action& a,
      boost::system::error_code& ec, std::string& detail);
  bool add_pipe(const stdio& s, const std::string& name, fd_action& a,
      boost::system::error_code& ec, std::string& detail);
  bool add_pty(const stdio& s, const std::string& name, fd_action& a,
      boost::system::error_code& ec, std::string& detail);
  // spawn_options::executable_fd, as a close-on-exec fd above the others.
  bool add_executable(int fd, child_plan& plan, boost::system::error_code& ec,
      std::string& detail);
  // Adds `fd` as a close-on-exec target above the others; returns it.
  int add_close_on_exec(int fd, std::string description);
  // The plan's fd fields from actions_.
  void fill_plan(child_plan& plan);
  bool open_terminal(const pty_options& options, boost::system::error_code& ec,
      std::string& detail);

  std::vector<fd_action> actions_;
  std::vector<std::string> descriptions_;
  std::vector<pipe_end> pipes_;
  int failed_target_ = -1;

  // The pseudo-terminal, opened for the first stdio::pty() stream; the
  // terminal side is closed once the child has its copies.
  const pty_options* terminal_ = nullptr;
  const stdio* pty_option_ = nullptr;
  int pty_master_ = -1;
  int pty_slave_ = -1;
  int pty_target_ = -1;
  bool terminal_failed_ = false;
};

} // namespace pidfd::detail

#endif // PIDFD_SRC_DETAIL_FD_SETUP_HPP
