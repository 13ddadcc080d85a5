//
// examples/job_runner.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// Runs a list of shell commands, at most N at a time, each with a timeout,
// then prints a table of how each ended and what it cost. A job that
// overruns its timeout is stopped politely: async_terminate sends SIGTERM,
// then SIGKILL if the job is still there after a grace period.
//
//   job_runner [-j N] [-t TIMEOUT_MS] [-g GRACE_MS] [-f FILE] [COMMAND...]
//
// Commands come from the arguments and from FILE (one per line; blank
// lines and lines starting with '#' are skipped). Only the shell itself is
// signalled on a timeout: write "exec sleep 60" rather than "sleep 60" to
// make the command the process that gets SIGTERM. The exit code is 0 if
// every job succeeded, else 1.
//

#include <pidfd/asio.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using std::chrono::milliseconds;

struct job
{
  std::string command;

  // Filled in when the job has run.
  pidfd::exit_status status{};
  std::string error{}; // why it could not be started
  std::chrono::steady_clock::duration wall{};
  bool timed_out = false;
};

struct settings
{
  std::size_t concurrency = 4;
  milliseconds timeout{10000};
  milliseconds grace{2000};
};

// Runs one job to completion.
asio::awaitable<void> run_job(job& j, const settings& s)
{
  auto ex = co_await asio::this_coro::executor;
  const auto start = std::chrono::steady_clock::now();

  // The jobs share our stdout and stderr, but not our stdin: a job that
  // reads it would compete with the others for the same input.
  boost::system::error_code ec;
  pidfd::process child = pidfd::spawn(
      ex, "sh", {"-c", j.command}, {.in = pidfd::stdio::null()}, ec);
  if (ec)
  {
    j.error = ec.message();
    co_return;
  }

  // The first operation to finish cancels the other. A cancelled wait has
  // no side effect: the child keeps running and can still be waited for.
  asio::steady_timer timer(ex, s.timeout);
  auto first = co_await (child.async_wait(asio::use_awaitable)
      || timer.async_wait(asio::use_awaitable));
  if (first.index() == 0)
  {
    j.status = std::get<0>(first);
  }
  else
  {
    // SIGTERM now, SIGKILL after the grace period; completes with the
    // status the job finally ended with.
    j.timed_out = true;
    j.status = co_await child.async_terminate(s.grace, asio::use_awaitable);
  }
  j.wall = std::chrono::steady_clock::now() - start;
}

// One of N workers: each takes the next job not yet started. Everything
// runs on one thread, so the shared index needs no lock.
asio::awaitable<void> worker(
    std::vector<job>& jobs, std::size_t& next, const settings& s)
{
  while (next < jobs.size())
    co_await run_job(jobs[next++], s);
}

double ms(std::chrono::nanoseconds d)
{
  return std::chrono::duration<double, std::milli>(d).count();
}

void print_summary(const std::vector<job>& jobs)
{
  std::printf("\n%-3s %-28s %9s %9s %9s  %s\n", "#", "status", "wall ms",
      "user ms", "sys ms", "command");
  int failed = 0, timed_out = 0;
  for (std::size_t i = 0; i < jobs.size(); ++i)
  {
    const job& j = jobs[i];
    std::string what =
        j.error.empty() ? j.status.to_string() : "not started: " + j.error;
    if (j.timed_out)
    {
      what += " (timeout)";
      ++timed_out;
    }
    if (!j.error.empty() || !j.status.success())
      ++failed;
    std::printf("%-3zu %-28s %9.1f %9.1f %9.1f  %s\n", i + 1, what.c_str(),
        ms(j.wall), ms(j.status.user_time()), ms(j.status.system_time()),
        j.command.c_str());
  }
  std::printf("%zu jobs: %zu succeeded, %d failed, %d timed out\n", jobs.size(),
      jobs.size() - failed, failed, timed_out);
}

int usage()
{
  std::fprintf(stderr,
      "usage: job_runner [-j N] [-t TIMEOUT_MS] "
      "[-g GRACE_MS] [-f FILE] [COMMAND...]\n");
  return 2;
}

int main(int argc, char* argv[])
{
  settings s;
  std::vector<job> jobs;
  for (int i = 1; i < argc; ++i)
  {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "-j" && has_value)
      s.concurrency = std::strtoul(argv[++i], nullptr, 10);
    else if (arg == "-t" && has_value)
      s.timeout = milliseconds(std::strtol(argv[++i], nullptr, 10));
    else if (arg == "-g" && has_value)
      s.grace = milliseconds(std::strtol(argv[++i], nullptr, 10));
    else if (arg == "-f" && has_value)
    {
      std::ifstream file(argv[++i]);
      if (!file)
      {
        std::fprintf(stderr, "job_runner: cannot read %s\n", argv[i]);
        return 2;
      }
      for (std::string line; std::getline(file, line);)
        if (!line.empty() && line[0] != '#')
          jobs.push_back({line});
    }
    else if (arg.starts_with("-"))
      return usage();
    else
      jobs.push_back({arg});
  }
  if (jobs.empty() || s.concurrency == 0)
    return usage();

  std::printf("%zu jobs, %zu at a time, timeout %lld ms, grace %lld ms\n",
      jobs.size(), s.concurrency, static_cast<long long>(s.timeout.count()),
      static_cast<long long>(s.grace.count()));
  std::fflush(stdout); // before the jobs write to the same stdout

  asio::io_context ctx;
  std::size_t next = 0;
  for (std::size_t w = 0; w < s.concurrency && w < jobs.size(); ++w)
    asio::co_spawn(ctx, worker(jobs, next, s), [](std::exception_ptr e) {
      // Only the unexpected gets here (a failed wait, out of memory): let
      // it leave ctx.run() rather than report a half-finished table.
      if (e)
        std::rethrow_exception(e);
    });
  ctx.run();

  print_summary(jobs);
  for (const job& j : jobs)
    if (!j.status.success())
      return 1;
  return 0;
}
