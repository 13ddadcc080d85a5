//
// test/options/terminate.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// basic_process::async_terminate: SIGTERM, a grace period, then SIGKILL.
//

// Test that header file is self-contained.
#include "pidfd/basic_process.hpp"

#include "options/support.hpp"
#include "pidfd/error.hpp"
#include "pidfd/process.hpp"
#include "pidfd/run.hpp"
#include "pidfd/spawn.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <exception>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using boost::system::error_code;
using pidfd::exit_status;
using pidfd_options_test::read_line;
using pidfd_options_test::read_to_eof;
using pidfd_test::child_program;
using pidfd_test::unique_fd;

// A terminate's outcome, recorded by its handler.
struct outcome
{
  bool done = false;
  error_code ec;
  exit_status status;

  auto handler()
  {
    return [this](error_code e, exit_status s) {
      done = true;
      ec = e;
      status = s;
    };
  }
};

// A child whose stdin and stdout the test holds.
struct child
{
  pidfd::process process;
  unique_fd in; // its stdin: closing it ends "linger" and "catch-term"
  unique_fd out; // its stdout
};

class options_terminate_test : public pidfd_test::fixture
{
protected:
  child spawn_child(const char* mode)
  {
    auto in = pidfd_options_test::make_pipe();
    auto out = pidfd_options_test::make_pipe();
    auto p = pidfd::spawn(ctx, child_program, {mode},
        {.in = pidfd::stdio::fd(in.read.get()),
            .out = pidfd::stdio::fd(out.write.get())});
    return {std::move(p), std::move(in.write), std::move(out.read)};
  }

  // A child that catches SIGTERM and writes "term\n" when it gets it.
  child spawn_catch_term()
  {
    child c = spawn_child("catch-term");
    // Its handler is installed.
    EXPECT_EQ(read_line(c.out.get()), "ready");
    return c;
  }
};

void rethrow(std::exception_ptr e)
{
  if (e)
    std::rethrow_exception(e);
}

TEST_F(options_terminate_test, a_child_that_dies_of_sigterm)
{
  child c = spawn_child("linger");
  outcome o;
  c.process.async_terminate(30s, o.handler());
  run();
  ASSERT_TRUE(o.done);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_TRUE(o.status.signaled() && o.status.signal() == SIGTERM) << o.status;
}

TEST_F(
    options_terminate_test, a_child_that_catches_sigterm_is_killed_after_grace)
{
  child c = spawn_catch_term();
  outcome o;
  const auto start = std::chrono::steady_clock::now();
  c.process.async_terminate(200ms, o.handler());
  run();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(o.done);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_TRUE(o.status.signaled() && o.status.signal() == SIGKILL) << o.status;
  EXPECT_GE(elapsed, 200ms);
  // That SIGTERM comes first (and at once) is shown by the cancellation
  // test, which waits for the child to report it.
}

TEST_F(options_terminate_test, zero_grace)
{
  child c = spawn_catch_term();
  outcome o;
  c.process.async_terminate(0ms, o.handler());
  run();
  ASSERT_TRUE(o.done);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_TRUE(o.status.signaled() && o.status.signal() == SIGKILL) << o.status;
}

TEST_F(options_terminate_test, terminal_cancellation_leaves_the_child_as_it_is)
{
  child c = spawn_catch_term();
  asio::cancellation_signal cancel;
  outcome o;
  c.process.async_terminate(
      30s, asio::bind_cancellation_slot(cancel.slot(), o.handler()));
  // SIGTERM is sent; the grace period runs.
  EXPECT_EQ(read_line(c.out.get()), "term");
  cancel.emit(asio::cancellation_type::terminal);
  run();
  ASSERT_TRUE(o.done);
  EXPECT_EQ(o.ec, asio::error::operation_aborted);
  // Not killed: it still runs, and ends normally when its stdin closes.
  error_code ec;
  c.process.signal(0, ec);
  EXPECT_FALSE(ec) << ec.message();
  c.in.reset();
  exit_status s = c.process.wait();
  EXPECT_TRUE(s.success()) << s;
}

TEST_F(options_terminate_test, partial_and_total_cancellation_are_not_supported)
{
  child c = spawn_catch_term();
  asio::cancellation_signal cancel;
  outcome o;
  c.process.async_terminate(
      100ms, asio::bind_cancellation_slot(cancel.slot(), o.handler()));
  cancel.emit(asio::cancellation_type::partial);
  cancel.emit(asio::cancellation_type::total);
  run();
  ASSERT_TRUE(o.done);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_TRUE(o.status.signaled() && o.status.signal() == SIGKILL) << o.status;
}

TEST_F(options_terminate_test, negative_grace_is_invalid_and_sends_nothing)
{
  child c = spawn_catch_term();
  outcome o;
  c.process.async_terminate(-1ms, o.handler());
  EXPECT_FALSE(o.done);
  run();
  ASSERT_TRUE(o.done);
  EXPECT_EQ(o.ec, pidfd::error::invalid_grace_period);
  EXPECT_EQ(o.ec.message(), "grace period is negative");
  c.in.reset();
  exit_status s = c.process.wait();
  EXPECT_TRUE(s.success()) << s;
  EXPECT_EQ(read_to_eof(c.out.get()), "");
}

TEST_F(options_terminate_test, a_child_that_has_exited_gets_its_status)
{
  auto p = pidfd::spawn(ctx, pidfd_test::child_program, {"exit", "3"});
  pidfd_test::wait_exited(p);
  outcome o;
  p.async_terminate(30s, o.handler());
  run();
  ASSERT_TRUE(o.done);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_TRUE(o.status.exited() && o.status.code() == 3) << o.status;

  // Again, once collected.
  outcome again;
  p.async_terminate(30s, again.handler());
  run();
  ASSERT_TRUE(again.done);
  EXPECT_FALSE(again.ec) << again.ec.message();
  EXPECT_EQ(again.status, o.status);
}

TEST_F(options_terminate_test, no_process)
{
  pidfd::process p(ctx);
  outcome o;
  p.async_terminate(1s, o.handler());
  run();
  ASSERT_TRUE(o.done);
  EXPECT_EQ(o.ec, pidfd::error::no_process);
}

TEST_F(options_terminate_test, use_future)
{
  child c = spawn_child("linger");
  std::future<exit_status> f = c.process.async_terminate(30s, asio::use_future);
  run();
  exit_status s = f.get();
  EXPECT_TRUE(s.signaled() && s.signal() == SIGTERM) << s;
}

TEST_F(options_terminate_test, use_awaitable)
{
  child c = spawn_catch_term();
  std::optional<exit_status> result;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        result = co_await c.process.async_terminate(50ms, asio::use_awaitable);
      },
      rethrow);
  run();
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->signaled() && result->signal() == SIGKILL) << *result;
}

TEST_F(options_terminate_test, composed_operations_on_four_threads)
{
  // Networking daemons run one io_context on several threads. Neither
  // async_terminate nor async_run may then need a strand from the user:
  // they serialise what they do inside (run under ThreadSanitizer in CI).
  // Children that ignore SIGTERM (inherited SIG_IGN) take the SIGKILL path.
  std::optional<pidfd_test::disposition_guard> ignore(
      std::in_place, SIGTERM, SIG_IGN);
  asio::io_context threaded;
  constexpr int rounds = 24;
  std::atomic<int> terminated{0}, killed{0}, runs{0}, failures{0};
  std::vector<pidfd::process> children;
  for (int i = 0; i < rounds; ++i)
  {
    children.push_back(pidfd::spawn(threaded, child_program, {"pause"}));
    children.back().async_terminate(
        i % 2 ? 1ms : 20ms, [&](error_code ec, exit_status s) {
          if (ec || !s.signaled())
            ++failures;
          else
            ++(s.signal() == SIGKILL ? killed : terminated);
        });
    // Each run gives its child an empty stdin. Left without input, the
    // options trip g++ 12 -O2: moved after the out-of-line move of their
    // spawn_options, which takes their address, the disengaged
    // optional<string>'s bytes "may be used uninitialized" (a false
    // -Wmaybe-uninitialized, GCC PR 80635).
    pidfd::run_options options{.input = "", .timeout = 5ms, .grace = 5ms};
    pidfd::async_run(threaded, child_program, {"pause"}, std::move(options),
        [&](error_code ec, pidfd::run_result r) {
          if (ec || !r.timed_out || !r.status.signaled())
            ++failures;
          ++runs;
        });
  }
  ignore.reset();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] { threaded.run(); });
  for (std::thread& t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(killed.load(), rounds); // SIGTERM is ignored: SIGKILL each
  EXPECT_EQ(terminated.load(), 0);
  EXPECT_EQ(runs.load(), rounds);
}

} // namespace
