//
// examples/test/watch_pid_test.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Starts a target process (our child, not watch_pid's), points watch_pid
// at it, lets the target exit with code 5, and checks that watch_pid,
// which is not its parent, reports "exited with code 5".
//
//   watch_pid_test PATH_TO_WATCH_PID
//

#include "driver.hpp"

#include <boost/asio/writable_pipe.hpp>

namespace asio = boost::asio;
using driver::check;

asio::awaitable<void> test(asio::io_context& ctx, std::string path)
{
  // The target exits when its stdin ends, which we decide.
  asio::writable_pipe target_in(ctx);
  pidfd::process target = pidfd::spawn(ctx, "sh", {"-c", "read x; exit 5"},
      {.in = pidfd::stdio::pipe(target_in), .kill_on_destroy = true});
  const std::string pid = std::to_string(target.id());

  driver::program watcher(ctx, path, {pid});
  for (int i = 0; i < 10; ++i)
  {
    std::optional<std::string> line = co_await watcher.next_line();
    if (!line || *line == "pid " + pid + ": watching")
      break;
  }
  check(driver::contains(watcher.output(), "pid " + pid + ": watching\n"),
      "watch_pid has adopted the target");

  // Let the target exit. It stays a zombie until we reap it, after
  // watch_pid has reported: that way its status is known even on kernels
  // before 6.15, which forget it once the parent has reaped the process.
  target_in.close();
  co_await watcher.read_to_end();
  pidfd::exit_status watcher_status =
      co_await watcher.process().async_wait(asio::use_awaitable);
  pidfd::exit_status target_status =
      co_await target.async_wait(asio::use_awaitable);

  check(target_status.code() == 5, "the target " + target_status.to_string());
  check(watcher_status.success(), "watch_pid " + watcher_status.to_string());
  check(driver::contains(
            watcher.output(), "pid " + pid + ": exited with code 5\n"),
      "watch_pid saw the exit code of a process that is not its child");
}

int main(int argc, char* argv[])
{
  if (argc != 2)
  {
    std::fprintf(stderr, "usage: watch_pid_test PATH_TO_WATCH_PID\n");
    return 2;
  }
  return driver::run([&](asio::io_context& ctx) { return test(ctx, argv[1]); });
}
