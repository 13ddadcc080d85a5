//
// src/error.cpp
// ~~~~~~~~~~~~~
// The "pidfd" error category.
//

#include "pidfd/error.hpp"

#include <boost/system/system_error.hpp>

#include <string>

namespace pidfd {
namespace {

namespace errc = boost::system::errc;

class category final : public boost::system::error_category
{
public:
  // A fixed id lets categories from different shared objects compare equal.
  constexpr category() noexcept : error_category(0x70b3c1e8a95d4f21ull) {}

  const char* name() const noexcept override { return "pidfd"; }

  std::string message(int ev) const override
  {
    switch (static_cast<error>(ev))
    {
    case error::process_done:
      return "process already finished";
    case error::invalid_signal:
      return "invalid signal number";
    case error::no_process:
      return "process object does not refer to a process";
    case error::embedded_nul:
      return "program, argument or environment string contains a NUL byte";
    case error::empty_program:
      return "program name is empty";
    case error::invalid_option:
      return "invalid or conflicting spawn option";
    case error::invalid_grace_period:
      return "grace period is negative";
    case error::invalid_wait_delay:
      return "wait delay is negative";
    case error::no_tree:
      return "no process tree: spawn with a cgroup or a new process group";
    case error::no_cgroup:
      return "no cgroup: spawn with spawn_options::cgroup to wait for the "
             "tree";
    case error::invalid_window_size:
      return "terminal window size has 0 rows or 0 columns";
    case error::no_identity:
      return "no process identity: needs a pidfd on pidfs (Linux 6.9, 6.14 "
             "for handles), which the wait4 fallback does not use";
    case error::invalid_handle:
      return "not a process handle exported by pidfd-asio on this kernel";
    case error::process_gone:
      return "the process has gone";
    }
    return "unknown pidfd error " + std::to_string(ev);
  }

  boost::system::error_condition default_error_condition(
      int ev) const noexcept override
  {
    switch (static_cast<error>(ev))
    {
    case error::process_done:
      return errc::make_error_condition(errc::no_such_process);
    case error::invalid_signal:
    case error::embedded_nul:
    case error::invalid_option:
    case error::invalid_grace_period:
    case error::invalid_wait_delay:
    case error::invalid_window_size:
    case error::invalid_handle:
      return errc::make_error_condition(errc::invalid_argument);
    case error::process_gone:
      return errc::make_error_condition(errc::no_such_process);
    case error::no_identity:
      return errc::make_error_condition(errc::operation_not_supported);
    case error::no_process:
      return errc::make_error_condition(errc::bad_file_descriptor);
    case error::empty_program:
      return errc::make_error_condition(errc::no_such_file_or_directory);
    case error::no_tree:
    case error::no_cgroup:
      return errc::make_error_condition(errc::operation_not_supported);
    }
    return {ev, *this};
  }
};

} // namespace

const boost::system::error_category& error_category() noexcept
{
  static const category instance;
  return instance;
}

namespace detail {

void throw_error(const boost::system::error_code& ec, const char* what)
{
  throw boost::system::system_error(ec, what);
}

} // namespace detail
} // namespace pidfd
