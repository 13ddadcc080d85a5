//
// test/basic_process_signal.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// signal and async_signal.
//

// Test that header file is self-contained.
#include "pidfd/basic_process.hpp"

#include "pidfd/spawn.hpp"
#include "support/fixture.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

#include <csignal>
#include <exception>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include <sys/wait.h>

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using boost::system::error_code;
using pidfd::exit_status;
using pidfd_test::child_program;
using pidfd_test::rethrow;

class signal_test : public pidfd_test::fixture
{
protected:
  auto spawn_pause() { return pidfd::spawn(ctx, child_program, {"pause"}); }

  // The outcome of async_signal, checking that it was not reported inside
  // the initiating function.
  template <typename Process>
  std::optional<error_code> async_signal(Process& p, int sig)
  {
    std::optional<error_code> got;
    p.async_signal(sig, [&](error_code ec) { got = ec; });
    EXPECT_FALSE(got) << "handler invoked inside async_signal";
    run();
    return got;
  }
};

TEST_F(signal_test, sigterm_kills)
{
  auto p = spawn_pause();
  p.signal(SIGTERM);
  exit_status s = p.wait();
  EXPECT_TRUE(s.signaled());
  EXPECT_EQ(s.signal(), SIGTERM);
}

TEST_F(signal_test, signal_zero_checks_liveness)
{
  auto p = spawn_pause();
  error_code ec = pidfd::error::no_process;
  p.signal(0, ec);
  EXPECT_FALSE(ec) << ec.message();
  p.signal(0);
  // Signal 0 did nothing.
  EXPECT_EQ(p.try_wait(), std::nullopt);
  p.signal(SIGKILL);
  EXPECT_EQ(p.wait().signal(), SIGKILL);
}

TEST_F(signal_test, exited_but_not_waited_is_done)
{
  auto p = pidfd::spawn(ctx, child_program, {"exit", "0"});
  // A zombie: the kernel would accept the signal, the library must not.
  pidfd_test::wait_exited(p);
  error_code ec;
  p.signal(SIGTERM, ec);
  EXPECT_EQ(ec, pidfd::error::process_done);
  EXPECT_EQ(ec, errc::no_such_process);
  p.signal(0, ec);
  EXPECT_EQ(ec, pidfd::error::process_done);
  try
  {
    p.signal(SIGTERM);
    ADD_FAILURE() << "signal() did not throw";
  }
  catch (const boost::system::system_error& e)
  {
    EXPECT_EQ(e.code(), pidfd::error::process_done);
    EXPECT_NE(std::string(e.what()).find("signal"), std::string::npos)
        << e.what();
  }
  // Signalling did not disturb the status.
  EXPECT_TRUE(p.wait().success());
}

TEST_F(signal_test, after_collection_is_done)
{
  auto p = pidfd::spawn(ctx, child_program, {"exit", "2"});
  ASSERT_EQ(p.wait().code(), 2);
  error_code ec;
  p.signal(SIGKILL, ec);
  EXPECT_EQ(ec, pidfd::error::process_done);
  p.signal(0, ec);
  EXPECT_EQ(ec, pidfd::error::process_done);
}

TEST_F(signal_test, after_reaped_elsewhere_is_done)
{
  auto p = spawn_pause();
  ::kill(p.id(), SIGKILL);
  pidfd_test::reap(p.id());
  error_code ec;
  p.signal(SIGTERM, ec);
  EXPECT_EQ(ec, pidfd::error::process_done);
  p.wait(ec);
  EXPECT_EQ(ec, errc::no_child_process);
}

TEST_F(signal_test, invalid_signal_numbers)
{
  auto p = spawn_pause();
  for (int sig : {-1, NSIG, 65, 1000, -1000})
  {
    SCOPED_TRACE(sig);
    error_code ec;
    p.signal(sig, ec);
    EXPECT_EQ(ec, errc::invalid_argument);
    EXPECT_EQ(ec, pidfd::error::invalid_signal);
    EXPECT_FALSE(ec.message().empty());
    try
    {
      p.signal(sig);
      ADD_FAILURE() << "signal() did not throw";
    }
    catch (const boost::system::system_error& e)
    {
      EXPECT_EQ(e.code(), pidfd::error::invalid_signal);
    }
    std::optional<error_code> async = async_signal(p, sig);
    ASSERT_TRUE(async);
    EXPECT_EQ(*async, pidfd::error::invalid_signal);
  }
  // Nothing was sent.
  EXPECT_EQ(p.try_wait(), std::nullopt);
  p.signal(SIGKILL);
  p.wait();
}

TEST_F(signal_test, highest_signal_number_is_valid)
{
  // NSIG - 1 (64, SIGRTMAX) is the last signal; its default action kills.
  auto p = spawn_pause();
  p.signal(NSIG - 1);
  exit_status s = p.wait();
  EXPECT_EQ(s.signal(), NSIG - 1);
  EXPECT_EQ(s.to_string(), "killed by signal " + std::to_string(NSIG - 1));
}

TEST_F(signal_test, invalid_signal_to_a_finished_process)
{
  auto p = pidfd::spawn(ctx, child_program, {"exit", "0"});
  p.wait();
  error_code ec;
  p.signal(-1, ec);
  EXPECT_EQ(ec, pidfd::error::invalid_signal);
}

TEST_F(signal_test, async_signal_to_a_live_process)
{
  auto p = spawn_pause();
  std::optional<error_code> got = async_signal(p, 0);
  ASSERT_TRUE(got);
  EXPECT_FALSE(*got) << got->message();

  got = async_signal(p, SIGTERM);
  ASSERT_TRUE(got);
  EXPECT_FALSE(*got) << got->message();
  EXPECT_EQ(p.wait().signal(), SIGTERM);

  got = async_signal(p, SIGTERM);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, pidfd::error::process_done);
}

TEST_F(signal_test, async_signal_to_an_exited_process)
{
  auto p = pidfd::spawn(ctx, child_program, {"exit", "0"});
  pidfd_test::wait_exited(p);
  std::optional<error_code> got = async_signal(p, SIGKILL);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, pidfd::error::process_done);
  EXPECT_TRUE(p.wait().success());
}

TEST_F(signal_test, async_signal_is_sent_before_it_returns)
{
  auto p = spawn_pause();
  bool called = false;
  p.async_signal(SIGKILL, [&](error_code ec) {
    called = true;
    EXPECT_FALSE(ec);
  });
  // Without running the io_context.
  EXPECT_EQ(p.wait().signal(), SIGKILL);
  EXPECT_FALSE(called);
  run();
  EXPECT_TRUE(called);
}

TEST_F(signal_test, async_signal_tokens)
{
  auto p = spawn_pause();

  auto op = p.async_signal(0, asio::deferred);
  std::optional<error_code> deferred_ec;
  std::move(op)([&](error_code ec) { deferred_ec = ec; });
  run();
  ASSERT_TRUE(deferred_ec);
  EXPECT_FALSE(*deferred_ec);

  std::future<void> f = p.async_signal(0, asio::use_future);
  run();
  EXPECT_NO_THROW(f.get());

  bool awaited = false;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        co_await p.async_signal(SIGKILL, asio::use_awaitable);
        exit_status s = co_await p.async_wait(asio::use_awaitable);
        EXPECT_EQ(s.signal(), SIGKILL);
        try
        {
          co_await p.async_signal(SIGKILL, asio::use_awaitable);
        }
        catch (const boost::system::system_error& e)
        {
          awaited = e.code() == pidfd::error::process_done;
        }
      },
      rethrow);
  run();
  EXPECT_TRUE(awaited);

  std::future<void> done = p.async_signal(SIGKILL, asio::use_future);
  run();
  try
  {
    done.get();
    ADD_FAILURE() << "no exception";
  }
  catch (const boost::system::system_error& e)
  {
    EXPECT_EQ(e.code(), pidfd::error::process_done);
  }
}

TEST_F(signal_test, async_signal_associated_executor)
{
  auto strand = asio::make_strand(ctx);
  auto p = spawn_pause();
  bool on_strand = false;
  p.async_signal(SIGKILL, asio::bind_executor(strand, [&](error_code) {
    on_strand = strand.running_in_this_thread();
  }));
  run();
  EXPECT_TRUE(on_strand);
  p.wait();
}

TEST_F(signal_test, signal_from_another_thread_while_waiting)
{
  auto p = spawn_pause();
  std::optional<exit_status> got;
  p.async_wait([&](error_code ec, exit_status s) {
    EXPECT_FALSE(ec);
    got = s;
  });
  std::thread runner([&] { ctx.run(); });
  p.signal(SIGTERM);
  runner.join();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->signal(), SIGTERM);
}

} // namespace
