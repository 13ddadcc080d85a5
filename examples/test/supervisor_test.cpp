//
// examples/test/supervisor_test.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Runs the supervisor example with one worker that keeps crashing and one
// that stays up, waits in its log for restarts with a growing backoff,
// then stops it with SIGTERM (and in a second run SIGINT) and checks that
// it stopped its workers and exited with 0. Then restarts a supervisor
// with -s (see restart()).
//
//   supervisor_test PATH_TO_SUPERVISOR
//

#include "driver.hpp"

#include <regex>
#include <string>
#include <vector>

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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

// The PID in "worker N: started, pid P" or "worker N: re-attached, pid P".
pid_t worker_pid(const std::string& log, int n, const std::string& how)
{
  std::smatch m;
  const std::regex line(
      "worker " + std::to_string(n) + ": " + how + ", pid ([0-9]+)\n");
  if (!std::regex_search(log, m, line))
    driver::fail("no \"worker " + std::to_string(n) + ": " + how + "\"");
  return static_cast<pid_t>(std::stol(m[1]));
}

// Reads the supervisor's log until it has shown lines that start with
// `a` and with `b`, in any order. (Two strings rather than a braced list:
// g++ 12 cannot put a braced list's array into a coroutine's frame.)
asio::awaitable<void> until_seen(
    driver::program& sup, std::string a, std::string b)
{
  std::vector<std::string> lines;
  lines.push_back(std::move(a));
  lines.push_back(std::move(b));
  while (!lines.empty())
  {
    std::optional<std::string> line = co_await sup.next_line();
    if (!line)
      driver::fail("the supervisor's output ended early");
    std::erase_if(
        lines, [&](const std::string& l) { return line->starts_with(l); });
  }
}

// -s: a supervisor leaves its workers running (SIGHUP); one of them is
// killed and reaped meanwhile (its PID could be anyone's now); the next
// supervisor re-attaches to the other, exactly that process, and starts
// the gone one again; SIGTERM then stops both. This process is a
// subreaper, so that the orphaned workers become its children.
asio::awaitable<void> restart(asio::io_context& ctx, std::string supervisor)
{
  std::printf("--- supervisor restarted with -s\n");
  // A string, not a char array: g++ 12 cannot put an array into a
  // coroutine's frame.
  std::string dir = "/tmp/supervisor-test-XXXXXX";
  check(::mkdtemp(dir.data()) != nullptr, "a temporary directory");
  const std::string state = dir + "/state";
  check(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0, "a child subreaper");
  const std::vector<std::string> args = {"-n", "2", "-s", state, "sh", "-c",
      "echo \"worker $WORKER_ID up\"; exec sleep 60"};

  driver::program first(ctx, supervisor, args);
  co_await until_seen(first, "worker 0 up", "worker 1 up");
  first.process().signal(SIGHUP);
  // Not to the end of its output: the workers it leaves still hold it.
  const std::string last_word = "supervisor: got SIGHUP, leaving the "
                                "workers running for the next supervisor";
  for (;;)
  {
    std::optional<std::string> line = co_await first.next_line();
    if (!line)
      driver::fail("the first supervisor's output ended early");
    if (*line == last_word)
      break;
  }
  pidfd::exit_status status =
      co_await first.process().async_wait(asio::use_awaitable);
  check(status.exited() && status.code() == 0,
      "the first supervisor " + status.to_string());
  check(first.output().ends_with(last_word + "\n"),
      "the first supervisor left its workers running");
  const pid_t gone = worker_pid(first.output(), 0, "started");
  const pid_t kept = worker_pid(first.output(), 1, "started");

  // Worker 0 ends while no supervisor runs; this process reaps it.
  const int gone_fd = static_cast<int>(::syscall(SYS_pidfd_open, gone, 0));
  check(gone_fd >= 0
          && ::syscall(SYS_pidfd_send_signal, gone_fd, SIGKILL, nullptr, 0)
              == 0,
      "worker 0 killed");
  ::close(gone_fd);
  int raw = 0;
  check(::waitpid(gone, &raw, 0) == gone, "worker 0 reaped here");

  driver::program second(ctx, supervisor, args);
  co_await until_seen(second, "worker 0 up", "worker 1: re-attached");
  const std::string& log = second.output();
  check(worker_pid(log, 1, "re-attached") == kept,
      "worker 1 re-attached, the same process");
  check(contains(log,
            "worker 0: not re-attached (the process has gone); "
            "starting it\n"),
      "worker 0 is known to have gone");
  worker_pid(log, 0, "started"); // fails if worker 0 was not started again
  second.process().signal(SIGTERM);
  co_await second.read_to_end();
  status = co_await second.process().async_wait(asio::use_awaitable);
  check(status.exited() && status.code() == 0,
      "the second supervisor " + status.to_string());
  check(std::regex_search(second.output(),
            std::regex("worker 1: pid " + std::to_string(kept)
                + " killed by SIGTERM; not restarted\n")),
      "the re-attached worker 1 is stopped with SIGTERM");
  check(second.output().ends_with("supervisor: all workers stopped\n"),
      "the second supervisor's last word");
  check(::access(state.c_str(), F_OK) != 0, "no state file is left");
  check(::waitpid(kept, &raw, 0) == kept && WIFSIGNALED(raw),
      "worker 1 reaped here");
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  ::rmdir(dir.c_str());
}

asio::awaitable<void> test(asio::io_context& ctx, std::string supervisor)
{
  co_await run_and_stop(ctx, supervisor, SIGTERM);
  co_await run_and_stop(ctx, supervisor, SIGINT);
  if (pidfd::kernel_support().forced_fallback)
    std::printf("--- no restart with -s: no handles in the wait4 fallback\n");
  else
    co_await restart(ctx, supervisor);
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
