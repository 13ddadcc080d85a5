//
// benchmarks/floors.cpp
// ~~~~~~~~~~~~~~~~~~~~~
// The floors' child start and status collection (floors.hpp).
//

#include "floors.hpp"

#include <cerrno>
#include <stdexcept>

#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3 // Linux 5.4
#endif

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1u << 1) // Linux 5.9
#endif

extern char** environ;

namespace bench {
namespace {

struct exec_args
{
  const char* path;
  char* const* argv;
};

// Runs in the vfork child, on vfork_starter's stack, sharing our memory:
// only execve and _exit.
int exec_child(void* arg)
{
  auto* a = static_cast<exec_args*>(arg);
  ::execve(a->path, a->argv, environ);
  ::_exit(127);
}

// The same, for a child that shares our fd table (CLONE_FILES): it takes a
// private copy of fds 0-2 only, as pidfd-asio's child does, instead of the
// kernel copying the whole table at clone and execve closing the O_CLOEXEC
// part of it.
int exec_child_unshare(void* arg)
{
  if (::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_UNSHARE) != 0)
    ::_exit(126);
  return exec_child(arg);
}

} // namespace

vfork_starter::vfork_starter(bool share_files)
  : flags_(CLONE_PIDFD | CLONE_VM | CLONE_VFORK | SIGCHLD
      | (share_files ? CLONE_FILES : 0)),
    child_(share_files ? exec_child_unshare : exec_child)
{
}

int vfork_starter::start(const command& cmd)
{
  exec_args a{cmd.program().c_str(), cmd.argv()};
  int pidfd = -1;
  pid_t pid = ::clone(child_, stack_ + sizeof stack_, flags_, &a, &pidfd);
  check_errno(pid > 0, "clone");
  return pidfd;
}

void handler_chain::check_all_collected(const char* who) const
{
  if (finished_ != n_)
    throw std::runtime_error(format("%s: missing completions", who));
}

int collect_status(int pidfd)
{
  siginfo_t info{};
  int r;
  while (
      (r = ::waitid(static_cast<idtype_t>(P_PIDFD), pidfd, &info, WEXITED)) < 0
      && errno == EINTR)
  {
  }
  check_errno(r == 0, "waitid");
  return info.si_code == CLD_EXITED ? info.si_status << 8 : 0x7f;
}

} // namespace bench
