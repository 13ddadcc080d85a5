//
// test/options/run.cpp
// ~~~~~~~~~~~~~~~~~~~~
// pidfd::async_run: output capture, input, timeout, errors, tokens.
//

// Test that header file is self-contained.
#include "pidfd/run.hpp"

#include "options/run_fixture.hpp"
#include "options/support.hpp"
#include "support/counting_allocator.hpp"
#include "pidfd/error.hpp"
#include "support/child.hpp"

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <cerrno>
#include <cstring>
#include <csignal>
#include <exception>
#include <functional>
#include <future>
#include <optional>
#include <stdexcept>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using namespace std::chrono_literals;
using boost::system::error_code;
using pidfd::run_options;
using pidfd::run_result;
using pidfd_options_test::make_pipe;
using pidfd_test::child_program;
using pidfd_test::unique_fd;

class options_run_test : public pidfd_options_test::run_fixture
{
protected:
  struct guarded_outcome
  {
    std::optional<std::pair<error_code, run_result>> result;
    bool guard_fired = false;
  };

  // async_run of the child with `args`, to completion, with a liveness
  // guard: nothing else tells when async_run fails to stop, so after 4 s
  // (40 times the timeouts used here) the guard closes `release`, which
  // ends whatever the child's process waits on, and says so. The handler
  // closes `release` too.
  guarded_outcome run_guarded(
      const pidfd::argument_list& args, run_options options, unique_fd& release)
  {
    guarded_outcome o;
    asio::steady_timer guard(ctx, 4s);
    guard.async_wait([&](error_code ec) {
      if (ec)
        return;
      o.guard_fired = true;
      release.reset();
    });
    pidfd::async_run(ctx, child_program, args, std::move(options),
        [&](error_code ec, run_result r) {
          o.result.emplace(ec, std::move(r));
          guard.cancel();
          release.reset();
        });
    run();
    return o;
  }
};

void rethrow(std::exception_ptr e)
{
  if (e)
    std::rethrow_exception(e);
}

TEST_F(options_run_test, captures_stdout_and_stderr)
{
  auto [ec, r] = run_to_end(child_program, {"write", "to out", "to err"});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.status.success()) << r.status;
  EXPECT_EQ(r.out, "to out");
  EXPECT_EQ(r.err, "to err");
  EXPECT_FALSE(r.timed_out);
  EXPECT_GT(r.elapsed, 0s);
}

TEST_F(options_run_test, sixteen_mebibytes_on_both_streams_at_once)
{
  // The child alternates between the streams in 64 KiB chunks and blocks
  // on whichever is full: reading one stream at a time would deadlock.
  constexpr std::size_t size = 16 * 1024 * 1024;
  auto [ec, r] = run_to_end(child_program, {"flood", std::to_string(size)});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.status.success()) << r.status;
  ASSERT_EQ(r.out.size(), size);
  ASSERT_EQ(r.err.size(), size);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < size; ++i)
    wrong += (r.out[i] != pidfd_test::flood_pattern(i, 0))
        + (r.err[i] != pidfd_test::flood_pattern(i, 1));
  EXPECT_EQ(wrong, 0u);
}

TEST_F(options_run_test, input_is_written_to_stdin_and_then_closed)
{
  std::string input(1024 * 1024, '\0');
  for (std::size_t i = 0; i < input.size(); ++i)
    input[i] = static_cast<char>(i * 31 % 251);
  auto [ec, r] = run_to_end(child_program, {"echo"}, {.input = input});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.status.success()) << r.status;
  EXPECT_TRUE(r.out == input) << r.out.size() << " bytes";

  // Empty input: EOF at once.
  auto [ec2, r2] = run_to_end(child_program, {"echo"}, {.input = ""});
  EXPECT_FALSE(ec2) << ec2.message();
  EXPECT_TRUE(r2.status.success()) << r2.status;
  EXPECT_EQ(r2.out, "");
}

TEST_F(options_run_test, without_input_stdin_is_spawn_in)
{
  const std::string path = temp_path("in");
  pidfd_test::write_file(path, "from a file", 0644);
  run_options options;
  options.spawn.in = pidfd::stdio::file(path);
  auto [ec, r] = run_to_end(child_program, {"echo"}, std::move(options));
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.out, "from a file");
}

TEST_F(options_run_test, a_child_that_closes_stdin_does_not_raise_sigpipe)
{
  // Only meaningful if SIGPIPE would kill this process.
  struct sigaction current
  {
  };
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &current), 0);
  ASSERT_EQ(current.sa_handler, SIG_DFL);
  // More than a pipe holds: the write must meet the closed end.
  auto [ec, r] = run_to_end(child_program, {"close-stdin"},
      {.input = std::string(4 * 1024 * 1024, 'x')});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.status.success()) << r.status;
  EXPECT_EQ(r.out, "closed\n");
  sigset_t pending;
  ::sigpending(&pending);
  EXPECT_FALSE(::sigismember(&pending, SIGPIPE));
}

TEST_F(options_run_test, timeout_terminates_the_child)
{
  const auto start = std::chrono::steady_clock::now();
  auto [ec, r] =
      run_to_end(child_program, {"pause"}, {.timeout = 50ms, .grace = 30s});
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.timed_out);
  EXPECT_TRUE(r.status.signaled() && r.status.signal() == SIGTERM) << r.status;
  EXPECT_GE(r.elapsed, 50ms);
}

TEST_F(options_run_test, timeout_kills_after_the_grace_period)
{
  // The child ignores SIGTERM from its first instruction: it inherits
  // SIG_IGN (a handler it installed itself might come after the timeout).
  std::optional<pidfd_test::disposition_guard> ignore(
      std::in_place, SIGTERM, SIG_IGN);
  auto in = make_pipe();
  run_options options{.timeout = 50ms, .grace = 100ms};
  options.spawn.in = pidfd::stdio::fd(in.read.get());
  auto [ec, r] = run_to_end(child_program, {"linger"}, std::move(options));
  ignore.reset();
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.timed_out);
  EXPECT_TRUE(r.status.signaled() && r.status.signal() == SIGKILL) << r.status;
  EXPECT_GE(r.elapsed, 150ms);
}

TEST_F(options_run_test, a_timeout_that_does_not_expire)
{
  auto [ec, r] =
      run_to_end(child_program, {"write", "out", "err"}, {.timeout = 30s});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(r.status.success()) << r.status;
  EXPECT_EQ(r.out, "out");
  EXPECT_EQ(r.err, "err");
}

TEST_F(options_run_test, timeout_bounds_output_a_grandchild_keeps_open)
{
  // The child exits at once; its grandchild keeps stdout and stderr open
  // until the lifeline closes. Without a timeout async_run would wait for
  // it (documented); with one, the timeout stops the reading too.
  auto lifeline = make_pipe();
  run_options options{.timeout = 100ms};
  options.spawn.inherit_fd(3, lifeline.read.get());
  auto [result, guard_fired] =
      run_guarded({"orphan", "3"}, std::move(options), lifeline.write);
  ASSERT_TRUE(result);
  EXPECT_FALSE(guard_fired)
      << "async_run kept reading the grandchild's output past its timeout";
  EXPECT_FALSE(result->first) << result->first.message();
}

TEST_F(options_run_test, timeout_bounds_input_a_grandchild_never_reads)
{
  // The child runs past the timeout; its grandchild holds stdin open
  // without reading, so the input cannot all be written. After the
  // timeout, async_run must stop writing as it stops reading.
  auto lifeline = make_pipe();
  run_options options{
      .input = std::string(2 * 1024 * 1024, 'x'), .timeout = 100ms};
  options.spawn.inherit_fd(3, lifeline.read.get());
  auto [result, guard_fired] =
      run_guarded({"hold-stdin"}, std::move(options), lifeline.write);
  ASSERT_TRUE(result);
  EXPECT_FALSE(guard_fired) << "async_run kept writing input past its timeout";
  EXPECT_FALSE(result->first) << result->first.message();
  EXPECT_TRUE(result->second.timed_out);
}

TEST_F(options_run_test, wait_delay_bounds_output_a_grandchild_keeps_open)
{
  // No timeout: the child exits at once, and only the wait delay keeps
  // the grandchild's open stdout from holding the run.
  auto lifeline = make_pipe();
  run_options options{.wait_delay = 50ms};
  options.spawn.inherit_fd(3, lifeline.read.get());
  const auto start = std::chrono::steady_clock::now();
  auto [result, guard_fired] =
      run_guarded({"orphan", "3"}, std::move(options), lifeline.write);
  ASSERT_TRUE(result);
  EXPECT_FALSE(guard_fired)
      << "async_run kept reading the grandchild's output past the delay";
  const auto& [ec, r] = *result;
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.status.success()) << r.status;
  // The child's one line: its grandchild's pid.
  EXPECT_GT(std::atoi(r.out.c_str()), 0);
  EXPECT_EQ(r.out.back(), '\n');
  EXPECT_TRUE(r.output_cut);
  EXPECT_FALSE(r.timed_out);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
}

TEST_F(options_run_test, wait_delay_does_not_cut_output_that_ends)
{
  // Output that ends is read to its end within the delay, which counts
  // from the child's collection (a delay too short for the reads of what
  // is still in the pipes would cut them: see run_options::wait_delay).
  auto [ec, r] =
      run_to_end(child_program, {"flood", "1000000"}, {.wait_delay = 10s});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.out.size(), 1000000u);
  EXPECT_EQ(r.err.size(), 1000000u);
  EXPECT_FALSE(r.output_cut);
}

TEST_F(options_run_test, wait_delay_after_a_timeout)
{
  // Stopped at the timeout, the child's grandchild still holds stdout: the
  // delay, not the stop, bounds the reading then.
  auto lifeline = make_pipe();
  run_options options{.timeout = 20ms, .wait_delay = 30ms};
  options.spawn.inherit_fd(3, lifeline.read.get());
  auto [result, guard_fired] =
      run_guarded({"hold-stdin"}, std::move(options), lifeline.write);
  ASSERT_TRUE(result);
  EXPECT_FALSE(guard_fired);
  EXPECT_TRUE(result->second.timed_out);
  EXPECT_EQ(result->second.status.signal(), SIGTERM);
}

TEST_F(options_run_test, a_negative_wait_delay_is_refused_first)
{
  bool spawned = false;
  run_options options{.wait_delay = -1ms};
  options.on_spawn = [&](const pidfd::run_child&) { spawned = true; };
  auto [ec, r] =
      run_to_end(child_program, {"write", "x", ""}, std::move(options));
  EXPECT_EQ(ec, pidfd::error::invalid_wait_delay);
  EXPECT_EQ(ec.message(), "wait delay is negative");
  EXPECT_FALSE(spawned);
}

TEST_F(options_run_test, output_past_the_limit_is_dropped)
{
  // 4 MiB on each stream, 100,000 bytes kept of each: the child is read
  // to its end (never blocked on a full pipe) and exits by itself.
  auto [ec, r] = run_to_end(child_program, {"flood", std::to_string(4 << 20)},
      {.output_limit = 100000});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.status.success()) << r.status;
  ASSERT_EQ(r.out.size(), 100000u);
  ASSERT_EQ(r.err.size(), 100000u);
  EXPECT_TRUE(r.out_truncated);
  EXPECT_TRUE(r.err_truncated);
  EXPECT_FALSE(r.output_cut);
  // What is kept is the start of each stream, in order.
  auto [ec_full, full] = run_to_end(child_program, {"flood", "100000"});
  EXPECT_EQ(r.out, full.out);
  EXPECT_EQ(r.err, full.err);
  EXPECT_FALSE(full.out_truncated);
}

TEST_F(options_run_test, output_past_the_limit_can_stop_the_child)
{
  auto [ec, r] = run_to_end(child_program, {"flood", std::to_string(64 << 20)},
      {.output_limit = 1000, .on_overflow = run_options::overflow::stop});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.status.signal(), SIGTERM) << r.status;
  EXPECT_EQ(r.out.size(), 1000u);
  EXPECT_TRUE(r.out_truncated);
  EXPECT_FALSE(r.timed_out);
}

TEST_F(options_run_test, a_stop_that_could_not_be_made_is_refused_first)
{
  // A negative grace or an invalid stop signal would leave async_run
  // unable to stop its child: refused before anything is spawned, and
  // through the handler.
  auto [ec, r] = run_to_end(child_program, {"write", "", ""}, {.grace = -1ms});
  EXPECT_EQ(ec, pidfd::error::invalid_grace_period) << ec.message();
  EXPECT_FALSE(r.status.known());
  for (int sig : {0, -1, _NSIG, 1000})
  {
    run_options options;
    options.stop_signal = sig;
    auto [ec2, r2] =
        run_to_end(child_program, {"write", "", ""}, std::move(options));
    EXPECT_EQ(ec2, pidfd::error::invalid_signal) << sig;
    EXPECT_FALSE(r2.status.known());
  }
  EXPECT_FALSE(pidfd_test::has_children());
}

TEST_F(options_run_test, stop_signal_starts_the_stop_at_a_timeout)
{
  run_options options{.timeout = 20ms, .grace = 30s};
  options.stop_signal = SIGUSR1;
  auto [ec, r] = run_to_end(child_program, {"pause"}, std::move(options));
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.timed_out);
  EXPECT_TRUE(r.status.signaled() && r.status.signal() == SIGUSR1) << r.status;
}

TEST_F(options_run_test, spawn_errors)
{
  auto [ec, r] = run_to_end(temp_path("missing"), {});
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  EXPECT_FALSE(r.status.known());
  EXPECT_EQ(r.out, "");

  run_options invalid;
  invalid.spawn.inherit_fd(2, 1);
  auto [ec2, r2] =
      run_to_end(child_program, {"write", "", ""}, std::move(invalid));
  EXPECT_EQ(ec2, pidfd::error::invalid_option);
  EXPECT_FALSE(pidfd_test::has_children());
}

TEST_F(options_run_test, use_future)
{
  std::future<run_result> f = pidfd::async_run(
      ctx, child_program, {"write", "future", ""}, {}, asio::use_future);
  run();
  run_result r = f.get();
  EXPECT_EQ(r.out, "future");

  std::future<run_result> failed =
      pidfd::async_run(ctx, temp_path("missing"), {}, {}, asio::use_future);
  run();
  EXPECT_THROW(failed.get(), boost::system::system_error);
}

TEST_F(options_run_test, use_awaitable)
{
  std::optional<run_result> result;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        run_options options;
        options.input = "ignored";
        // Braced arguments inside co_await: g++ 12 takes them too.
        result = co_await pidfd::async_run(ctx, child_program,
            {"write", "awaited", "too"}, std::move(options),
            asio::use_awaitable);
      },
      rethrow);
  run();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->out, "awaited");
  EXPECT_EQ(result->err, "too");
}

TEST_F(options_run_test, associated_allocator)
{
  pidfd_test::allocation_counts counts;
  int outstanding_at_upcall = -1;
  run_options options{.input = std::string("some input"), .timeout = 10s};
  pidfd::async_run(ctx, child_program, {"write", "out", "err"},
      std::move(options),
      asio::bind_allocator(pidfd_test::counting_allocator<int>(counts),
          [&](error_code ec, run_result r) {
            EXPECT_FALSE(ec);
            EXPECT_EQ(r.out, "out");
            // Asio's rule: the run's memory is freed before the upcall.
            outstanding_at_upcall = counts.outstanding;
          }));
  run();
  // The run's state and its parts' operations came from the allocator.
  EXPECT_GT(counts.allocations, 3);
  EXPECT_EQ(counts.outstanding, 0);
  EXPECT_EQ(outstanding_at_upcall, 0);
}

// An exception from on_spawn leaves run() (it is the caller's code, not a
// completion); the run's state goes with it, and its child is killed and
// reaped: TearDown finds no child left.
TEST_F(options_run_test, an_exception_from_on_spawn_kills_the_child)
{
  bool completed = false;
  pid_t pid = -1;
  run_options options;
  options.on_spawn = [&](const pidfd::run_child& child) {
    pid = child.id();
    throw std::runtime_error("from on_spawn");
  };
  pidfd::async_run(ctx, child_program, {"pause"}, std::move(options),
      [&](error_code, run_result) { completed = true; });
  EXPECT_THROW(ctx.run(), std::runtime_error);
  run(); // the killed child is reaped here
  EXPECT_GT(pid, 0);
  EXPECT_FALSE(completed);
}

TEST_F(options_run_test, cancelled_before_it_starts_it_spawns_nothing)
{
  asio::cancellation_signal cancel;
  bool spawned = false;
  std::optional<error_code> result;
  run_options options;
  options.on_spawn = [&](const pidfd::run_child&) { spawned = true; };
  pidfd::async_run(ctx, child_program, {"write", "out", ""}, std::move(options),
      asio::bind_cancellation_slot(
          cancel.slot(), [&](error_code ec, run_result) { result = ec; }));
  cancel.emit(asio::cancellation_type::terminal);
  run();
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, asio::error::operation_aborted);
  EXPECT_FALSE(spawned);
}

// A run of "child MODE ARGS..." whose child runs until it is stopped: its
// stdin is a pipe the test holds open, and it reports on fd 3 (a pipe the
// test reads). `on_report` gets each line from fd 3 and may emit on the
// cancellation slot. A liveness guard ends the run after 4 s (far longer
// than any stop here takes) by closing the child's stdin, and says so.
class options_run_cancel_test : public options_run_test
{
protected:
  struct outcome
  {
    std::optional<std::pair<error_code, run_result>> result;
    bool guard_fired = false;
    std::vector<std::string> reports;
  };

  outcome run_reporting(const pidfd::argument_list& args, run_options options,
      std::function<void(const std::string&)> on_report)
  {
    outcome o;
    auto in = make_pipe();
    auto report = make_pipe();
    asio::readable_pipe report_pipe(ctx);
    report_pipe.assign(report.read.release());
    options.spawn.in = pidfd::stdio::fd(in.read.get());
    options.spawn.inherit_fd(3, report.write.get());
    asio::steady_timer guard(ctx, 4s);
    guard.async_wait([&](error_code ec) {
      if (ec)
        return;
      o.guard_fired = true;
      in.write.reset();
    });
    pidfd::async_run(ctx, child_program, args, std::move(options),
        asio::bind_cancellation_slot(
            cancel.slot(), [&](error_code ec, run_result r) {
              o.result.emplace(ec, std::move(r));
              guard.cancel();
            }));
    // The run holds copies: the child's ends can go now, and the report
    // pipe then ends when the child does.
    in.read.reset();
    report.write.reset();
    std::string buffer;
    std::function<void()> read_line = [&] {
      asio::async_read_until(report_pipe, asio::dynamic_buffer(buffer), '\n',
          [&](error_code ec, std::size_t n) {
            if (ec)
              return;
            o.reports.push_back(buffer.substr(0, n - 1));
            buffer.erase(0, n);
            on_report(o.reports.back());
            read_line();
          });
    };
    read_line();
    run();
    in.write.reset();
    return o;
  }

  asio::cancellation_signal cancel;
};

TEST_F(options_run_cancel_test, terminal_cancellation_kills_the_child)
{
  auto o = run_reporting(
      {"ready-linger", "so far"}, {.grace = 30s}, [&](const std::string& line) {
        if (line == "ready")
          cancel.emit(asio::cancellation_type::terminal);
      });
  ASSERT_TRUE(o.result);
  EXPECT_FALSE(o.guard_fired) << "the cancelled run did not stop its child";
  auto& [ec, r] = *o.result;
  EXPECT_EQ(ec, asio::error::operation_aborted) << ec.message();
  EXPECT_TRUE(r.status.signaled() && r.status.signal() == SIGKILL) << r.status;
  EXPECT_EQ(r.out, "so far"); // written before "ready": read so far
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(o.reports, std::vector<std::string>{"ready"});
}

TEST_F(options_run_cancel_test, partial_and_total_cancellation_stop_it_gently)
{
  for (auto type :
      {asio::cancellation_type::partial, asio::cancellation_type::total})
  {
    // catch-term reports SIGTERM on fd 3 and then goes on; stdin closing
    // (by the guard only) would end it.
    auto o = run_reporting(
        {"catch-term", "3"}, {.grace = 50ms}, [&](const std::string& line) {
          if (line == "ready")
            cancel.emit(type);
        });
    ASSERT_TRUE(o.result);
    EXPECT_FALSE(o.guard_fired) << "the cancelled run did not stop its child";
    auto& [ec, r] = *o.result;
    EXPECT_EQ(ec, asio::error::operation_aborted) << ec.message();
    // SIGTERM first, then SIGKILL once the grace is over.
    EXPECT_EQ(o.reports, (std::vector<std::string>{"ready", "term"}));
    EXPECT_TRUE(r.status.signaled() && r.status.signal() == SIGKILL)
        << r.status;
  }
}

TEST_F(options_run_cancel_test, a_graceful_stop_ends_a_child_that_obeys)
{
  run_options options{.grace = 30s};
  options.stop_signal = SIGINT;
  auto o = run_reporting({"ready-linger", "so far"}, std::move(options),
      [&](const std::string& line) {
        if (line == "ready")
          cancel.emit(asio::cancellation_type::total);
      });
  ASSERT_TRUE(o.result);
  EXPECT_FALSE(o.guard_fired);
  auto& [ec, r] = *o.result;
  EXPECT_EQ(ec, asio::error::operation_aborted) << ec.message();
  EXPECT_TRUE(r.status.signaled() && r.status.signal() == SIGINT) << r.status;
  EXPECT_EQ(r.out, "so far");
}

TEST_F(options_run_cancel_test, terminal_during_a_graceful_stop_kills_at_once)
{
  // The child survives SIGTERM and the grace is long: only SIGKILL on the
  // terminal request ends it before the liveness guard.
  auto o = run_reporting(
      {"catch-term", "3"}, {.grace = 30s}, [&](const std::string& line) {
        if (line == "ready")
          cancel.emit(asio::cancellation_type::partial);
        else if (line == "term")
          cancel.emit(asio::cancellation_type::terminal);
      });
  ASSERT_TRUE(o.result);
  EXPECT_FALSE(o.guard_fired) << "the terminal request did not kill it";
  auto& [ec, r] = *o.result;
  EXPECT_EQ(ec, asio::error::operation_aborted) << ec.message();
  EXPECT_TRUE(r.status.signaled() && r.status.signal() == SIGKILL) << r.status;
}

TEST_F(options_run_cancel_test, cancellation_bounds_output_a_grandchild_holds)
{
  // The child exits at once, its grandchild keeps stdout and stderr open
  // until its fd 3 (the report pipe here) reaches EOF, which only the end
  // of the test brings. The cancellation must end the reading.
  run_options options;
  options.on_spawn = [&](const pidfd::run_child&) {
    cancel.emit(asio::cancellation_type::total);
  };
  auto o = run_reporting(
      {"orphan", "3"}, std::move(options), [](const std::string&) {});
  ASSERT_TRUE(o.result);
  EXPECT_FALSE(o.guard_fired)
      << "the cancelled run kept reading the grandchild's output";
  EXPECT_EQ(o.result->first, asio::error::operation_aborted);
}

TEST_F(options_run_cancel_test, no_effect_on_a_run_that_is_over)
{
  // A cancellation emitted after completion finds no handler in the slot.
  auto o =
      run_reporting({"write", "out", "err"}, {}, [](const std::string&) {});
  ASSERT_TRUE(o.result);
  EXPECT_FALSE(o.result->first) << o.result->first.message();
  EXPECT_TRUE(o.result->second.status.success());
  EXPECT_FALSE(cancel.slot().has_handler());
  cancel.emit(asio::cancellation_type::terminal);
  run();
}

TEST_F(options_run_test, fds_in_the_options_are_taken_when_async_run_returns)
{
  // The caller closes its fds right after the call and opens other files
  // that get the same numbers, before the run's operation has even
  // started: the child must still get the originals.
  const std::string original = temp_path("original");
  const std::string other = temp_path("other");
  pidfd_test::write_file(original, "original", 0644);
  pidfd_test::write_file(other, "other", 0644);
  unique_fd in = pidfd_options_test::open_file(original, O_RDONLY);
  unique_fd extra = pidfd_options_test::open_file(original, O_RDONLY);
  const std::string expected_extra = pidfd_options_test::describe(extra.get());
  const int in_number = in.get();
  const int extra_number = extra.get();

  const std::string report = temp_path("report");
  std::optional<std::pair<error_code, run_result>> echoed, reported;
  run_options echo_options;
  echo_options.spawn.in = pidfd::stdio::fd(in_number);
  pidfd::async_run(ctx, child_program, {"echo"}, std::move(echo_options),
      [&](error_code ec, run_result r) { echoed.emplace(ec, std::move(r)); });
  run_options report_options;
  report_options.spawn.inherit_fd(3, extra_number);
  pidfd::async_run(ctx, child_program, {"report", report},
      std::move(report_options),
      [&](error_code ec, run_result r) { reported.emplace(ec, std::move(r)); });

  in.reset();
  extra.reset();
  unique_fd in_reused = pidfd_options_test::open_file(other, O_RDONLY);
  unique_fd extra_reused = pidfd_options_test::open_file(other, O_RDONLY);
  ASSERT_EQ(::dup2(in_reused.get(), in_number), in_number);
  ASSERT_EQ(::dup2(extra_reused.get(), extra_number), extra_number);
  unique_fd hold_in(in_number), hold_extra(extra_number);

  run();
  ASSERT_TRUE(echoed && reported);
  EXPECT_FALSE(echoed->first) << echoed->first.message();
  EXPECT_EQ(echoed->second.out, "original");
  EXPECT_FALSE(reported->first) << reported->first.message();
  EXPECT_EQ(pidfd_options_test::read_report(report)["fd3"], expected_extra);
}

TEST_F(options_run_test, an_fd_that_is_not_open_fails_through_the_handler)
{
  auto closed = make_pipe();
  const int number = closed.read.get();
  closed.read.reset();
  run_options options;
  options.spawn.inherit_fd(3, number);
  auto [ec, r] =
      run_to_end(child_program, {"write", "", ""}, std::move(options));
  EXPECT_EQ(ec, errc::bad_file_descriptor) << ec.message();
  EXPECT_FALSE(r.status.known());
  EXPECT_FALSE(pidfd_test::has_children());
}

TEST_F(options_run_test, on_spawn_reaches_the_running_child)
{
  std::optional<pidfd::run_child> child;
  bool was_our_running_child = false;
  run_options options;
  options.on_spawn = [&](const pidfd::run_child& c) {
    child.emplace(c);
    siginfo_t info{};
    was_our_running_child = c.id() > 0
        && ::waitid(P_PID, static_cast<id_t>(c.id()), &info,
               WEXITED | WNOHANG | WNOWAIT)
            == 0
        && info.si_pid == 0;
    c.signal(SIGUSR1); // through the pidfd (by pid in the fallback)
  };
  auto [ec, r] = run_to_end(child_program, {"pause"}, std::move(options));
  EXPECT_FALSE(ec) << ec.message();
  ASSERT_TRUE(child);
  EXPECT_TRUE(was_our_running_child);
  EXPECT_TRUE(r.status.signaled() && r.status.signal() == SIGUSR1) << r.status;
  // The run is over: the handle reports that instead of reaching a PID
  // that may have been reused.
  error_code signal_ec;
  child->signal(SIGKILL, signal_ec);
  EXPECT_EQ(signal_ec, pidfd::error::process_done) << signal_ec.message();
}

TEST_F(options_run_test, merged_stderr_is_interleaved_into_out)
{
  run_options options;
  options.spawn.err = pidfd::stdio::merge_with_stdout();
  auto [ec, r] = run_to_end(child_program, {"interleave"}, std::move(options));
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.status.success()) << r.status;
  EXPECT_EQ(r.out, "123");
  EXPECT_EQ(r.err, "");
}

TEST_F(options_run_test, destroying_the_io_context_kills_the_running_child)
{
  // The run owns its child even when it never completes.
  pid_t pid = 0;
  unique_fd own_pidfd; // ours, opened while the child surely runs
  {
    asio::io_context other;
    run_options options;
    options.on_spawn = [&](const pidfd::run_child& c) {
      pid = c.id();
      own_pidfd.reset(pidfd_test::pidfd_open(pid));
      other.stop();
    };
    pidfd::async_run(other, child_program, {"pause"}, std::move(options),
        [](error_code, run_result) { ADD_FAILURE() << "completed"; });
    other.run();
  }
  ASSERT_GT(pid, 0);
  ASSERT_GE(own_pidfd.get(), 0) << std::strerror(errno);
  // "pause" never exits by itself before its 50 s alarm.
  pidfd_test::wait_exited(own_pidfd.get(), pid);
  // Natively nobody is left to reap it (its io_context is gone); in the
  // wait4 fallback the pool does.
  if (pidfd_test::children_left())
  {
    const int status = pidfd_test::reap(pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  }
}

} // namespace
