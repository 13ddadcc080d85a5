//
// src/detail/test_hooks.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~
//

#include "detail/test_hooks.hpp"

#include <cstdlib>
#include <cstring>

namespace pidfd::detail::test_hooks {
namespace {

bool switched_on(const char* name) noexcept
{
  const char* v = std::getenv(name);
  return v && std::strcmp(v, "1") == 0;
}

} // namespace

bool no_cgroup_kill() noexcept
{
  static const bool on = switched_on("PIDFD_ASIO_TEST_NO_CGROUP_KILL");
  return on;
}

bool no_tiocgptpeer() noexcept
{
  static const bool on = switched_on("PIDFD_ASIO_TEST_NO_TIOCGPTPEER");
  return on;
}

bool assume_autokill() noexcept
{
  static const bool on = switched_on("PIDFD_ASIO_TEST_ASSUME_AUTOKILL");
  return on;
}

bool refuse_ring_waitid() noexcept
{
  static const bool on = switched_on("PIDFD_ASIO_TEST_NO_RING_WAITID");
  return on;
}

} // namespace pidfd::detail::test_hooks
