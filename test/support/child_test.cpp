//
// test/support/child_test.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The helper child's command line: its table of modes, --help, and the
// exit codes with which it refuses a mode it does not know or operands
// that do not fit. The modes themselves are proved by the tests that use
// them.
//

#include "support/child.hpp"
#include "support/fixture.hpp"

#include "pidfd/run.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace {

using boost::system::error_code;
using pidfd_test::child_program;
using pidfd_test::contains;

class child_test : public pidfd_test::fixture
{
protected:
  pidfd::run_result run_child(const pidfd::argument_list& args)
  {
    std::optional<pidfd::run_result> result;
    pidfd::async_run(
        ctx, child_program, args, {}, [&](error_code ec, pidfd::run_result r) {
          EXPECT_FALSE(ec) << ec.message();
          result = std::move(r);
        });
    run();
    EXPECT_TRUE(result);
    return result ? std::move(*result) : pidfd::run_result{};
  }
};

// Every mode some test of the suite spawns, with its operands as --help
// spells them.
constexpr std::string_view used_modes[] = {"exit N", "signal-self SIG", "pause",
    "signal-state SIG", "burn-cpu MS", "count-fds", "write-fds PATH",
    "print-args PATH [ARG...]", "report PATH", "echo", "write OUT ERR",
    "interleave", "flood BYTES", "flood-forever", "linger",
    "ready-linger [TEXT]", "catch-term [FD]", "close-stdin", "close-stdio [N]",
    "grandchild DIR N [hold]", "orphan [FD]", "group-report SIG", "hold-stdin"};

TEST_F(child_test, help_lists_every_mode)
{
  const pidfd::run_result r = run_child({"--help"});
  EXPECT_EQ(r.status.code(), 0) << r.status;
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(contains(r.out, "usage: " + std::string(child_program))) << r.out;
  for (std::string_view mode : used_modes)
    EXPECT_TRUE(contains(r.out,
        "\n  " + std::string(child_program) + " " + std::string(mode) + "\n"))
        << mode << " is not listed:\n"
        << r.out;
}

TEST_F(child_test, no_mode_is_a_usage_error_that_lists_the_modes)
{
  const pidfd::run_result r = run_child({});
  EXPECT_EQ(r.status.code(), pidfd_test::child_usage_error) << r.status;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, " exit N\n")) << r.err;
}

TEST_F(child_test, an_unknown_mode_is_named)
{
  const pidfd::run_result r = run_child({"no-such-mode", "1"});
  EXPECT_EQ(r.status.code(), pidfd_test::child_unknown_mode) << r.status;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "unknown mode \"no-such-mode\"")) << r.err;
  EXPECT_TRUE(contains(r.err, "--help")) << r.err;
}

TEST_F(child_test, wrong_operands_are_a_usage_error_with_the_synopsis)
{
  const std::string synopsis =
      "usage: " + std::string(child_program) + " exit N\n";
  for (const pidfd::argument_list& args :
      {pidfd::argument_list{"exit"}, pidfd::argument_list{"exit", "1", "2"}})
  {
    const pidfd::run_result r = run_child(args);
    EXPECT_EQ(r.status.code(), pidfd_test::child_usage_error) << r.status;
    EXPECT_EQ(r.err, synopsis);
  }
  // Within the bounds, the mode runs.
  EXPECT_EQ(run_child({"exit", "7"}).status.code(), 7);
  EXPECT_EQ(run_child({"close-stdio", "5"}).status.code(), 5);
}

} // namespace
