//
// test/support/guards.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
// Guards for process-wide state a test changes for its duration: the
// environment, the working directory, an fd, a signal's disposition. Each
// restores what it found when destroyed. (subreaper_guard is in
// fixture.hpp.)
//

#ifndef PIDFD_TEST_SUPPORT_GUARDS_HPP
#define PIDFD_TEST_SUPPORT_GUARDS_HPP

#include "support/fixture.hpp"

#include <optional>
#include <string>

#include <signal.h>

namespace pidfd_test {

/// Sets (or with nullopt unsets) an environment variable of this process
/// until destroyed.
class env_guard
{
public:
  env_guard(const char* name, std::optional<std::string> value);
  env_guard(const env_guard&) = delete;
  env_guard& operator=(const env_guard&) = delete;
  ~env_guard();

private:
  std::string name_;
  std::optional<std::string> old_;
};

/// Changes this process's working directory until destroyed.
class cwd_guard
{
public:
  explicit cwd_guard(const std::string& dir);
  cwd_guard(const cwd_guard&) = delete;
  cwd_guard& operator=(const cwd_guard&) = delete;
  ~cwd_guard();

private:
  unique_fd old_;
};

/// Points one of this process's fds at another file until destroyed.
/// Nothing may report a test failure while fd 1 or 2 is redirected.
class redirect_guard
{
public:
  redirect_guard(int fd, int to);
  redirect_guard(const redirect_guard&) = delete;
  redirect_guard& operator=(const redirect_guard&) = delete;
  ~redirect_guard();

private:
  int fd_;
  unique_fd saved_;
};

/// Sets a signal's disposition (handler and sa_flags, empty sa_mask) until
/// destroyed.
class disposition_guard
{
public:
  disposition_guard(int sig, void (*handler)(int), int flags = 0);
  disposition_guard(const disposition_guard&) = delete;
  disposition_guard& operator=(const disposition_guard&) = delete;
  ~disposition_guard();

private:
  int sig_;
  struct sigaction old_
  {
  };
};

} // namespace pidfd_test

#endif // PIDFD_TEST_SUPPORT_GUARDS_HPP
