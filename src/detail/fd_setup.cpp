//
// src/detail/fd_setup.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~
//

#include "detail/fd_setup.hpp"

#include "pidfd/error.hpp"

#include <algorithm>
#include <cerrno>

#include <fcntl.h>
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

bool is_open(int fd) noexcept
{
  return fd >= 0 && ::fcntl(fd, F_GETFD) != -1;
}

} // namespace

fd_setup::~fd_setup()
{
  for (pipe_end& p : pipes_)
  {
    if (p.parent_end >= 0)
      ::close(p.parent_end);
    if (p.child_end >= 0)
      ::close(p.child_end);
  }
}

bool fd_setup::add_stream(
    const stdio& s, int target, error_code& ec, std::string& detail)
{
  const std::string name = stream_name(target);
  fd_action a;
  a.target = target;
  switch (s.type())
  {
  case stdio::kind::inherit:
    return true;
  case stdio::kind::file:
    if (s.path().empty() || s.path().find('\0') != std::string::npos)
    {
      ec = error::invalid_option;
      detail = name + ": empty file name or NUL byte";
      return false;
    }
    a.path = s.path().c_str();
    a.open_flags = s.forced_flags() != 0 ? s.forced_flags()
        : target == 0                    ? O_RDONLY
                      : O_WRONLY | O_CREAT | (s.append() ? O_APPEND : O_TRUNC);
    descriptions_.push_back(name + " file \"" + s.path() + "\"");
    break;
  case stdio::kind::parent_fd:
    if (!is_open(s.parent_fd()))
    {
      ec = boost::system::errc::make_error_code(
          boost::system::errc::bad_file_descriptor);
      detail = name + ": fd " + std::to_string(s.parent_fd()) + " is not open";
      return false;
    }
    a.source = s.parent_fd();
    descriptions_.push_back(name + " from fd " + std::to_string(a.source));
    break;
  case stdio::kind::pipe_from_child:
  case stdio::kind::pipe_to_child:
  {
    const bool to_child = s.type() == stdio::kind::pipe_to_child;
    if (to_child != (target == 0))
    {
      ec = error::invalid_option;
      detail = name
          + (target == 0
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
    // A pipe object that is open already was refused by the binding
    // before the engine was called (spawn.hpp): the error is Asio's.
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
    {
      ec = error_code(errno, boost::system::system_category());
      detail = name + ": pipe";
      return false;
    }
    pipe_end p{
        &s, to_child ? fds[1] : fds[0], to_child ? fds[0] : fds[1], target};
    pipes_.push_back(p);
    a.source = p.child_end;
    descriptions_.push_back(name + " pipe");
    break;
  }
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
  actions_.push_back(a);
  return true;
}

bool fd_setup::prepare(const spawn_options& options, child_plan& plan,
    error_code& ec, std::string& detail)
{
  // stdout before stderr, so that a merged stderr copies the final stdout.
  const stdio* streams[] = {&options.in, &options.out, &options.err};
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
    if (!is_open(m.parent_fd))
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

  plan.keep_max = 2;
  plan.target_end = 3;
  for (const fd_action& a : actions_)
  {
    plan.keep_max = std::max(plan.keep_max, a.source);
    plan.target_end = std::max(plan.target_end, a.target + 1);
  }
  plan.fd_actions = actions_.data();
  plan.fd_action_count = actions_.size();
  return true;
}

void fd_setup::commit(error_code& ec, std::string& detail)
{
  ec.clear();
  for (pipe_end& p : pipes_)
  {
    ::close(p.child_end);
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
