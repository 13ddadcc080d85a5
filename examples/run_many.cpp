//
// examples/run_many.cpp
// ~~~~~~~~~~~~~~~~~~~~~
// Runs several commands at once with co_await, prints how each ended and
// the CPU time it used, and stops the one that overruns its timeout: the
// wait is raced against a timer, cancelled when the timer wins, and the
// child is sent SIGTERM through its pidfd (never a recycled PID).
//
//   run_many                     the built-in demo
//   run_many 'make -j2' 'ls /'   your own shell commands
//

#include <pidfd/asio.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

struct job
{
  std::string command; // run with sh -c
  std::chrono::milliseconds timeout;
};

double millis(std::chrono::microseconds us)
{
  return static_cast<double>(us.count()) / 1000.0;
}

asio::awaitable<void> run(const job& j)
{
  auto ex = co_await asio::this_coro::executor;
  const auto start = std::chrono::steady_clock::now();

  pidfd::process child = pidfd::spawn(ex, "sh", {"-c", j.command});

  // Whichever finishes first cancels the other: a timeout cancels the wait,
  // which leaves the child running, so it can be stopped politely.
  asio::steady_timer timer(ex, j.timeout);
  auto first = co_await (child.async_wait(asio::use_awaitable)
      || timer.async_wait(asio::use_awaitable));

  pidfd::exit_status status;
  std::string note;
  if (first.index() == 0)
  {
    status = std::get<0>(first);
  }
  else
  {
    co_await child.async_signal(SIGTERM, asio::use_awaitable);
    note = " (timed out after " + std::to_string(j.timeout.count())
        + " ms, sent SIGTERM)";
    status = co_await child.async_wait(asio::use_awaitable);
  }

  const auto wall = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  std::printf("pid %-7d %-22s cpu %6.1f ms user %5.1f ms sys "
              "wall %7.1f ms  $ %s%s\n",
      static_cast<int>(child.id()), status.to_string().c_str(),
      millis(status.user_time()), millis(status.system_time()), millis(wall),
      j.command.c_str(), note.c_str());
}

int main(int argc, char* argv[])
{
  std::vector<job> jobs;
  for (int i = 1; i < argc; ++i)
    jobs.push_back({argv[i], 10s});
  if (jobs.empty())
  {
    jobs = {
        {"true", 5s},
        {"exit 3", 5s},
        {"i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done", 20s},
        {"kill -KILL $$", 5s},
        {"exec sleep 30", 300ms},
    };
  }

  std::printf("%s\n", pidfd::kernel_support().to_string().c_str());
  asio::io_context ctx;
  int failures = 0;
  for (const job& j : jobs)
    asio::co_spawn(ctx, run(j), [&](std::exception_ptr e) {
      if (!e)
        return;
      ++failures;
      try
      {
        std::rethrow_exception(e);
      }
      catch (const std::exception& ex)
      {
        std::fprintf(stderr, "%s: %s\n", j.command.c_str(), ex.what());
      }
    });
  ctx.run();
  return failures == 0 ? 0 : 1;
}
