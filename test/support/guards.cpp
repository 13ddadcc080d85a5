//
// test/support/guards.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~
//

#include "support/guards.hpp"

#include <cerrno>
#include <cstdlib>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace pidfd_test {
namespace {

[[noreturn]] void throw_errno(const char* what)
{
  throw std::system_error(errno, std::generic_category(), what);
}

} // namespace

env_guard::env_guard(const char* name, std::optional<std::string> value)
  : name_(name)
{
  if (const char* old = std::getenv(name))
    old_ = old;
  if (value)
    ::setenv(name, value->c_str(), 1);
  else
    ::unsetenv(name);
}

env_guard::~env_guard()
{
  if (old_)
    ::setenv(name_.c_str(), old_->c_str(), 1);
  else
    ::unsetenv(name_.c_str());
}

cwd_guard::cwd_guard(const std::string& dir)
  : old_(::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC))
{
  if (old_.get() < 0)
    throw_errno("open .");
  if (::chdir(dir.c_str()) != 0)
    throw_errno("chdir");
}

cwd_guard::~cwd_guard()
{
  [[maybe_unused]] int r = ::fchdir(old_.get());
}

redirect_guard::redirect_guard(int fd, int to)
  : fd_(fd), saved_(::fcntl(fd, F_DUPFD_CLOEXEC, 0))
{
  if (saved_.get() < 0)
    throw_errno("F_DUPFD_CLOEXEC");
  if (::dup2(to, fd) < 0)
    throw_errno("dup2");
}

redirect_guard::~redirect_guard()
{
  ::dup2(saved_.get(), fd_);
}

disposition_guard::disposition_guard(int sig, void (*handler)(int), int flags)
  : sig_(sig)
{
  struct sigaction action
  {
  };
  action.sa_handler = handler;
  action.sa_flags = flags;
  ::sigemptyset(&action.sa_mask);
  if (::sigaction(sig_, &action, &old_) != 0)
    throw_errno("sigaction");
}

disposition_guard::~disposition_guard()
{
  ::sigaction(sig_, &old_, nullptr);
}

} // namespace pidfd_test
