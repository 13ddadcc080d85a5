//
// src/exit_status.cpp
// ~~~~~~~~~~~~~~~~~~~
//

#include "pidfd/exit_status.hpp"

#include <ostream>

#include <string.h>
#include <sys/wait.h>

namespace pidfd {

exit_status exit_status::from_wait_status(int wait_status) noexcept
{
  exit_status s;
  s.wait_status_ = wait_status;
  if (WIFEXITED(wait_status))
    s.kind_ = kind::exited;
  else if (WIFSIGNALED(wait_status))
    s.kind_ = kind::signaled;
  else
    s.wait_status_ = 0; // stopped/continued: not an end state
  return s;
}

int exit_status::code() const noexcept
{
  return exited() ? WEXITSTATUS(wait_status_) : -1;
}

int exit_status::signal() const noexcept
{
  return signaled() ? WTERMSIG(wait_status_) : 0;
}

bool exit_status::core_dumped() const noexcept
{
  return signaled()
      && (WCOREDUMP(wait_status_) || (core_dump_ & core_dumped_bit) != 0);
}

std::string exit_status::to_string() const
{
  switch (kind_)
  {
  case kind::exited:
    return "exited with code " + std::to_string(code());
  case kind::signaled:
  {
    std::string text = "killed by ";
    // sigabbrev_np (glibc 2.32) gives "KILL" for SIGKILL, null for
    // numbers without a name (real-time signals).
    if (const char* abbrev = ::sigabbrev_np(signal()))
      text += std::string("SIG") + abbrev;
    else
      text += "signal " + std::to_string(signal());
    if (core_dumped())
      text += (core_dump_ & core_as_root) != 0 ? " (core dumped as root)"
                                               : " (core dumped)";
    else if ((core_dump_ & core_skipped) != 0)
      text += " (core dump skipped)";
    return text;
  }
  case kind::unknown:
    break;
  }
  return "exited, status unknown";
}

std::ostream& operator<<(std::ostream& os, const exit_status& s)
{
  return os << s.to_string();
}

} // namespace pidfd
