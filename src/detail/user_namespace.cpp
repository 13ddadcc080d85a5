//
// src/detail/user_namespace.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// See user_namespace.hpp. The child's half is wait_for_id_maps and fail()
// in spawn_child.cpp.
//

#include "detail/user_namespace.hpp"

#include "detail/syscalls.hpp"

#include <cerrno>
#include <string>

#include <fcntl.h>

namespace pidfd::detail {
namespace {

using boost::system::error_code;

// The lines of a map file, as the kernel takes them in one write.
std::string map_text(const std::vector<id_mapping>& map)
{
  std::string text;
  for (const id_mapping& m : map)
    text += std::to_string(m.inside) + ' ' + std::to_string(m.outside) + ' '
        + std::to_string(m.count) + '\n';
  return text;
}

// Writes `text` to /proc/PID/<name> in one write, as the map files need.
bool write_proc_file(
    pid_t pid, const char* name, const std::string& text, error_code& ec)
{
  const std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  sys::write_file(AT_FDCWD, path.c_str(), text, ec);
  return !ec;
}

} // namespace

std::string describe_map(const std::vector<id_mapping>& map)
{
  std::string text = map_text(map);
  if (!text.empty())
    text.pop_back();
  for (std::size_t at; (at = text.find('\n')) != std::string::npos;)
    text.replace(at, 1, ", ");
  return text;
}

user_namespace_start::~user_namespace_start()
{
  close_child_ends();
  for (int fd : {release_[1], report_[0]})
    if (fd >= 0)
      sys::close(fd);
}

bool user_namespace_start::prepare(
    child_plan& plan, fd_setup& fds, error_code& ec)
{
  sys::pipe(release_, ec);
  if (!ec)
    sys::pipe(report_, ec);
  if (ec)
    return false;
  plan.handshake.release_fd = release_[0];
  // A spawner that changed its credentials is not dumpable, and neither is
  // a child sharing its mm: their /proc files, the maps included, are
  // root's. A forked child can fix that for itself alone.
  plan.handshake.make_dumpable = !sys::is_dumpable();
  fds.add_report_fd(report_[1], plan);
  return true;
}

void user_namespace_start::close_child_ends() noexcept
{
  for (int* fd : {&release_[0], &report_[1]})
    if (*fd >= 0)
    {
      sys::close(*fd);
      *fd = -1;
    }
}

bool user_namespace_start::write_maps(pid_t pid, const namespace_options& ns,
    bool deny_setgroups, error_code& ec, std::string& detail)
{
  // Before the gid map, as the kernel requires of a spawner without
  // CAP_SETGID; denied whenever the child will not call setgroups, so
  // that nothing it runs can drop a group either.
  if (deny_setgroups && !write_proc_file(pid, "setgroups", "deny", ec))
  {
    detail = "new user namespace: setgroups \"deny\"";
    return false;
  }
  if (!ns.uid_map.empty()
      && !write_proc_file(pid, "uid_map", map_text(ns.uid_map), ec))
  {
    detail = "uid_map \"" + describe_map(ns.uid_map) + "\"";
    if (ec == boost::system::errc::operation_not_permitted)
      detail += " (without CAP_SETUID only the spawner's own uid may be "
                "mapped, as one id)";
    else if (ec == boost::system::errc::invalid_argument)
      detail += " (overlapping lines)";
    return false;
  }
  if (!ns.gid_map.empty()
      && !write_proc_file(pid, "gid_map", map_text(ns.gid_map), ec))
  {
    detail = "gid_map \"" + describe_map(ns.gid_map) + "\"";
    if (ec == boost::system::errc::operation_not_permitted)
      detail += deny_setgroups
          ? " (without CAP_SETGID only the spawner's own gid may be "
            "mapped, as one id)"
          : " (the child is to call setgroups, for groups or for uid or gid "
            "without keep_groups, which only a spawner with CAP_SETGID may "
            "allow)";
    else if (ec == boost::system::errc::invalid_argument)
      detail += " (overlapping lines)";
    return false;
  }
  return true;
}

void user_namespace_start::read_report(child_plan& plan, error_code& ec)
{
  // EOF without a report: execve closed the pipe (or a signal ended the
  // child, which its exit status will say).
  child_report report;
  std::size_t got = 0;
  while (got < sizeof report)
  {
    const long n = sys::read(report_[0], reinterpret_cast<char*>(&report) + got,
        sizeof report - got, ec);
    if (n <= 0)
      break;
    got += static_cast<std::size_t>(n);
  }
  if (ec || got != sizeof report)
    return;
  plan.error = report.error;
  plan.error_stage = report.stage;
  plan.error_index = report.index;
}

bool user_namespace_start::finish(pid_t pid, const spawn_options& options,
    child_plan& plan, error_code& ec, std::string& detail)
{
  close_child_ends();
  if (plan.handshake.make_dumpable)
  {
    char ready;
    if (sys::read(report_[0], &ready, 1, ec) != 1)
    {
      if (!ec)
        ec = boost::system::errc::make_error_code(
            boost::system::errc::no_such_process);
      detail = "new user namespace: the child ended before its maps were "
               "written";
      return false;
    }
  }
  if (!write_maps(pid, options.new_namespaces, !plan.set_groups, ec, detail))
    return false;
  const char go = 'g';
  const long n = sys::write_no_sigpipe(release_[1], &go, 1);
  sys::close(release_[1]);
  release_[1] = -1;
  if (n != 1)
  {
    ec = sys::last_error(n < 0 ? static_cast<int>(-n) : EPIPE);
    detail = "new user namespace: letting the child go on";
    return false;
  }
  read_report(plan, ec);
  if (ec)
    detail = "new user namespace: reading the child's report";
  return !ec;
}

} // namespace pidfd::detail
