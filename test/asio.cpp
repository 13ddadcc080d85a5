//
// test/asio.cpp
// ~~~~~~~~~~~~~
// The umbrella header.
//

// Test that header file is self-contained.
#include "pidfd/asio.hpp"

#include "support/fixture.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <csignal>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>

namespace {

namespace asio = boost::asio;
using pidfd_test::child_program;

class asio_test : public pidfd_test::fixture
{
};

// Every public name is reachable through the umbrella.
[[maybe_unused]] void names()
{
  [[maybe_unused]] pidfd::error e = pidfd::error::process_done;
  [[maybe_unused]] const boost::system::error_category& c =
      pidfd::error_category();
  [[maybe_unused]] pidfd::exit_status s;
  [[maybe_unused]] pidfd::kernel_features f;
  [[maybe_unused]] pidfd::spawn_options o;
  [[maybe_unused]] pidfd::argument_list a;
  using p = pidfd::process;
  using b = pidfd::basic_process<>;
  static_assert(std::is_same_v<p, b>);
}

TEST_F(asio_test, spawn_await_and_signal)
{
  EXPECT_FALSE(pidfd::kernel_support().to_string().empty());
  std::optional<pidfd::exit_status> exited, killed;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pidfd::process a = pidfd::spawn(ex, child_program, {"exit", "3"});
        pidfd::process b = pidfd::spawn(
            ex, child_program, {"pause"}, pidfd::spawn_options{.argv0 = "b"});
        exited = co_await a.async_wait(asio::use_awaitable);
        co_await b.async_signal(SIGKILL, asio::use_awaitable);
        killed = co_await b.async_wait(asio::use_awaitable);
      },
      [](std::exception_ptr e) {
        if (e)
          std::rethrow_exception(e);
      });
  run();
  ASSERT_TRUE(exited);
  ASSERT_TRUE(killed);
  EXPECT_EQ(exited->to_string(), "exited with code 3");
  EXPECT_EQ(killed->to_string(), "killed by SIGKILL");
}

} // namespace
