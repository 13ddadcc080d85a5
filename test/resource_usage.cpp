//
// test/resource_usage.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// spawn_options::resource_usage: a status without the rusage, in every way
// of waiting; and, where the io_uring mechanism reaps in its ring
// (kernel_features::io_uring_waitid), that ring reaping next to the
// blocking calls, release(), cancellation, orphans and the context's end.
//

#include "pidfd/process.hpp"
#include "pidfd/run.hpp"
#include "pidfd/spawn.hpp"
#include "support/fixture.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>

namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using pidfd::exit_status;
using pidfd_test::child_program;

class resource_usage_test : public pidfd_test::fixture
{
protected:
  static pidfd::spawn_options without_usage()
  {
    pidfd::spawn_options o;
    o.resource_usage = false;
    return o;
  }

  pidfd::process spawn_exit(int code, asio::io_context& c)
  {
    return pidfd::spawn(
        c, child_program, {"exit", std::to_string(code)}, without_usage());
  }

  pidfd::process spawn_pause(asio::io_context& c)
  {
    return pidfd::spawn(c, child_program, {"pause"}, without_usage());
  }
};

using usage_outcome = pidfd_test::wait_outcome;

TEST_F(resource_usage_test, kept_by_default_and_left_out_when_asked)
{
  auto with = pidfd::spawn(ctx, child_program, {"exit", "4"});
  auto without = spawn_exit(5, ctx);
  usage_outcome a, b;
  with.async_wait(a.handler());
  without.async_wait(b.handler());
  run();
  ASSERT_TRUE(a.called && b.called);
  EXPECT_FALSE(a.ec);
  EXPECT_FALSE(b.ec);
  EXPECT_EQ(a.status.code(), 4);
  EXPECT_EQ(b.status.code(), 5);
  // The wait4 fallback and waitid report the usage of our own child.
  EXPECT_TRUE(a.status.usage_known());
  EXPECT_FALSE(b.status.usage_known());
  EXPECT_EQ(b.status.user_time().count(), 0);
  EXPECT_EQ(b.status.max_rss(), 0u);
}

TEST_F(resource_usage_test, every_way_of_waiting_reports_the_end)
{
  // An asynchronous wait, a coroutine, wait() and try_wait(); exits and
  // signals.
  auto killed = spawn_pause(ctx);
  auto exited = spawn_exit(3, ctx);
  usage_outcome o;
  killed.async_wait(o.handler());
  std::optional<exit_status> from_coroutine;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        from_coroutine = co_await exited.async_wait(asio::use_awaitable);
      },
      pidfd_test::rethrow);
  killed.signal(SIGKILL);
  run();
  ASSERT_TRUE(o.called);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_EQ(o.status.signal(), SIGKILL);
  EXPECT_FALSE(o.status.usage_known());
  ASSERT_TRUE(from_coroutine);
  EXPECT_EQ(from_coroutine->code(), 3);
  EXPECT_FALSE(from_coroutine->usage_known());
  // What the waits collected stays.
  EXPECT_EQ(killed.wait(), o.status);
  EXPECT_EQ(exited.try_wait(), from_coroutine);

  auto blocking = spawn_exit(6, ctx);
  exit_status s = blocking.wait();
  EXPECT_EQ(s.code(), 6);
  EXPECT_FALSE(s.usage_known());
  auto polled = spawn_pause(ctx);
  EXPECT_EQ(polled.try_wait(), std::nullopt);
  polled.signal(SIGTERM);
  EXPECT_EQ(polled.wait().signal(), SIGTERM);
  std::optional<exit_status> again = polled.try_wait();
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->usage_known());
}

// With the other options a run combines: its input and captured output,
// on a pty, and a terminate past its grace.
TEST_F(resource_usage_test, with_async_run_and_terminate)
{
  pidfd::run_options piped;
  piped.spawn.resource_usage = false;
  piped.input = "through the ring\n";
  auto piped_run = pidfd::async_run(
      ctx, child_program, {"echo"}, std::move(piped), asio::use_future);
  pidfd::run_options on_pty;
  on_pty.spawn.resource_usage = false;
  on_pty.on_pty = true;
  auto pty_run = pidfd::async_run(
      ctx, child_program, {"exit", "9"}, std::move(on_pty), asio::use_future);
  // A child that ignores SIGTERM (inherited), killed after the grace.
  struct sigaction ignore
  {
  }, old{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGTERM, &ignore, &old);
  auto stubborn = spawn_pause(ctx);
  ::sigaction(SIGTERM, &old, nullptr);
  usage_outcome terminated;
  stubborn.async_terminate(std::chrono::milliseconds(10), terminated.handler());
  run();
  pidfd::run_result r = piped_run.get();
  EXPECT_EQ(r.status.code(), 0);
  EXPECT_FALSE(r.status.usage_known());
  EXPECT_EQ(r.out, "through the ring\n");
  pidfd::run_result p = pty_run.get();
  EXPECT_EQ(p.status.code(), 9);
  EXPECT_FALSE(p.status.usage_known());
  ASSERT_TRUE(terminated.called);
  EXPECT_FALSE(terminated.ec) << terminated.ec.message();
  EXPECT_EQ(terminated.status.signal(), SIGKILL);
  EXPECT_FALSE(terminated.status.usage_known());
}

// The wait's request reaches the kernel (ctx.poll()), and the child ends
// with nobody running the context: the ring may reap it (its submitter,
// this thread, runs the kernel's reaping on its way back from any system
// call), and the blocking calls find the status in the ring's completion.
TEST_F(resource_usage_test, blocking_calls_find_a_status_the_ring_took)
{
  for (int round = 0; round < 20; ++round)
  {
    auto p = spawn_exit(round, ctx);
    usage_outcome o;
    p.async_wait(o.handler());
    ctx.poll();
    exit_status s;
    if (round % 2 == 0)
    {
      s = p.wait();
    }
    else
    {
      std::optional<exit_status> got;
      while (!(got = p.try_wait()))
        pidfd_test::wait_exited(p.native_handle(), p.id());
      s = *got;
    }
    EXPECT_EQ(s.code(), round);
    EXPECT_FALSE(s.usage_known());
    run();
    ASSERT_TRUE(o.called);
    EXPECT_FALSE(o.ec) << o.ec.message();
    EXPECT_EQ(o.status, s);
  }
}

// Blocking waits on one thread, the context run on another, the ring's
// reap in the kernel for each: both get the one status.
TEST_F(resource_usage_test, blocking_and_ring_waits_race_for_the_status)
{
  constexpr int rounds = 100;
  std::vector<pidfd::process> children;
  std::vector<usage_outcome> outcomes(rounds);
  for (int i = 0; i < rounds; ++i)
  {
    children.push_back(i % 3 == 0 ? spawn_pause(ctx) : spawn_exit(i % 7, ctx));
    children.back().async_wait(outcomes[i].handler());
  }
  std::thread runner([&] { ctx.run(); });
  for (int i = 0; i < rounds; ++i)
  {
    if (i % 3 == 0)
      children[i].signal(SIGKILL);
    exit_status s = children[i].wait();
    if (i % 3 == 0)
      EXPECT_EQ(s.signal(), SIGKILL) << i;
    else
      EXPECT_EQ(s.code(), i % 7) << i;
  }
  runner.join();
  ctx.restart();
  for (int i = 0; i < rounds; ++i)
  {
    ASSERT_TRUE(outcomes[i].called) << i;
    EXPECT_FALSE(outcomes[i].ec) << i << ": " << outcomes[i].ec.message();
    EXPECT_EQ(outcomes[i].status, children[i].wait()) << i;
  }
}

// release() with the ring's reap in the kernel: the reap is cancelled
// before the caller has the pidfd, so the caller reaps the child.
TEST_F(resource_usage_test, release_leaves_the_child_to_the_caller)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  for (int round = 0; round < 20; ++round)
  {
    auto p = spawn_pause(ctx);
    const pid_t pid = p.id();
    usage_outcome o;
    asio::cancellation_signal cancel;
    p.async_wait(asio::bind_cancellation_slot(cancel.slot(), o.handler()));
    ctx.poll();
    // Every other round the wait is cancelled first: the reap's
    // cancellation is then queued, not yet in the kernel, when release()
    // comes.
    if (round % 2)
      cancel.emit(asio::cancellation_type::terminal);
    pidfd_test::unique_fd fd(p.release());
    ASSERT_GE(fd.get(), 0);
    run();
    ASSERT_TRUE(o.called);
    EXPECT_EQ(o.ec, asio::error::operation_aborted);
    ASSERT_EQ(pidfd_test::pidfd_send_signal(fd.get(), SIGKILL), 0);
    EXPECT_TRUE(WIFSIGNALED(pidfd_test::reap(pid))) << round;
  }
}

// Cancelled waits, dropped processes (the ring reaps the orphan), a
// process killed on destruction, several at once, in 200 rounds.
TEST_F(resource_usage_test, cancel_and_drop_in_rounds)
{
  for (int round = 0; round < 200; ++round)
  {
    std::vector<pidfd::process> kept;
    asio::cancellation_signal cancel;
    usage_outcome cancelled, finished;
    {
      auto ignored = [](error_code, exit_status) {};
      auto dropped = spawn_exit(0, ctx);
      dropped.async_wait(ignored);
      auto paused = spawn_pause(ctx);
      paused.async_wait(
          asio::bind_cancellation_slot(cancel.slot(), cancelled.handler()));
      kept.push_back(std::move(paused));
      pidfd::spawn_options killed = without_usage();
      killed.kill_on_destroy = true;
      auto doomed = pidfd::spawn(ctx, child_program, {"pause"}, killed);
      doomed.async_wait(ignored);
      ctx.poll();
    }
    cancel.emit(asio::cancellation_type::terminal);
    kept.back().async_wait(finished.handler());
    kept.back().signal(SIGKILL);
    run();
    ASSERT_TRUE(cancelled.called);
    EXPECT_EQ(cancelled.ec, asio::error::operation_aborted);
    ASSERT_TRUE(finished.called);
    EXPECT_EQ(finished.status.signal(), SIGKILL);
  }
}

// The context runs on two threads while this one ends the waits the ring
// serves: a handle destroyed with kill_on_destroy, cancel(), and a child
// that exits, each with two waits pending, several at once in 100 rounds.
// A wait its handle's destruction aborted never reports the status of the
// child that destruction killed.
TEST_F(resource_usage_test, waits_ended_from_another_thread_in_rounds)
{
  constexpr int rounds = 100;
  // Per round: two waits on each of the three, and one after the cancel.
  constexpr int per_round = 7;
  std::vector<usage_outcome> outcomes(rounds * per_round);
  std::vector<pidfd::process> kept;
  kept.reserve(rounds * 2);
  auto work = asio::make_work_guard(ctx);
  std::thread first([&] { ctx.run(); });
  std::thread second([&] { ctx.run(); });
  pidfd::spawn_options doomed_options = without_usage();
  doomed_options.kill_on_destroy = true;
  for (int round = 0; round < rounds; ++round)
  {
    usage_outcome* o = &outcomes[round * per_round];
    std::optional<pidfd::process> doomed(
        pidfd::spawn(ctx, child_program, {"pause"}, doomed_options));
    pidfd::process& paused = kept.emplace_back(spawn_pause(ctx));
    pidfd::process& exiting = kept.emplace_back(spawn_exit(round % 7, ctx));
    for (int i = 0; i < 2; ++i)
    {
      doomed->async_wait(o[i].handler());
      paused.async_wait(o[2 + i].handler());
      exiting.async_wait(o[4 + i].handler());
    }
    doomed.reset();
    paused.cancel();
    paused.async_wait(o[6].handler());
    paused.signal(SIGKILL);
  }
  work.reset();
  first.join();
  second.join();
  for (int round = 0; round < rounds; ++round)
  {
    const usage_outcome* o = &outcomes[round * per_round];
    for (int i = 0; i < 6; ++i)
      ASSERT_TRUE(o[i].called) << round << " " << i;
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(o[i].ec, asio::error::operation_aborted) << round << " " << i;
    for (int i = 4; i < 6; ++i)
    {
      EXPECT_FALSE(o[i].ec) << round << ": " << o[i].ec.message();
      EXPECT_EQ(o[i].status.code(), round % 7) << round;
    }
    ASSERT_TRUE(o[6].called) << round;
    EXPECT_FALSE(o[6].ec) << round << ": " << o[6].ec.message();
    EXPECT_EQ(o[6].status.signal(), SIGKILL) << round;
  }
}

// A pidfd handed out with native_handle() is non-blocking: the kernel's
// waitid would not wait with it, so the ring polls for that child.
TEST_F(resource_usage_test, a_pidfd_handed_out_first_is_polled_for)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  auto p = spawn_pause(ctx);
  ASSERT_GE(p.native_handle(), 0);
  usage_outcome o;
  p.async_wait(o.handler());
  ctx.poll();
  EXPECT_FALSE(o.called);
  p.signal(SIGKILL);
  run();
  ASSERT_TRUE(o.called);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_EQ(o.status.signal(), SIGKILL);
  EXPECT_FALSE(o.status.usage_known());
}

// The context goes with the ring's reaps in the kernel, each process owned
// by its wait's handler: exited children, and running ones that are killed
// only once the context is gone. No zombie is left (the fixture checks,
// after the library's reaping threads are done).
TEST_F(resource_usage_test, the_context_ends_with_reaps_in_the_ring)
{
  std::vector<pidfd_test::unique_fd> running;
  {
    asio::io_context c;
    for (int i = 0; i < 10; ++i)
    {
      auto p = std::make_shared<pidfd::process>(
          i % 2 ? spawn_exit(i, c) : spawn_pause(c));
      if (i % 2 == 0)
      {
        running.emplace_back(pidfd_test::pidfd_open(p->id()));
        ASSERT_GE(running.back().get(), 0);
      }
      else
      {
        pidfd_test::unique_fd own(pidfd_test::pidfd_open(p->id()));
        ASSERT_GE(own.get(), 0);
        pidfd_test::wait_exited(own.get(), p->id());
      }
      p->async_wait([p](error_code, exit_status) {});
    }
    c.poll();
    // Ended while the context lives: reaped by the ring or by the handler's
    // wait, whichever ran.
    c.poll();
  }
  for (const pidfd_test::unique_fd& fd : running)
    ASSERT_EQ(pidfd_test::pidfd_send_signal(fd.get(), SIGKILL), 0);
  EXPECT_FALSE(pidfd_test::children_left());
}

} // namespace
