//
// test/options/spawner.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
// An intermediate process for the tests that need the library to run in a
// process other than the test's: parent death, credentials, user
// namespaces and job control. CHILD is the helper child program
// (test/support/child.cpp).
//
//   spawn-grandchild CHILD SIG|owner
//       spawns "CHILD linger" with parent_death_signal SIG (or with
//       die_with_owner), writes its pid and "\n" to stdout, then blocks
//       until killed
//   pdeath-race DIR CHILD SIG
//       makes the parent of a spawn die while the child is between clone
//       and exec, before it sets its parent-death signal (see
//       pdeath_race()); exits 0 if the child then died of SIG before exec,
//       20 if it ran CHILD, 21 for another end, 30 if it never blocked
//   try-credentials CHILD
//       as an unprivileged user: tries spawns that set uid 0, gid 0 and
//       groups {0} (the first two keeping the groups), then its own uid
//       without and with keep_groups; writes one line per attempt to
//       stdout: "ok", or the error's value and what()
//   user-namespace
//       drops itself to uid and gid 65534 (which makes it not dumpable),
//       then spawns in new user namespaces: "sh -c 'id -u; id -g; cat
//       /proc/self/uid_map'" mapping its own ids to 0 (keep_groups), then
//       tries to map uid 0, and its own ids with the groups to be dropped;
//       writes "dumpable N", the first child's output, and one line per
//       attempt: "ok", or the error's value, part and detail
//   export-worker
//       spawns "sleep 1000", writes its PID, a space, its handle
//       (basic_process::export_handle) and "\n", and exits, leaving it
//       running
//   attach HANDLE
//       opens the process of HANDLE, sends it SIGTERM, awaits it, and
//       writes its exit status (exit_status::to_string) and "\n"; or the
//       error's value and message
//   job-control CHILD
//       run as a session leader whose stdin is its controlling terminal:
//       spawns "CHILD pause" into a group of its own, one joining it, one
//       in the terminal's foreground and one that gives up the terminal;
//       writes one line per check to stdout (see job_control())
//   drop-to-nobody CHILD PATH default|keep|LIST
//       spawns "CHILD report PATH" as uid and gid 65534 with groups unset
//       (default), keep_groups, or groups LIST (comma-separated, may be
//       empty); exits with the child's exit code
//
// Exit codes 100-102 mean the spawner itself failed.
//

#include "pidfd/process.hpp"
#include "pidfd/spawn.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

namespace {

constexpr int usage_error = 100;
constexpr int io_error = 101;

bool write_all(int fd, std::string_view text)
{
  while (!text.empty())
  {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

int spawn_grandchild(const char* child, std::string_view how)
{
  boost::asio::io_context ctx;
  pidfd::spawn_options options;
  if (how == "owner")
    options.die_with_owner = true;
  else
    options.parent_death_signal = std::atoi(std::string(how).c_str());
  pidfd::process p = pidfd::spawn(ctx, child, {"linger"}, options);
  if (!write_all(1, std::to_string(p.id()) + "\n"))
    return io_error;
  for (;;)
    ::pause();
}

pid_t reap_any(int& status)
{
  pid_t r;
  do
    r = ::waitpid(-1, &status, __WALL);
  while (r < 0 && errno == EINTR);
  return r;
}

// This process (H) becomes a child subreaper and holds a read lease on
// DIR/leased. A forked child (I) spawns CHILD with stdout = DIR/leased and
// the parent-death signal SIG: the spawned child (G) blocks opening the
// file, before it sets the signal, until H gives up the lease. H, told of
// the open by SIGIO, kills I, so that G's parent is dead before G sets the
// signal, then gives up the lease. G, now H's child, must notice that its
// parent changed and send the signal to itself before exec.
int pdeath_race(const std::string& dir, const char* child, int sig)
{
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    return io_error;
  const std::string leased = dir + "/leased";
  int fd =
      ::open(leased.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ::close(fd) != 0)
    return io_error;
  sigset_t io;
  ::sigemptyset(&io);
  ::sigaddset(&io, SIGIO);
  ::sigprocmask(SIG_BLOCK, &io, nullptr);
  fd = ::open(leased.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fcntl(fd, F_SETLEASE, F_RDLCK) != 0)
    return io_error;

  const pid_t intermediate = ::fork();
  if (intermediate < 0)
    return io_error;
  if (intermediate == 0)
  {
    ::close(fd);
    ::sigprocmask(SIG_UNBLOCK, &io, nullptr);
    boost::asio::io_context ctx;
    pidfd::spawn_options options;
    options.out = pidfd::stdio::file(leased);
    options.parent_death_signal = sig;
    boost::system::error_code ec;
    pidfd::process p = pidfd::spawn(ctx, child, {"linger"}, options, ec);
    // Not reached when the test works: H kills this process first.
    ::_exit(io_error);
  }

  // A last-resort limit: the open should come at once.
  timespec limit{20, 0};
  siginfo_t info{};
  int got;
  do
    got = ::sigtimedwait(&io, &info, &limit);
  while (got < 0 && errno == EINTR);
  ::kill(intermediate, SIGKILL);
  int status = 0;
  if (::waitpid(intermediate, &status, 0) != intermediate)
    return io_error;
  if (got != SIGIO)
    return 30;
  // G continues; it is our child now.
  if (::fcntl(fd, F_SETLEASE, F_UNLCK) != 0)
    return io_error;
  ::close(fd);
  if (reap_any(status) < 0)
    return io_error;
  if (WIFSIGNALED(status) && WTERMSIG(status) == sig)
    return 0;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 20;
  return 21;
}

int try_credentials(const char* child)
{
  boost::asio::io_context ctx;
  std::string text;
  auto attempt = [&](const pidfd::spawn_options& options) {
    try
    {
      pidfd::process p = pidfd::spawn(ctx, child, {"linger"}, options);
      p.wait();
      text += "ok\n";
    }
    catch (const boost::system::system_error& e)
    {
      text += std::to_string(e.code().value()) + " " + e.what() + "\n";
    }
  };
  pidfd::spawn_options options;
  options.in = pidfd::stdio::null();
  options.keep_groups = true; // so that setuid and setgid are what fails
  options.uid = 0;
  attempt(options);
  options.uid.reset();
  options.gid = 0;
  attempt(options);
  options.gid.reset();
  options.keep_groups = false;
  options.groups = std::vector<gid_t>{0};
  attempt(options);
  // Our own uid needs no privilege, but dropping the supplementary groups
  // (the default once uid is set) does.
  options.groups.reset();
  options.uid = ::getuid();
  attempt(options);
  options.keep_groups = true;
  attempt(options);
  return write_all(1, text) ? 0 : io_error;
}

// Run unprivileged: a child in a new network namespace, which needs
// CAP_SYS_ADMIN. Writes the error's value, its part and what() to stdout.
int try_namespaces(const char* child)
{
  boost::asio::io_context ctx;
  pidfd::spawn_options options;
  options.in = pidfd::stdio::null();
  options.new_namespaces.network = true;
  boost::system::error_code ec;
  pidfd::spawn_error_info info;
  pidfd::process p = pidfd::spawn(ctx, child, {"exit", "0"}, options, ec, info);
  if (p.is_open())
  {
    p.wait();
    return write_all(1, "ok\n") ? 0 : io_error;
  }
  const std::string text = std::to_string(ec.value()) + " "
      + std::to_string(static_cast<int>(info.failed)) + " " + info.detail
      + "\n";
  return write_all(1, text) ? 0 : io_error;
}

int export_worker()
{
  boost::asio::io_context ctx;
  // Not on our stdout, which the test reads to its end.
  pidfd::process worker = pidfd::spawn(ctx, "sleep", {"1000"},
      {.in = pidfd::stdio::null(), .out = pidfd::stdio::null()});
  return write_all(1,
             std::to_string(worker.id()) + " " + worker.export_handle() + "\n")
      ? 0
      : io_error;
}

int attach(const char* handle)
{
  boost::asio::io_context ctx;
  boost::system::error_code ec;
  pidfd::process p =
      pidfd::process::open_handle(ctx.get_executor(), handle, ec);
  if (!ec)
    p.signal(SIGTERM, ec);
  std::string text;
  if (!ec)
    p.async_wait([&](boost::system::error_code e, pidfd::exit_status s) {
      ec = e;
      text = s.to_string();
    });
  ctx.run();
  if (ec)
    text = std::to_string(ec.value()) + " " + ec.message();
  return write_all(1, text + "\n") ? 0 : io_error;
}

int user_namespace()
{
  if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0
      || ::setresuid(65534, 65534, 65534) != 0)
    return io_error;
  if (!write_all(
          1, "dumpable " + std::to_string(::prctl(PR_GET_DUMPABLE)) + "\n"))
    return io_error;
  boost::asio::io_context ctx;
  pidfd::spawn_options options{.gid = 0,
      .uid = 0,
      .keep_groups = true,
      .new_namespaces = {.user = true,
          .uid_map = {{0, 65534, 1}},
          .gid_map = {{0, 65534, 1}}}};
  auto attempt = [&](const pidfd::spawn_options& o) {
    boost::system::error_code ec;
    pidfd::spawn_error_info info;
    pidfd::process p = pidfd::spawn(
        ctx, "sh", {"-c", "id -u; id -g; cat /proc/self/uid_map"}, o, ec, info);
    if (p.is_open())
      return p.wait().success() && write_all(1, "ok\n");
    return write_all(1,
        std::to_string(ec.value()) + " "
            + std::to_string(static_cast<int>(info.failed)) + " " + info.detail
            + "\n");
  };
  pidfd::spawn_options someone_else = options;
  someone_else.new_namespaces.uid_map = {{0, 0, 1}};
  pidfd::spawn_options drop_groups = options;
  drop_groups.keep_groups = false;
  return attempt(options) && attempt(someone_else) && attempt(drop_groups)
      ? 0
      : io_error;
}

// Fields of /proc/PID/stat (1-based, as proc(5) counts them; the command
// name, field 2, holds no space for the test child).
std::vector<std::string> stat_fields(pid_t pid)
{
  std::vector<std::string> fields{""};
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fields;
  char text[1024];
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  std::string line(text, n > 0 ? static_cast<std::size_t>(n) : 0);
  for (std::size_t pos = 0, end; pos < line.size(); pos = end + 1)
  {
    end = std::min(line.find(' ', pos), line.size());
    fields.push_back(line.substr(pos, end - pos));
  }
  return fields;
}

// Run as a session leader whose stdin is the controlling terminal (the
// test spawns it with controlling_terminal = 0): starts paused children
// with the job-control options and writes, a line each, what
// /proc/PID/stat and the terminal say of them.
int job_control(const char* child)
{
  boost::asio::io_context ctx;
  std::string text;
  auto fields = stat_fields(::getpid());
  // Field 6: session; 7: tty_nr; 5: pgrp; 8: tpgid.
  text += "spawner leads its session: "
      + std::string(fields[6] == std::to_string(::getpid()) ? "yes" : "no")
      + ", has a terminal: " + (fields[7] != "0" ? "yes" : "no") + "\n";

  pidfd::spawn_options leader_options;
  leader_options.process_group = pidfd::process_group_mode::new_group;
  pidfd::process leader = pidfd::spawn(ctx, child, {"pause"}, leader_options);

  pidfd::spawn_options join;
  join.join_process_group = leader.id();
  pidfd::process member = pidfd::spawn(ctx, child, {"pause"}, join);
  text += "member in the leader's group: "
      + std::string(stat_fields(member.id())[5] == std::to_string(leader.id())
              ? "yes"
              : "no")
      + "\n";

  pidfd::spawn_options fore;
  fore.process_group = pidfd::process_group_mode::new_group;
  fore.foreground_terminal = 0;
  pidfd::process foreground = pidfd::spawn(ctx, child, {"pause"}, fore);
  text += "foreground group is the child's: "
      + std::string(::tcgetpgrp(0) == foreground.id() ? "yes" : "no") + "\n";

  pidfd::spawn_options detach;
  detach.detach_terminal = true;
  pidfd::process detached = pidfd::spawn(ctx, child, {"pause"}, detach);
  text += "detached child has a terminal: "
      + std::string(stat_fields(detached.id())[7] != "0" ? "yes" : "no")
      + ", same session: "
      + (stat_fields(detached.id())[6] == std::to_string(::getpid()) ? "yes"
                                                                     : "no")
      + "\n";

  for (pidfd::process* p : {&leader, &member, &foreground, &detached})
  {
    p->signal(SIGKILL);
    p->wait();
  }
  return write_all(1, text) ? 0 : io_error;
}

int drop_to_nobody(const char* child, const char* path, std::string_view how)
{
  boost::asio::io_context ctx;
  pidfd::spawn_options options;
  options.uid = 65534;
  options.gid = 65534;
  if (how == "keep")
    options.keep_groups = true;
  else if (how != "default")
  {
    std::vector<gid_t> groups;
    for (std::size_t begin = 0; begin < how.size();)
    {
      std::size_t end = std::min(how.find(',', begin), how.size());
      groups.push_back(static_cast<gid_t>(
          std::stoul(std::string(how.substr(begin, end - begin)))));
      begin = end + 1;
    }
    options.groups = std::move(groups);
  }
  pidfd::exit_status s =
      pidfd::spawn(ctx, child, {"report", path}, options).wait();
  return s.exited() ? s.code() : io_error;
}

} // namespace

int main(int argc, char** argv)
{
  if (argc < 2)
    return usage_error;
  const std::string_view mode = argv[1];
  try
  {
    if (mode == "spawn-grandchild" && argc == 4)
      return spawn_grandchild(argv[2], argv[3]);
    if (mode == "pdeath-race" && argc == 5)
      return pdeath_race(argv[2], argv[3], std::atoi(argv[4]));
    if (mode == "try-credentials" && argc == 3)
      return try_credentials(argv[2]);
    if (mode == "job-control" && argc == 3)
      return job_control(argv[2]);
    if (mode == "try-namespaces" && argc == 3)
      return try_namespaces(argv[2]);
    if (mode == "export-worker" && argc == 2)
      return export_worker();
    if (mode == "attach" && argc == 3)
      return attach(argv[2]);
    if (mode == "user-namespace" && argc == 2)
      return user_namespace();
    if (mode == "drop-to-nobody" && argc == 5)
      return drop_to_nobody(argv[2], argv[3], argv[4]);
  }
  catch (const std::exception&)
  {
    return io_error;
  }
  return usage_error;
}
