//
// test/basic_process_wait.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~
// async_wait, wait and try_wait.
//

// Test that header file is self-contained.
#include "pidfd/basic_process.hpp"

#include "pidfd/process.hpp"
#include "pidfd/spawn.hpp"
#include "support/counting_allocator.hpp"
#include "support/fixture.hpp"

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/require.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <sys/wait.h>

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using boost::system::error_code;
using pidfd::exit_status;
using pidfd_test::allocation_counts;
using pidfd_test::child_program;
using pidfd_test::counting_allocator;
using pidfd_test::rethrow;

class wait_test : public pidfd_test::fixture
{
protected:
  auto spawn_pause() { return pidfd::spawn(ctx, child_program, {"pause"}); }

  void expect_per_operation_cancellation(asio::cancellation_type type);

  // A process whose status someone else collected: its waits fail.
  auto spawn_reaped_elsewhere()
  {
    auto p = spawn_pause();
    ::kill(p.id(), SIGKILL); // safe: our unreaped child keeps its PID
    pidfd_test::reap(p.id());
    return p;
  }
};

using outcome = pidfd_test::wait_outcome;

//------------------------------------------------------------------------------
// Completion tokens.

TEST_F(wait_test, callback)
{
  auto p = pidfd::spawn(ctx, child_program, {"exit", "3"});
  outcome o;
  p.async_wait(o.handler());
  run();
  ASSERT_TRUE(o.called);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_TRUE(o.status.exited());
  EXPECT_EQ(o.status.code(), 3);
}

TEST_F(wait_test, move_only_callback)
{
  auto p = pidfd::spawn(ctx, child_program, {"exit", "4"});
  auto owned = std::make_unique<int>(4);
  int got = -1;
  p.async_wait([&got, owned = std::move(owned)](error_code ec, exit_status s) {
    EXPECT_FALSE(ec);
    got = s.code() == *owned ? s.code() : -2;
  });
  run();
  EXPECT_EQ(got, 4);
}

TEST_F(wait_test, coroutine)
{
  auto p = spawn_pause();
  std::optional<exit_status> got;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        co_await p.async_signal(SIGTERM, asio::use_awaitable);
        got = co_await p.async_wait(asio::use_awaitable);
      },
      rethrow);
  run();
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->signaled());
  EXPECT_EQ(got->signal(), SIGTERM);
}

TEST_F(wait_test, coroutine_error_is_thrown)
{
  auto p = spawn_reaped_elsewhere();
  bool thrown = false;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        try
        {
          co_await p.async_wait(asio::use_awaitable);
        }
        catch (const boost::system::system_error& e)
        {
          thrown = e.code() == errc::no_child_process;
        }
      },
      rethrow);
  run();
  EXPECT_TRUE(thrown);
}

TEST_F(wait_test, deferred)
{
  auto p = pidfd::spawn(ctx, child_program, {"exit", "5"});
  auto op = p.async_wait(asio::deferred);
  outcome o;
  // Nothing starts until the deferred operation is given a handler.
  run();
  EXPECT_FALSE(o.called);
  std::move(op)(o.handler());
  run();
  ASSERT_TRUE(o.called);
  EXPECT_FALSE(o.ec);
  EXPECT_EQ(o.status.code(), 5);
}

TEST_F(wait_test, use_future)
{
  auto p = spawn_pause();
  std::future<exit_status> f = p.async_wait(asio::use_future);
  std::thread runner([&] { ctx.run(); });
  p.signal(SIGKILL);
  exit_status s = f.get();
  runner.join();
  EXPECT_EQ(s.signal(), SIGKILL);
}

TEST_F(wait_test, use_future_error_is_thrown)
{
  auto p = spawn_reaped_elsewhere();
  std::future<exit_status> f = p.async_wait(asio::use_future);
  std::thread runner([&] { ctx.run(); });
  // Joined before the exception is looked at: the runner drops the last
  // reference to the promise's state, and libstdc++'s exception_ptr
  // counts references in code ThreadSanitizer does not see.
  f.wait();
  runner.join();
  try
  {
    f.get();
    ADD_FAILURE() << "no exception";
  }
  catch (const boost::system::system_error& e)
  {
    EXPECT_EQ(e.code(), errc::no_child_process);
  }
}

//------------------------------------------------------------------------------
// Asio's rules for asynchronous operations.

TEST_F(wait_test, handler_not_invoked_inside_initiation)
{
  // Running.
  auto running = spawn_pause();
  outcome r;
  running.async_wait(r.handler());
  EXPECT_FALSE(r.called);

  // Exited, status not collected yet.
  auto exited = pidfd::spawn(ctx, child_program, {"exit", "1"});
  pidfd_test::wait_exited(exited);
  outcome e;
  exited.async_wait(e.handler());
  EXPECT_FALSE(e.called);

  // Exited and collected.
  auto collected = pidfd::spawn(ctx, child_program, {"exit", "2"});
  ASSERT_EQ(collected.wait().code(), 2);
  outcome c;
  collected.async_wait(c.handler());
  EXPECT_FALSE(c.called);

  // Even from inside a handler running on the same io_context.
  bool nested_called = false;
  bool nested_inline = false;
  asio::post(ctx, [&] {
    collected.async_wait(
        [&](error_code, exit_status) { nested_called = true; });
    nested_inline = nested_called;
  });

  running.signal(SIGKILL);
  run();
  EXPECT_TRUE(r.called);
  EXPECT_EQ(r.status.signal(), SIGKILL);
  EXPECT_TRUE(e.called);
  EXPECT_EQ(e.status.code(), 1);
  EXPECT_TRUE(c.called);
  EXPECT_EQ(c.status.code(), 2);
  EXPECT_TRUE(nested_called);
  EXPECT_FALSE(nested_inline);
}

TEST_F(wait_test, associated_executor)
{
  auto strand = asio::make_strand(ctx);
  auto p = spawn_pause();
  auto done = pidfd::spawn(ctx, child_program, {"exit", "0"});
  ASSERT_TRUE(done.wait().success());

  int on_strand = 0;
  auto check = [&](error_code, exit_status) {
    on_strand += strand.running_in_this_thread() ? 1 : 0;
  };
  p.async_wait(asio::bind_executor(strand, check));
  // The posted path (status already collected) too.
  done.async_wait(asio::bind_executor(strand, check));

  p.signal(SIGKILL);
  run();
  EXPECT_EQ(on_strand, 2);
}

// The first process of a context lends its executor to nothing the
// context keeps: with the io_uring mechanism the context's ring is waited
// for on the io_context's own executor. An executor that tracks work keeps
// run() going while its process lives, as any Asio object's does, and not
// after.
TEST_F(wait_test, a_work_tracking_executor_ends_with_its_process)
{
  std::optional<exit_status> status;
  {
    const auto tracked = asio::require(
        ctx.get_executor(), asio::execution::outstanding_work.tracked);
    pidfd::process p = pidfd::spawn(tracked, child_program, {"exit", "3"});
    p.async_wait([&](error_code ec, exit_status s) {
      EXPECT_FALSE(ec);
      status = s;
    });
    while (!status && ctx.run_one() != 0)
    {
    }
  }
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code(), 3);
  ctx.restart();
  ctx.run_for(std::chrono::seconds(10));
  EXPECT_TRUE(ctx.stopped()) << "run() found work after the process went";
}

// A wait holds work on its handler's executor, as Asio's ops do: a
// handler bound to another io_context keeps that context's run() going
// until it has run, though the process is on `ctx`. The kill is posted to
// the other context, so that its run() has found work before the process
// ends.
TEST_F(wait_test, a_wait_keeps_its_handlers_context_running)
{
  asio::io_context other;
  auto p = spawn_pause();
  std::optional<exit_status> status;
  p.async_wait(asio::bind_executor(other, [&](error_code ec, exit_status s) {
    EXPECT_FALSE(ec);
    EXPECT_TRUE(other.get_executor().running_in_this_thread());
    status = s;
  }));
  asio::post(other, [&] { p.signal(SIGKILL); });
  std::thread runner([&] { ctx.run(); });
  other.run();
  runner.join();
  ASSERT_TRUE(status) << "run() of the handler's context returned first";
  EXPECT_EQ(status->signal(), SIGKILL);
  other.restart();
  other.run(); // the handler, if it came late: nothing is left queued
}

// Which waits through the ring leave out the work on their handler's
// executor (an io_context's pending wait for the ring is theirs): those
// whose executor is the process's own io_context executor, and no other.
TEST_F(wait_test, ring_waiters_hold_work_unless_the_context_is_theirs)
{
  using pidfd::detail::ring_waiter_needs_work;
  const asio::any_io_executor io_ex = ctx.get_executor();
  auto plain = [](error_code) {};
  EXPECT_FALSE(ring_waiter_needs_work(plain, io_ex));
  EXPECT_FALSE(ring_waiter_needs_work(
      asio::bind_executor(ctx.get_executor(), plain), io_ex));
  EXPECT_FALSE(
      ring_waiter_needs_work(asio::bind_executor(io_ex, plain), io_ex));

  asio::io_context other;
  EXPECT_TRUE(ring_waiter_needs_work(
      asio::bind_executor(other.get_executor(), plain), io_ex));
  EXPECT_TRUE(ring_waiter_needs_work(
      asio::bind_executor(asio::make_strand(ctx), plain), io_ex));
  EXPECT_TRUE(ring_waiter_needs_work(
      asio::bind_executor(asio::require(ctx.get_executor(),
                              asio::execution::outstanding_work.tracked),
          plain),
      io_ex));

  // A process on a strand, or on a thread pool: every waiter holds work.
  const asio::any_io_executor on_strand = asio::make_strand(ctx);
  EXPECT_TRUE(ring_waiter_needs_work(plain, on_strand));
  asio::thread_pool pool(1);
  const asio::any_io_executor on_pool = pool.get_executor();
  EXPECT_TRUE(ring_waiter_needs_work(plain, on_pool));
  pool.join();
}

// Nor does a strand of the first process hold up the others' completions:
// a handler of that strand waits (on another thread of the io_context) for
// the end of a process that is not on the strand.
TEST_F(wait_test, a_busy_strand_of_the_first_process_delays_no_other)
{
  auto strand = asio::make_strand(ctx);
  auto first = pidfd::spawn(strand, child_program, {"pause"});
  std::optional<exit_status> first_status;
  first.async_wait([&](error_code, exit_status s) { first_status = s; });

  auto other = pidfd::spawn(ctx, child_program, {"exit", "0"});
  std::promise<void> other_done;
  other.async_wait([&](error_code ec, exit_status s) {
    EXPECT_FALSE(ec);
    EXPECT_TRUE(s.success());
    other_done.set_value();
  });
  std::future_status seen = std::future_status::deferred;
  asio::post(strand, [&] {
    seen = other_done.get_future().wait_for(std::chrono::seconds(10));
    first.signal(SIGKILL);
  });
  std::thread runner([&] { ctx.run(); });
  ctx.run();
  runner.join();
  EXPECT_EQ(seen, std::future_status::ready);
  ASSERT_TRUE(first_status);
  EXPECT_EQ(first_status->signal(), SIGKILL);
}

TEST_F(wait_test, associated_allocator)
{
  allocation_counts counts;
  int outstanding_at_upcall = -1;
  auto p = spawn_pause();
  p.async_wait(asio::bind_allocator(
      counting_allocator<int>(counts), [&](error_code ec, exit_status s) {
        EXPECT_FALSE(ec);
        EXPECT_EQ(s.signal(), SIGKILL);
        // Asio's rule: memory is freed before the handler is called.
        outstanding_at_upcall = counts.outstanding;
      }));
  p.signal(SIGKILL);
  run();
  EXPECT_GT(counts.allocations, 0);
  EXPECT_EQ(counts.outstanding, 0);
  EXPECT_EQ(outstanding_at_upcall, 0);
}

// The completion of a wait whose status is collected already is not run
// inline; the memory for it comes from the handler's allocator too, also
// for a process made from the context (any_io_executor): it completes
// through the reactor, not through a post, whose type-erased executor
// would not carry the allocator.
template <typename Process>
void expect_allocator_for_a_collected_status(Process p, asio::io_context& ctx)
{
  ASSERT_TRUE(p.wait().success());
  allocation_counts counts;
  int outstanding_at_upcall = -1;
  p.async_wait(asio::bind_allocator(
      counting_allocator<int>(counts), [&](error_code ec, exit_status s) {
        EXPECT_FALSE(ec);
        EXPECT_TRUE(s.success());
        outstanding_at_upcall = counts.outstanding;
      }));
  EXPECT_EQ(outstanding_at_upcall, -1);
  ctx.run();
  ctx.restart();
  EXPECT_GT(counts.allocations, 0);
  EXPECT_EQ(counts.outstanding, 0);
  EXPECT_EQ(outstanding_at_upcall, 0);
}

TEST_F(wait_test, associated_allocator_for_a_collected_status)
{
  expect_allocator_for_a_collected_status(
      pidfd::spawn(ctx.get_executor(), child_program, {"exit", "0"}), ctx);
  expect_allocator_for_a_collected_status(
      pidfd::spawn(ctx, child_program, {"exit", "0"}), ctx);
}

//------------------------------------------------------------------------------
// Cancellation.

// A wait cancelled through its slot with `type` ends with operation_aborted
// and leaves the child running and waitable.
void wait_test::expect_per_operation_cancellation(asio::cancellation_type type)
{
  auto p = spawn_pause();
  asio::cancellation_signal sig;
  outcome o;
  p.async_wait(asio::bind_cancellation_slot(sig.slot(), o.handler()));
  sig.emit(type);
  run();
  ASSERT_TRUE(o.called);
  EXPECT_EQ(o.ec, asio::error::operation_aborted);

  // The wait had no side effect: the child runs and can be waited for.
  EXPECT_EQ(p.try_wait(), std::nullopt);
  error_code ec;
  p.signal(0, ec);
  EXPECT_FALSE(ec) << ec.message();

  outcome later;
  p.async_wait(later.handler());
  p.signal(SIGKILL);
  run();
  ASSERT_TRUE(later.called);
  EXPECT_FALSE(later.ec) << later.ec.message();
  EXPECT_EQ(later.status.signal(), SIGKILL);
}

TEST_F(wait_test, per_operation_cancellation_terminal)
{
  expect_per_operation_cancellation(asio::cancellation_type::terminal);
}

TEST_F(wait_test, per_operation_cancellation_partial)
{
  expect_per_operation_cancellation(asio::cancellation_type::partial);
}

TEST_F(wait_test, per_operation_cancellation_total)
{
  expect_per_operation_cancellation(asio::cancellation_type::total);
}

// A wait whose outcome is known at once (the status collected already, no
// process) completes through the reactor, never inline; a cancellation
// emitted before that completion runs changes nothing, and reaches nothing
// that is gone (the sanitizer builds would see a use after free).
TEST_F(wait_test, cancelling_a_wait_whose_outcome_is_known_changes_nothing)
{
  auto p = pidfd::spawn(ctx, child_program, {"exit", "4"});
  ASSERT_EQ(p.wait().code(), 4);
  pidfd::process none(ctx);
  for (auto type : {asio::cancellation_type::terminal,
           asio::cancellation_type::partial, asio::cancellation_type::total})
  {
    asio::cancellation_signal sig1;
    asio::cancellation_signal sig2;
    outcome collected;
    outcome gone;
    p.async_wait(
        asio::bind_cancellation_slot(sig1.slot(), collected.handler()));
    sig1.emit(type);
    none.async_wait(asio::bind_cancellation_slot(sig2.slot(), gone.handler()));
    sig2.emit(type);
    EXPECT_FALSE(collected.called); // not inline
    run();
    ASSERT_TRUE(collected.called);
    EXPECT_FALSE(collected.ec) << collected.ec.message();
    EXPECT_EQ(collected.status.code(), 4);
    ASSERT_TRUE(gone.called);
    EXPECT_EQ(gone.ec, pidfd::error::no_process);
  }
}

TEST_F(wait_test, per_operation_cancellation_cancels_only_that_wait)
{
  auto p = spawn_pause();
  asio::cancellation_signal sig;
  outcome cancelled, kept;
  p.async_wait(asio::bind_cancellation_slot(sig.slot(), cancelled.handler()));
  p.async_wait(kept.handler());
  sig.emit(asio::cancellation_type::terminal);
  ctx.poll();
  ctx.restart();
  ASSERT_TRUE(cancelled.called);
  EXPECT_EQ(cancelled.ec, asio::error::operation_aborted);
  EXPECT_FALSE(kept.called);

  p.signal(SIGKILL);
  run();
  ASSERT_TRUE(kept.called);
  EXPECT_FALSE(kept.ec);
  EXPECT_EQ(kept.status.signal(), SIGKILL);
}

TEST_F(wait_test, exit_while_no_wait_is_outstanding)
{
  // The pidfd's readiness edge arrives after a cancelled wait and before
  // the next one: the next wait must still see it.
  auto p = spawn_pause();
  outcome first;
  p.async_wait(first.handler());
  p.cancel();
  run();
  EXPECT_EQ(first.ec, asio::error::operation_aborted);

  p.signal(SIGKILL);
  pidfd_test::wait_exited(p);
  outcome second;
  p.async_wait(second.handler());
  run();
  ASSERT_TRUE(second.called);
  EXPECT_FALSE(second.ec) << second.ec.message();
  EXPECT_EQ(second.status.signal(), SIGKILL);
}

TEST_F(wait_test, cancel_member_cancels_every_wait)
{
  auto p = spawn_pause();
  outcome a, b, c;
  p.async_wait(a.handler());
  p.async_wait(b.handler());
  p.async_wait(asio::deferred)(c.handler());
  p.cancel();
  run();
  for (outcome* o : {&a, &b, &c})
  {
    ASSERT_TRUE(o->called);
    EXPECT_EQ(o->ec, asio::error::operation_aborted);
  }
  EXPECT_EQ(p.try_wait(), std::nullopt);
  p.signal(SIGTERM);
  outcome later;
  p.async_wait(later.handler());
  run();
  EXPECT_EQ(later.status.signal(), SIGTERM);
}

TEST_F(wait_test, cancel_without_waits_is_harmless)
{
  auto p = spawn_pause();
  p.cancel();
  p.signal(SIGKILL);
  outcome o;
  p.async_wait(o.handler());
  run();
  EXPECT_EQ(o.status.signal(), SIGKILL);
  p.cancel();
}

TEST_F(wait_test, awaitable_operators_timer_wins)
{
  using namespace asio::experimental::awaitable_operators;
  auto p = spawn_pause();
  bool finished = false;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        // Already expired: the timer wins, as the child never exits on its
        // own.
        timer.expires_after(std::chrono::seconds(0));
        auto r = co_await (p.async_wait(asio::use_awaitable)
            || timer.async_wait(asio::use_awaitable));
        EXPECT_EQ(r.index(), 1u);

        EXPECT_EQ(p.try_wait(), std::nullopt);
        p.signal(SIGTERM);
        exit_status s = co_await p.async_wait(asio::use_awaitable);
        EXPECT_EQ(s.signal(), SIGTERM);
        finished = true;
      },
      rethrow);
  run();
  EXPECT_TRUE(finished);
}

TEST_F(wait_test, awaitable_operators_process_wins)
{
  using namespace asio::experimental::awaitable_operators;
  auto p = pidfd::spawn(ctx, child_program, {"exit", "6"});
  bool finished = false;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        timer.expires_at(asio::steady_timer::time_point::max());
        auto r = co_await (p.async_wait(asio::use_awaitable)
            || timer.async_wait(asio::use_awaitable));
        // (ASSERT_* cannot be used in a coroutine: it expands to return.)
        if (r.index() == 0)
          finished = std::get<0>(r).code() == 6;
      },
      rethrow);
  run();
  EXPECT_TRUE(finished);
}

//------------------------------------------------------------------------------
// Several waits, repeated waits, and the object's lifetime.

TEST_F(wait_test, several_waits_get_the_same_status)
{
  auto p = spawn_pause();
  std::vector<outcome> outcomes(5);
  for (outcome& o : outcomes)
    p.async_wait(o.handler());
  std::optional<exit_status> awaited;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        awaited = co_await p.async_wait(asio::use_awaitable);
      },
      rethrow);
  p.signal(SIGKILL);
  run();
  for (outcome& o : outcomes)
  {
    ASSERT_TRUE(o.called);
    EXPECT_FALSE(o.ec) << o.ec.message();
    EXPECT_EQ(o.status.signal(), SIGKILL);
    EXPECT_EQ(o.status, outcomes[0].status);
  }
  ASSERT_TRUE(awaited);
  EXPECT_EQ(*awaited, outcomes[0].status);
}

TEST_F(wait_test, waits_after_collection_get_the_cached_status)
{
  auto p = pidfd::spawn(ctx, child_program, {"burn-cpu", "1"});
  outcome first;
  p.async_wait(first.handler());
  run();
  ASSERT_TRUE(first.status.success());

  // The child is reaped: only the cache can answer now.
  EXPECT_FALSE(pidfd_test::children_left());
  for (int i = 0; i < 3; ++i)
  {
    outcome again;
    p.async_wait(again.handler());
    run();
    ASSERT_TRUE(again.called);
    EXPECT_FALSE(again.ec);
    EXPECT_EQ(again.status, first.status);
    EXPECT_EQ(again.status.user_time(), first.status.user_time());
  }
  EXPECT_EQ(p.wait(), first.status);
  EXPECT_EQ(p.try_wait(), first.status);
}

TEST_F(wait_test, destroying_the_object_aborts_the_wait)
{
  auto p = std::make_optional(spawn_pause());
  // Our own handle on the child, to kill it without its PID.
  pidfd_test::unique_fd own(pidfd_test::pidfd_open(p->id()));
  ASSERT_GE(own.get(), 0);

  outcome o;
  p->async_wait(o.handler());
  p.reset();
  // The child was not killed.
  ASSERT_EQ(pidfd_test::pidfd_send_signal(own.get(), 0), 0);
  ASSERT_EQ(pidfd_test::pidfd_send_signal(own.get(), SIGKILL), 0);
  run();
  ASSERT_TRUE(o.called);
  EXPECT_EQ(o.ec, asio::error::operation_aborted);
  // Reaped in the background.
  EXPECT_FALSE(pidfd_test::children_left());
}

TEST_F(wait_test, moving_the_object_keeps_the_wait)
{
  auto p = spawn_pause();
  outcome o;
  p.async_wait(o.handler());
  auto q = std::move(p);
  std::vector<decltype(q)> v;
  v.push_back(std::move(q));
  // Reallocation moves the object again.
  for (int i = 0; i < 8; ++i)
    v.emplace_back(ctx.get_executor());
  v[0].signal(SIGTERM);
  run();
  ASSERT_TRUE(o.called);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_EQ(o.status.signal(), SIGTERM);
}

TEST_F(wait_test, many_processes_on_two_threads)
{
  constexpr int count = 40;
  std::vector<pidfd::process> exiting, pausing;
  for (int i = 0; i < count / 2; ++i)
  {
    exiting.push_back(pidfd::spawn(
        ctx.get_executor(), child_program, {"exit", std::to_string(i)}));
    pausing.push_back(
        pidfd::spawn(ctx.get_executor(), child_program, {"pause"}));
  }
  std::atomic<int> exited_ok{0}, killed_ok{0};
  for (int i = 0; i < count / 2; ++i)
  {
    // When a child exits, its handler kills a pausing one: handlers and
    // signals run on both threads.
    exiting[i].async_wait([&, i](error_code ec, exit_status s) {
      if (!ec && s.code() == i)
        ++exited_ok;
      pausing[i].async_signal(
          SIGKILL, [](error_code e) { EXPECT_FALSE(e) << e.message(); });
    });
    pausing[i].async_wait([&](error_code ec, exit_status s) {
      if (!ec && s.signal() == SIGKILL)
        ++killed_ok;
    });
  }
  std::thread other([&] { ctx.run(); });
  ctx.run();
  other.join();
  EXPECT_EQ(exited_ok.load(), count / 2);
  EXPECT_EQ(killed_ok.load(), count / 2);
}

TEST_F(wait_test, blocking_and_async_waits_together)
{
  auto p = spawn_pause();
  outcome o;
  p.async_wait(o.handler());
  std::thread runner([&] { ctx.run(); });
  p.signal(SIGKILL);
  exit_status s = p.wait();
  runner.join();
  EXPECT_EQ(s.signal(), SIGKILL);
  ASSERT_TRUE(o.called);
  EXPECT_FALSE(o.ec);
  EXPECT_EQ(o.status, s);
}

//------------------------------------------------------------------------------
// Blocking wait and try_wait.

TEST_F(wait_test, try_wait_while_running_then_after_exit)
{
  auto p = spawn_pause();
  error_code ec = pidfd::error::process_done;
  EXPECT_EQ(p.try_wait(ec), std::nullopt);
  EXPECT_FALSE(ec);
  EXPECT_EQ(p.try_wait(), std::nullopt);

  p.signal(SIGKILL);
  pidfd_test::wait_exited(p);
  std::optional<exit_status> s = p.try_wait();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->signal(), SIGKILL);
  // Repeated calls return the same status.
  EXPECT_EQ(p.try_wait(), s);
  EXPECT_EQ(p.wait(), *s);
}

TEST_F(wait_test, wait_blocks_until_exit)
{
  auto p = spawn_pause();
  std::optional<exit_status> s;
  std::thread waiter([&] { s = p.wait(); });
  p.signal(SIGTERM);
  waiter.join();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->signal(), SIGTERM);
  EXPECT_EQ(p.wait(), *s);
  EXPECT_EQ(p.wait(), *s);
  EXPECT_EQ(p.try_wait(), s);
}

TEST_F(wait_test, wait_error_code_is_cleared_on_success)
{
  auto p = pidfd::spawn(ctx, child_program, {"exit", "2"});
  error_code ec = pidfd::error::no_process;
  EXPECT_EQ(p.wait(ec).code(), 2);
  EXPECT_FALSE(ec);
  ec = pidfd::error::no_process;
  EXPECT_EQ(p.wait(ec).code(), 2);
  EXPECT_FALSE(ec);
}

//------------------------------------------------------------------------------
// Status collected by someone else.

TEST_F(wait_test, reaped_elsewhere)
{
  auto p = spawn_reaped_elsewhere();
  error_code ec;
  p.wait(ec);
  EXPECT_EQ(ec, errc::no_child_process);
  EXPECT_EQ(p.try_wait(ec), std::nullopt);
  EXPECT_EQ(ec, errc::no_child_process);
  try
  {
    p.wait();
    ADD_FAILURE() << "wait() did not throw";
  }
  catch (const boost::system::system_error& e)
  {
    EXPECT_EQ(e.code(), errc::no_child_process);
  }

  outcome o;
  p.async_wait(o.handler());
  run();
  ASSERT_TRUE(o.called);
  EXPECT_EQ(o.ec, errc::no_child_process);
}

TEST_F(wait_test, reaped_elsewhere_while_a_wait_is_outstanding)
{
  // In the wait4 fallback a pool thread reaps the child the moment it
  // exits, racing the waitpid below; reaped_elsewhere covers that mode.
  PIDFD_TEST_REQUIRE_PIDFD();
  auto p = spawn_pause();
  outcome o;
  p.async_wait(o.handler());
  ::kill(p.id(), SIGKILL);
  EXPECT_EQ(WTERMSIG(pidfd_test::reap(p.id())), SIGKILL);
  run();
  ASSERT_TRUE(o.called);
  EXPECT_EQ(o.ec, errc::no_child_process);
}

TEST_F(wait_test, reaped_elsewhere_by_pidfd)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  auto p = spawn_pause();
  p.signal(SIGKILL);
  pidfd_test::wait_exited(p);
  siginfo_t info{};
  // waitid(P_PIDFD) on the object's own pidfd.
  ASSERT_EQ(::waitid(static_cast<idtype_t>(3 /* P_PIDFD */),
                static_cast<id_t>(p.native_handle()), &info, WEXITED),
      0);
  EXPECT_EQ(info.si_status, SIGKILL);
  error_code ec;
  p.wait(ec);
  EXPECT_EQ(ec, errc::no_child_process);
}

} // namespace
