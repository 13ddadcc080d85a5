//
// examples/watch_pid.cpp
// ~~~~~~~~~~~~~~~~~~~~~~
// Waits for any processes to exit, children or not, and says how each
// ended. Before pidfds, a process could only wait for its own children;
// anything else meant polling kill(pid, 0), and a recycled PID would fool
// the poll. A pidfd refers to one process for good, and becomes readable
// when that process exits.
//
//   watch_pid PID...
//
// The exit status of a process that is not our child is known where the
// kernel offers it: Linux 6.15 keeps it for pidfds (PIDFD_INFO_EXIT), and
// before that it can be read while the process is a zombie, until its
// parent reaps it. Otherwise the status is "exited, status unknown".
//

#include <pidfd/asio.hpp>

#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace asio = boost::asio;
using boost::system::error_code;

int main(int argc, char* argv[])
{
  if (argc < 2)
  {
    std::fprintf(stderr, "usage: watch_pid PID...\n");
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const pidfd::kernel_features& kernel = pidfd::kernel_support();
  std::printf("exit status of non-children: %s\n",
      kernel.exit_info ? "kept by the kernel (PIDFD_INFO_EXIT)"
                       : "known only while they are zombies");

  asio::io_context ctx;
  std::vector<pidfd::process> watched;
  int failures = 0;
  for (int i = 1; i < argc; ++i)
  {
    // adopt() turns the PID into a pidfd now, once: from then on the
    // object refers to that process, even if the PID is reused later.
    const pid_t pid = static_cast<pid_t>(std::atol(argv[i]));
    error_code ec;
    pidfd::process p = pidfd::process::adopt(ctx.get_executor(), pid, ec);
    if (ec) // pid <= 0, a thread id, or no permission
    {
      std::printf("pid %s: %s\n", argv[i], ec.message().c_str());
      ++failures;
      continue;
    }
    std::printf("pid %d: watching\n", static_cast<int>(pid));
    watched.push_back(std::move(p));
  }

  // The handlers refer to elements of `watched`, which no longer grows.
  for (pidfd::process& p : watched)
    p.async_wait([&p, &failures](error_code ec, pidfd::exit_status st) {
      // A PID with no process behind it was already gone when adopted:
      // the wait reports no_child_process.
      if (ec == boost::system::errc::no_child_process)
        std::printf("pid %d: no such process\n", p.id());
      else if (ec)
        std::printf("pid %d: %s\n", p.id(), ec.message().c_str());
      else if (st.known())
        std::printf("pid %d: %s\n", p.id(), st.to_string().c_str());
      else
        std::printf("pid %d: exited, status unknown\n", p.id());
      if (ec)
        ++failures;
    });
  ctx.run();
  return failures == 0 ? 0 : 1;
}
