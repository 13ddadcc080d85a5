//
// examples/test/supervisor_test.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Runs the supervisor example with one worker that keeps crashing and one
// that stays up, waits in its log for restarts with a growing backoff,
// then stops it with SIGTERM (and in a second run SIGINT) and checks that
// it stopped its workers and exited with 0.
//
//   supervisor_test PATH_TO_SUPERVISOR
//

#include "driver.hpp"

#include <regex>

namespace asio = boost::asio;
using driver::check;
using driver::contains;

// Worker 0 exits with 3 at once; worker 1 runs until it is signalled
// (exec, so that the signal reaches sleep itself, not a shell).
const char* const worker_script = "echo \"worker $WORKER_ID up\"; "
                                  "if [ \"$WORKER_ID\" = 0 ]; then exit 3; fi; "
                                  "exec sleep 60";

asio::awaitable<void> run_and_stop(
    asio::io_context& ctx, std::string supervisor, int sig)
{
  const std::string name = sig == SIGINT ? "SIGINT" : "SIGTERM";
  std::printf("--- supervisor stopped with %s\n", name.c_str());
  driver::program sup(ctx, supervisor,
      {"-n", "2", "-b", "10", "-m", "40", "-g", "5000", "sh", "-c",
          worker_script});

  // Worker 0's second exit is followed by a doubled delay.
  bool second_restart = false, worker_1_up = false;
  for (int i = 0; i < 1000 && !(second_restart && worker_1_up); ++i)
  {
    std::optional<std::string> line = co_await sup.next_line();
    if (!line)
      driver::fail("the supervisor's output ended early");
    second_restart = second_restart
        || (line->starts_with("worker 0: pid ")
            && line->ends_with("restarting in 20 ms"));
    worker_1_up = worker_1_up || *line == "worker 1 up";
  }
  check(second_restart && worker_1_up, "worker 0 restarted twice");

  sup.process().signal(sig);
  co_await sup.read_to_end();
  pidfd::exit_status status =
      co_await sup.process().async_wait(asio::use_awaitable);

  const std::string& log = sup.output();
  check(status.exited() && status.code() == 0,
      "the supervisor " + status.to_string());
  check(std::regex_search(log,
            std::regex("worker 0: pid [0-9]+ exited "
                       "with code 3 after [0-9]+ ms; restarting in 10 ms\n")),
      "the first restart is after 10 ms");
  check(log.find("restarting in 10 ms") < log.find("restarting in 20 ms"),
      "then the delay doubles");
  check(contains(log, "supervisor: got " + name + ", stopping the workers"),
      "the signal is logged");
  check(std::regex_search(log,
            std::regex("worker 1: pid [0-9]+ killed by "
                       "SIGTERM; not restarted\n")),
      "worker 1 is stopped with SIGTERM");
  check(log.ends_with("supervisor: all workers stopped\n"),
      "the supervisor's last word");
}

asio::awaitable<void> test(asio::io_context& ctx, std::string supervisor)
{
  co_await run_and_stop(ctx, supervisor, SIGTERM);
  co_await run_and_stop(ctx, supervisor, SIGINT);
}

int main(int argc, char* argv[])
{
  if (argc != 2)
  {
    std::fprintf(stderr, "usage: supervisor_test PATH_TO_SUPERVISOR\n");
    return 2;
  }
  return driver::run([&](asio::io_context& ctx) { return test(ctx, argv[1]); });
}
