//
// src/detail/fd_setup.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~
//

#include "detail/fd_setup.hpp"

#include "pidfd/error.hpp"

#include "detail/syscalls.hpp"

#include <algorithm>
#include <cerrno>

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

namespace pidfd::detail {
namespace {

using boost::system::error_code;

const char* stream_name(int target) noexcept
{
  switch (target)
  {
  case 0:
    return "stdin";
  case 1:
    return "stdout";
  default:
    return "stderr";
  }
}

} // namespace

fd_setup::~fd_setup()
{
  for (pipe_end& p : pipes_)
  {
    if (p.parent_end >= 0)
      sys::close(p.parent_end);
    if (p.child_end >= 0)
      sys::close(p.child_end);
  }
  if (pty_master_ >= 0)
    sys::close(pty_master_);
  if (pty_slave_ >= 0)
    sys::close(pty_slave_);
}

bool fd_setup::open_terminal(
    const pty_options& options, error_code& ec, std::string& detail)
{
  terminal_failed_ = true; // until the pty is ready
  // Checked before anything is opened: a terminal of no rows or columns
  // confuses programs (stty, curses divide by them), and TIOCSWINSZ itself
  // takes it without complaint.
  if (options.rows == 0 || options.cols == 0)
  {
    ec = error::invalid_window_size;
    detail = "terminal: window size " + std::to_string(options.rows) + "x"
        + std::to_string(options.cols) + " (rows and cols must be at least 1)";
    return false;
  }
  const std::string& path = options.multiplexer;
  if (path.empty() || path.find('\0') != std::string::npos)
  {
    ec = error::invalid_option;
    detail = "terminal: empty multiplexer path or NUL byte";
    return false;
  }
  pty_master_ = sys::open_pty_master(path.c_str(), ec);
  if (ec)
  {
    // ENOENT: no devpts; ENOSPC: kernel.pty.max reached; EAGAIN, EMFILE...
    detail = "terminal: pty multiplexer \"" + path + "\"";
    return false;
  }
  sys::unlock_pty(pty_master_, ec);
  if (ec)
  {
    detail = "terminal: unlocking the pty (unlockpt)";
    return false;
  }
  // Set on the master before the child exists, so that its first look at
  // the size (stty, curses) sees this one, and no SIGWINCH is sent.
  sys::set_window_size(pty_master_, options.rows, options.cols, ec);
  if (ec)
  {
    detail = "terminal: window size (TIOCSWINSZ)";
    return false;
  }
  pty_slave_ = sys::open_pty_peer(pty_master_, ec);
  if (ec)
  {
    detail = "terminal: opening the terminal side";
    return false;
  }
  if (options.raw || !options.echo)
  {
    termios modes{};
    sys::get_terminal_modes(pty_slave_, modes, ec);
    if (!ec)
    {
      if (options.raw)
        ::cfmakeraw(&modes);
      if (!options.echo)
        modes.c_lflag &= ~tcflag_t(ECHO | ECHOE | ECHOK | ECHONL);
      sys::set_terminal_modes(pty_slave_, modes, ec);
    }
    if (ec)
    {
      detail = "terminal: setting its modes (tcsetattr)";
      return false;
    }
  }
  terminal_failed_ = false;
  return true;
}

bool fd_setup::add_stream(
    const stdio& s, int target, error_code& ec, std::string& detail)
{
  // An inherited stream is left as it is, and named nowhere: the name
  // (for the messages) is built only for the others. Most spawns inherit
  // all three.
  if (s.type() == stdio::kind::inherit)
    return true;
  const std::string name = stream_name(target);
  fd_action a;
  a.target = target;
  bool added = true;
  switch (s.type())
  {
  case stdio::kind::inherit: // returned above
    return true;
  case stdio::kind::file:
    added = add_file(s, name, a, ec, detail);
    break;
  case stdio::kind::parent_fd:
    added = add_parent_fd(s, name, a, ec, detail);
    break;
  case stdio::kind::pipe_from_child:
  case stdio::kind::pipe_to_child:
    added = add_pipe(s, name, a, ec, detail);
    break;
  case stdio::kind::pty:
    added = add_pty(s, name, a, ec, detail);
    break;
  case stdio::kind::stdout_merge:
    if (target != 2)
    {
      ec = error::invalid_option;
      detail = name + ": only stderr can be merged with stdout";
      return false;
    }
    a.same_as_target = 1;
    descriptions_.push_back("stderr merged with stdout");
    break;
  }
  if (added)
    actions_.push_back(a);
  return added;
}

bool fd_setup::add_file(const stdio& s, const std::string& name, fd_action& a,
    error_code& ec, std::string& detail)
{
  if (s.path().empty() || s.path().find('\0') != std::string::npos)
  {
    ec = error::invalid_option;
    detail = name + ": empty file name or NUL byte";
    return false;
  }
  a.path = s.path().c_str();
  a.open_flags = s.forced_flags() != 0 ? s.forced_flags()
      : a.target == 0                  ? O_RDONLY
                      : O_WRONLY | O_CREAT | (s.append() ? O_APPEND : O_TRUNC);
  descriptions_.push_back(name + " file \"" + s.path() + "\"");
  return true;
}

bool fd_setup::add_parent_fd(const stdio& s, const std::string& name,
    fd_action& a, error_code& ec, std::string& detail)
{
  if (!sys::is_open(s.parent_fd()))
  {
    ec = boost::system::errc::make_error_code(
        boost::system::errc::bad_file_descriptor);
    detail = name + ": fd " + std::to_string(s.parent_fd()) + " is not open";
    return false;
  }
  a.source = s.parent_fd();
  descriptions_.push_back(name + " from fd " + std::to_string(a.source));
  return true;
}

bool fd_setup::add_pipe(const stdio& s, const std::string& name, fd_action& a,
    error_code& ec, std::string& detail)
{
  const bool to_child = s.type() == stdio::kind::pipe_to_child;
  if (to_child != (a.target == 0))
  {
    ec = error::invalid_option;
    detail = name
        + (a.target == 0
                ? ": a pipe to stdin must be a writable_pipe"
                : ": a pipe from stdout or stderr must be a readable_pipe");
    return false;
  }
  for (const pipe_end& p : pipes_)
    if (p.option->pipe_object() == s.pipe_object())
    {
      ec = error::invalid_option;
      detail = name + ": the same pipe object is used twice";
      return false;
    }
  // A pipe object that is open already was refused by the binding before
  // the engine was called (spawn.hpp): the error is Asio's.
  int fds[2];
  sys::pipe(fds, ec);
  if (ec)
  {
    detail = name + ": pipe";
    return false;
  }
  pipe_end p{
      &s, to_child ? fds[1] : fds[0], to_child ? fds[0] : fds[1], a.target};
  pipes_.push_back(p);
  a.source = p.child_end;
  descriptions_.push_back(name + " pipe");
  return true;
}

bool fd_setup::add_pty(const stdio& s, const std::string& name, fd_action& a,
    error_code& ec, std::string& detail)
{
  if (pty_option_ && pty_option_->pipe_object() != s.pipe_object())
  {
    ec = error::invalid_option;
    detail = name + ": a second pty object (a child has one terminal)";
    return false;
  }
  // A pty object that is open already was refused by the binding, as a
  // pipe object is (spawn.hpp).
  if (!pty_option_)
  {
    if (!open_terminal(*terminal_, ec, detail))
      return false;
    pty_option_ = &s;
    pty_target_ = a.target;
  }
  a.source = pty_slave_;
  descriptions_.push_back(name + " on the pty");
  return true;
}

bool fd_setup::prepare(const spawn_options& options, child_plan& plan,
    error_code& ec, std::string& detail)
{
  // stdout before stderr, so that a merged stderr copies the final stdout.
  const stdio* streams[] = {&options.in, &options.out, &options.err};
  terminal_ = &options.terminal;
  for (int target = 0; target < 3; ++target)
    if (!add_stream(*streams[target], target, ec, detail))
    {
      failed_target_ = target;
      return false;
    }

  for (const fd_mapping& m : options.inherited_fds)
  {
    const std::string name = "inherited fd " + std::to_string(m.child_fd);
    failed_target_ = m.child_fd; // until it is accepted
    if (m.child_fd < 3)
    {
      ec = error::invalid_option;
      detail = name + ": child fds 0-2 are set with in, out and err";
      return false;
    }
    if (std::any_of(actions_.begin(), actions_.end(),
            [&](const fd_action& a) { return a.target == m.child_fd; }))
    {
      ec = error::invalid_option;
      detail = name + ": given twice";
      return false;
    }
    if (!sys::is_open(m.parent_fd))
    {
      ec = boost::system::errc::make_error_code(
          boost::system::errc::bad_file_descriptor);
      detail =
          name + ": parent fd " + std::to_string(m.parent_fd) + " is not open";
      return false;
    }
    failed_target_ = -1;
    fd_action a;
    a.target = m.child_fd;
    a.source = m.parent_fd;
    actions_.push_back(a);
    descriptions_.push_back(name + " from fd " + std::to_string(a.source));
  }

  if (options.executable_fd
      && !add_executable(*options.executable_fd, plan, ec, detail))
    return false;

  fill_plan(plan);
  return true;
}

void fd_setup::fill_plan(child_plan& plan)
{
  plan.keep_max = 2;
  plan.target_end = 3;
  for (const fd_action& a : actions_)
  {
    plan.keep_max = std::max(plan.keep_max, a.source);
    plan.target_end = std::max(plan.target_end, a.target + 1);
  }
  plan.fd_actions = actions_.data();
  plan.fd_action_count = actions_.size();
}

int fd_setup::add_close_on_exec(int fd, std::string description)
{
  // Above every other target, so that it moves none of them.
  int target = 3;
  for (const fd_action& a : actions_)
    target = std::max(target, a.target + 1);
  fd_action a;
  a.target = target;
  a.source = fd;
  a.close_on_exec = true;
  actions_.push_back(a);
  descriptions_.push_back(std::move(description));
  return target;
}

void fd_setup::add_report_fd(int fd, child_plan& plan)
{
  add_close_on_exec(fd, "the spawn's report pipe");
  plan.handshake.report_action = static_cast<int>(actions_.size()) - 1;
  plan.handshake.report_fd = fd;
  fill_plan(plan);
}

bool fd_setup::add_executable(
    int fd, child_plan& plan, error_code& ec, std::string& detail)
{
  if (fd < 0 || !sys::is_open(fd))
  {
    ec = boost::system::errc::make_error_code(
        boost::system::errc::bad_file_descriptor);
    detail = "executable fd " + std::to_string(fd) + ": not open";
    return false;
  }
  plan.executable_fd =
      add_close_on_exec(fd, "executable fd " + std::to_string(fd));
  return true;
}

void fd_setup::commit(error_code& ec, std::string& detail)
{
  ec.clear();
  for (pipe_end& p : pipes_)
  {
    sys::close(p.child_end);
    p.child_end = -1;
    error_code assign_ec;
    p.option->assign_parent_end(p.parent_end, assign_ec);
    if (assign_ec)
    {
      if (!ec)
      {
        ec = assign_ec;
        detail = "assigning a pipe";
        failed_target_ = p.target;
      }
      continue; // the destructor closes it
    }
    p.parent_end = -1;
  }
  if (pty_slave_ >= 0)
  {
    sys::close(pty_slave_);
    pty_slave_ = -1;
  }
  if (pty_master_ >= 0)
  {
    error_code assign_ec;
    pty_option_->assign_parent_end(pty_master_, assign_ec);
    if (assign_ec)
    {
      if (!ec)
      {
        ec = assign_ec;
        detail = "assigning the pty";
        failed_target_ = pty_target_;
      }
      return; // the destructor closes it
    }
    pty_master_ = -1;
  }
}

int fd_setup::target_of(int index) const
{
  if (index < 0 || static_cast<std::size_t>(index) >= actions_.size())
    return -1;
  return actions_[static_cast<std::size_t>(index)].target;
}

std::string fd_setup::describe(int index) const
{
  if (index < 0 || static_cast<std::size_t>(index) >= descriptions_.size())
    return "fd setup";
  return descriptions_[static_cast<std::size_t>(index)];
}

} // namespace pidfd::detail
