//
// examples/test/driver.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
// What the drivers that test the interactive examples share: starting an
// example with its output in a pipe, reading that output line by line,
// and reporting checks.
//

#ifndef PIDFD_EXAMPLES_TEST_DRIVER_HPP
#define PIDFD_EXAMPLES_TEST_DRIVER_HPP

#include <pidfd/asio.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace driver {

namespace asio = boost::asio;

[[noreturn]] inline void fail(const std::string& why)
{
  std::printf("FAIL: %s\n", why.c_str());
  std::fflush(stdout);
  // The examples under test die with us: see program below.
  std::_Exit(1);
}

inline void check(bool ok, const std::string& what)
{
  if (!ok)
    fail(what);
  std::printf("ok: %s\n", what.c_str());
}

inline bool contains(const std::string& text, const std::string& part)
{
  return text.find(part) != std::string::npos;
}

// An example program started with its stdout and stderr in one pipe.
class program
{
public:
  program(asio::io_context& ctx, const std::string& path,
      const std::vector<std::string>& args)
    : out_(ctx), process_(pidfd::spawn(ctx, path, args,
                     {.in = pidfd::stdio::null(),
                         .out = pidfd::stdio::pipe(out_),
                         .err = pidfd::stdio::merge_with_stdout(),
                         // If a check fails and the driver exits, the example
                         // must not linger and keep ctest waiting.
                         .parent_death_signal = SIGKILL,
                         .kill_on_destroy = true}))
  {
  }

  pidfd::process& process() { return process_; }

  // Everything read so far.
  const std::string& output() const { return output_; }

  // The next line, without its newline; std::nullopt at end of output.
  asio::awaitable<std::optional<std::string>> next_line()
  {
    auto [ec, n] =
        co_await asio::async_read_until(out_, asio::dynamic_buffer(pending_),
            '\n', asio::as_tuple(asio::use_awaitable));
    if (ec && pending_.empty())
      co_return std::nullopt;
    if (ec) // a last line without a newline
      n = pending_.size();
    std::string line = pending_.substr(0, n);
    pending_.erase(0, n);
    output_ += line;
    std::printf("  | %s", line.c_str());
    if (!line.ends_with('\n'))
      std::printf("\n");
    if (line.ends_with('\n'))
      line.pop_back();
    co_return line;
  }

  // Reads up to the end of the output (at most max_lines lines).
  asio::awaitable<void> read_to_end(int max_lines = 100000)
  {
    for (int i = 0; i < max_lines; ++i)
      if (!co_await next_line())
        co_return;
    fail("too much output");
  }

private:
  asio::readable_pipe out_;
  pidfd::process process_;
  std::string pending_;
  std::string output_;
};

// Fails the test if it is still running after `limit`: a bound on a broken
// example, not a way to wait for anything.
inline void start_watchdog(
    asio::steady_timer& timer, std::chrono::seconds limit)
{
  timer.expires_after(limit);
  timer.async_wait([limit](boost::system::error_code ec) {
    if (!ec)
      fail("still running after " + std::to_string(limit.count()) + " s");
  });
}

// Runs the coroutine make_test(ctx) returns on a fresh io_context;
// exceptions fail the test.
template <typename MakeTest>
int run(MakeTest make_test)
{
  asio::io_context ctx;
  asio::steady_timer watchdog(ctx);
  start_watchdog(watchdog, std::chrono::seconds(30));
  asio::co_spawn(ctx, make_test(ctx), [&](std::exception_ptr e) {
    watchdog.cancel();
    if (!e)
      return;
    try
    {
      std::rethrow_exception(e);
    }
    catch (const std::exception& ex)
    {
      fail(std::string("exception: ") + ex.what());
    }
  });
  ctx.run();
  std::printf("PASS\n");
  return 0;
}

} // namespace driver

#endif // PIDFD_EXAMPLES_TEST_DRIVER_HPP
