//
// test/options/run.cpp
// ~~~~~~~~~~~~~~~~~~~~
// pidfd::async_run: output capture, input, timeout, errors, tokens.
//

// Test that header file is self-contained.
#include "pidfd/run.hpp"

#include "options/support.hpp"
#include "pidfd/error.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <csignal>
#include <exception>
#include <future>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <signal.h>

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using namespace std::chrono_literals;
using boost::system::error_code;
using pidfd::run_options;
using pidfd::run_result;
using pidfd_options_test::make_pipe;
using pidfd_options_test::probe;
using pidfd_test::unique_fd;

class options_run_test : public pidfd_test::fixture
{
protected:
  // async_run with a callback, to completion.
  std::pair<error_code, run_result> run_to_end(std::string_view program,
      const pidfd::argument_list& args, run_options options = {})
  {
    std::optional<std::pair<error_code, run_result>> result;
    pidfd::async_run(ctx, program, args, std::move(options),
        [&](error_code ec, run_result r) { result.emplace(ec, std::move(r)); });
    EXPECT_FALSE(result); // not inline
    run();
    EXPECT_TRUE(result);
    return result ? std::move(*result) : std::pair<error_code, run_result>{};
  }

  struct guarded_outcome
  {
    std::optional<std::pair<error_code, run_result>> result;
    bool guard_fired = false;
  };

  // async_run of the probe in `mode`, to completion, with a liveness guard:
  // nothing else tells when async_run fails to stop, so after 4 s (40
  // times the timeouts used here) the guard closes `release`, which ends
  // whatever the probe's process waits on, and says so. The handler closes
  // `release` too.
  guarded_outcome run_guarded(
      const char* mode, run_options options, unique_fd& release)
  {
    guarded_outcome o;
    asio::steady_timer guard(ctx, 4s);
    guard.async_wait([&](error_code ec) {
      if (ec)
        return;
      o.guard_fired = true;
      release.reset();
    });
    pidfd::async_run(ctx, probe, {mode}, std::move(options),
        [&](error_code ec, run_result r) {
          o.result.emplace(ec, std::move(r));
          guard.cancel();
          release.reset();
        });
    run();
    return o;
  }
};

// Ignores SIGTERM in this process until destroyed.
class ignore_sigterm
{
public:
  ignore_sigterm()
  {
    struct sigaction ignore
    {
    };
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGTERM, &ignore, &old_);
  }
  ignore_sigterm(const ignore_sigterm&) = delete;
  ignore_sigterm& operator=(const ignore_sigterm&) = delete;
  ~ignore_sigterm() { ::sigaction(SIGTERM, &old_, nullptr); }

private:
  struct sigaction old_
  {
  };
};

void rethrow(std::exception_ptr e)
{
  if (e)
    std::rethrow_exception(e);
}

TEST_F(options_run_test, captures_stdout_and_stderr)
{
  auto [ec, r] = run_to_end(probe, {"write", "to out", "to err"});
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
  auto [ec, r] = run_to_end(probe, {"flood", std::to_string(size)});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.status.success()) << r.status;
  ASSERT_EQ(r.out.size(), size);
  ASSERT_EQ(r.err.size(), size);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < size; ++i)
    wrong += (r.out[i] != pidfd_options_test::flood_pattern(i, 0))
        + (r.err[i] != pidfd_options_test::flood_pattern(i, 1));
  EXPECT_EQ(wrong, 0u);
}

TEST_F(options_run_test, input_is_written_to_stdin_and_then_closed)
{
  std::string input(1024 * 1024, '\0');
  for (std::size_t i = 0; i < input.size(); ++i)
    input[i] = static_cast<char>(i * 31 % 251);
  auto [ec, r] = run_to_end(probe, {"echo"}, {.input = input});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.status.success()) << r.status;
  EXPECT_TRUE(r.out == input) << r.out.size() << " bytes";

  // Empty input: EOF at once.
  auto [ec2, r2] = run_to_end(probe, {"echo"}, {.input = ""});
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
  auto [ec, r] = run_to_end(probe, {"echo"}, std::move(options));
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
  auto [ec, r] = run_to_end(
      probe, {"close-stdin"}, {.input = std::string(4 * 1024 * 1024, 'x')});
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
  auto [ec, r] = run_to_end(probe, {"pause"}, {.timeout = 50ms, .grace = 30s});
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
  std::optional<ignore_sigterm> ignore(std::in_place);
  auto in = make_pipe();
  run_options options{.timeout = 50ms, .grace = 100ms};
  options.spawn.in = pidfd::stdio::fd(in.read.get());
  auto [ec, r] = run_to_end(probe, {"linger"}, std::move(options));
  ignore.reset();
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.timed_out);
  EXPECT_TRUE(r.status.signaled() && r.status.signal() == SIGKILL) << r.status;
  EXPECT_GE(r.elapsed, 150ms);
}

TEST_F(options_run_test, a_timeout_that_does_not_expire)
{
  auto [ec, r] = run_to_end(probe, {"write", "out", "err"}, {.timeout = 30s});
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
      run_guarded("daemonize", std::move(options), lifeline.write);
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
      run_guarded("hold-stdin", std::move(options), lifeline.write);
  ASSERT_TRUE(result);
  EXPECT_FALSE(guard_fired) << "async_run kept writing input past its timeout";
  EXPECT_FALSE(result->first) << result->first.message();
  EXPECT_TRUE(result->second.timed_out);
}

TEST_F(options_run_test, a_terminate_that_fails_is_reported)
{
  // A negative grace makes async_terminate fail without sending anything:
  // async_run must report it, not wait for a child that nobody stops. The
  // child, left running, ends when its stdin closes.
  auto in = make_pipe();
  run_options options{.timeout = 10ms, .grace = -1ms};
  options.spawn.in = pidfd::stdio::fd(in.read.get());
  auto [result, guard_fired] =
      run_guarded("linger", std::move(options), in.write);
  ASSERT_TRUE(result);
  EXPECT_FALSE(guard_fired) << "async_run waited for the child";
  EXPECT_EQ(result->first, pidfd::error::invalid_option)
      << result->first.message();
  EXPECT_TRUE(result->second.timed_out);
}

TEST_F(options_run_test, spawn_errors)
{
  auto [ec, r] = run_to_end(temp_path("missing"), {});
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  EXPECT_FALSE(r.status.known());
  EXPECT_EQ(r.out, "");

  run_options invalid;
  invalid.spawn.inherit_fd(2, 1);
  auto [ec2, r2] = run_to_end(probe, {"write", "", ""}, std::move(invalid));
  EXPECT_EQ(ec2, pidfd::error::invalid_option);
  EXPECT_FALSE(pidfd_test::has_children());
}

TEST_F(options_run_test, use_future)
{
  std::future<run_result> f = pidfd::async_run(
      ctx, probe, {"write", "future", ""}, {}, asio::use_future);
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
  // Outside the coroutine: g++ 12 rejects a braced list of literals there.
  const std::vector<std::string> args{"write", "awaited", "too"};
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        run_options options;
        options.input = "ignored";
        result = co_await pidfd::async_run(
            ctx, probe, args, std::move(options), asio::use_awaitable);
      },
      rethrow);
  run();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->out, "awaited");
  EXPECT_EQ(result->err, "too");
}

TEST_F(options_run_test, terminal_cancellation_leaves_the_child_running)
{
  // The child writes "ready" to fd 3 once it runs, and "bye" when its
  // stdin closes: only a child left running can write the second.
  auto in = make_pipe();
  auto ready = make_pipe();
  asio::readable_pipe ready_pipe(ctx);
  ready_pipe.assign(ready.read.release());
  run_options options;
  options.spawn.in = pidfd::stdio::fd(in.read.get());
  options.spawn.inherit_fd(3, ready.write.get());
  asio::cancellation_signal cancel;
  std::optional<error_code> result;
  std::string said;
  pidfd::async_run(ctx, probe, {"ready-linger"}, std::move(options),
      asio::bind_cancellation_slot(
          cancel.slot(), [&](error_code ec, run_result) {
            result = ec;
            in.write.reset();
            ready.write.reset();
            asio::async_read(ready_pipe, asio::dynamic_buffer(said),
                [](error_code, std::size_t) {});
          }));
  asio::async_read(ready_pipe, asio::dynamic_buffer(said),
      asio::transfer_exactly(6), [&](error_code ec, std::size_t) {
        EXPECT_FALSE(ec) << ec.message();
        cancel.emit(asio::cancellation_type::terminal);
      });
  run();
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, asio::error::operation_aborted);
  EXPECT_EQ(said, "ready\nbye\n");
  in.read.reset();
}

} // namespace
