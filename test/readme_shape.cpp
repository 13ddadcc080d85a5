//
// test/readme_shape.cpp
// ~~~~~~~~~~~~~~~~~~~~~
// README's async_run snippet as users copy it: braced arguments and a
// braced run_options temporary inside co_await. Built with every preset's
// compiler and sanitizers, and (from the gcc preset) with clang++ under
// AddressSanitizer and UndefinedBehaviorSanitizer.
//

#include "pidfd/asio.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <optional>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

void rethrow(std::exception_ptr e)
{
  if (e)
    std::rethrow_exception(e);
}

TEST(readme_shape, braced_options_inside_co_await)
{
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
  GTEST_SKIP() << "g++ " << __GNUC__
               << " destroys an aggregate temporary inside co_await twice "
                  "(README, async_run); named_options_inside_co_await is "
                  "the shape for it";
#else
  asio::io_context ctx;
  std::optional<pidfd::run_result> r;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        r = co_await pidfd::async_run(ctx, "sort", {"-r"},
            {.input = "a\nc\nb\n", .timeout = 10s}, asio::use_awaitable);
      },
      rethrow);
  ctx.run();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->status.success());
  EXPECT_EQ(r->out, "c\nb\na\n");
  EXPECT_FALSE(r->timed_out);
#endif
}

TEST(readme_shape, named_options_inside_co_await)
{
  asio::io_context ctx;
  std::optional<pidfd::run_result> r;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        pidfd::run_options opts{.input = "a\nc\nb\n", .timeout = 10s};
        r = co_await pidfd::async_run(
            ctx, "sort", {"-r"}, std::move(opts), asio::use_awaitable);
      },
      rethrow);
  ctx.run();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->status.success());
  EXPECT_EQ(r->out, "c\nb\na\n");
}

} // namespace
