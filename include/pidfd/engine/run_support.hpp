//
// pidfd/engine/run_support.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The compiled parts of async_run (src/run.cpp), without Asio.
//

#ifndef PIDFD_ENGINE_RUN_SUPPORT_HPP
#define PIDFD_ENGINE_RUN_SUPPORT_HPP

#include "pidfd/spawn_error_info.hpp"
#include "pidfd/spawn_options.hpp"

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <vector>

namespace pidfd::detail {

// The caller's fds that a run's spawn options name, duplicated
// (close-on-exec) when async_run is called: the run spawns later, when its
// operation runs, and by then the caller may have closed an fd and the
// number may name another file. Closes the copies when destroyed.
class captured_fds
{
public:
  captured_fds() = default;
  captured_fds(const captured_fds&) = delete;
  captured_fds& operator=(const captured_fds&) = delete;
  ~captured_fds();

  // Points `options` at copies of the fds it names: stdin, stdout and
  // stderr given as stdio::fd(), and the inherited fds. An fd that cannot
  // be copied (EBADF: not open; EMFILE) is left as it is and the first
  // failure kept in ec and info, in spawn's words, for the run to report.
  void capture(spawn_options& options);

  boost::system::error_code ec;
  spawn_error_info info;

private:
  int copy(int fd, spawn_error_info::part part, int child_fd, const char* name,
      const char* fd_words);

  std::vector<int> fds_;
};

// Writes all of data to a non-blocking pipe fd; a reader that went away is
// not an error (the child chose not to read). The write never raises
// SIGPIPE in the parent.
boost::system::error_code write_no_sigpipe(
    int fd, const char*& data, std::size_t& size);

// The system calls the binding makes on the fds it holds, kept in the
// compiled engine with the others (src/detail/syscalls.hpp, not installed).

// Makes the open file description of fd non-blocking, for
// write_no_sigpipe on the child's stdin pipe.
boost::system::error_code make_non_blocking(int fd) noexcept;

// A close-on-exec duplicate of fd, the lowest free number; -1 with ec set
// if there is none.
int duplicate_fd(int fd, boost::system::error_code& ec) noexcept;

// Closes an fd that no I/O object owns (yet).
void close_fd(int fd) noexcept;

} // namespace pidfd::detail

#endif // PIDFD_ENGINE_RUN_SUPPORT_HPP
