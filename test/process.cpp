//
// test/process.cpp
// ~~~~~~~~~~~~~~~~
//

// Test that header file is self-contained.
#include "pidfd/process.hpp"

#include "pidfd/spawn.hpp"
#include "support/fixture.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include <csignal>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using pidfd::exit_status;
using pidfd_test::child_program;

class process_test : public pidfd_test::fixture
{
};

static_assert(std::is_same_v<pidfd::process,
    pidfd::basic_process<asio::any_io_executor>>);
static_assert(
    std::is_same_v<pidfd::process::executor_type, asio::any_io_executor>);
static_assert(std::is_same_v<pidfd::basic_process<>, pidfd::process>);

TEST_F(process_test, holds_any_executor)
{
  pidfd::process a(ctx);
  pidfd::process b(ctx.get_executor());
  pidfd::process c(asio::make_strand(ctx));
  EXPECT_EQ(a.get_executor(), asio::any_io_executor(ctx.get_executor()));
  EXPECT_EQ(b.get_executor(), a.get_executor());
  EXPECT_NE(c.get_executor(), a.get_executor());
}

TEST_F(process_test, from_every_spawn_overload)
{
  // Each overload's result converts to pidfd::process.
  auto strand = asio::make_strand(ctx);
  std::vector<pidfd::process> all;
  all.push_back(pidfd::spawn(ctx, child_program, {"exit", "1"}));
  all.push_back(pidfd::spawn(ctx.get_executor(), child_program, {"exit", "2"}));
  all.push_back(pidfd::spawn(strand, child_program, {"exit", "3"}));
  all.push_back(pidfd::spawn(
      asio::any_io_executor(strand), child_program, {"exit", "4"}));
  int expected = 1;
  std::vector<int> got;
  for (pidfd::process& p : all)
  {
    EXPECT_EQ(p.wait().code(), expected++);
    p.async_wait([&](error_code ec, exit_status s) {
      EXPECT_FALSE(ec);
      got.push_back(s.code());
    });
  }
  run();
  EXPECT_EQ(got.size(), 4u);
}

TEST_F(process_test, converting_move_assignment_by_construction)
{
  auto typed = pidfd::spawn(ctx, child_program, {"pause"});
  const pid_t pid = typed.id();
  pidfd::process p(ctx);
  p = pidfd::process(std::move(typed));
  EXPECT_EQ(p.id(), pid);
  p.signal(SIGKILL);
  EXPECT_EQ(p.wait().signal(), SIGKILL);
}

} // namespace
