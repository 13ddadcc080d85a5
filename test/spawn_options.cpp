//
// test/spawn_options.cpp
// ~~~~~~~~~~~~~~~~~~~~~~
//

// Test that header file is self-contained.
#include "pidfd/spawn_options.hpp"

#include "pidfd/spawn.hpp"
#include "support/fixture.hpp"

#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using pidfd_test::child_program;

class spawn_options_test : public pidfd_test::fixture
{
};

static_assert(std::is_aggregate_v<pidfd::spawn_options>);
static_assert(std::is_copy_constructible_v<pidfd::spawn_options>);

TEST_F(spawn_options_test, defaults)
{
  pidfd::spawn_options o;
  EXPECT_EQ(o.argv0, std::nullopt);
  pidfd::spawn_options braced{};
  EXPECT_EQ(braced.argv0, std::nullopt);
}

TEST_F(spawn_options_test, designated_initialiser)
{
  pidfd::spawn_options o{.argv0 = "name"};
  ASSERT_TRUE(o.argv0);
  EXPECT_EQ(*o.argv0, "name");
}

TEST_F(spawn_options_test, argv0_reaches_the_child)
{
  const std::string file = temp_path("args");
  pidfd::spawn_options o{.argv0 = "renamed child"};
  auto p = pidfd::spawn(ctx, child_program, {"print-args", file}, o);
  ASSERT_TRUE(p.wait().success());
  EXPECT_EQ(pidfd_test::read_lines(file),
      (std::vector<std::string>{"renamed child", "print-args", file}));
  // The options were only read.
  EXPECT_EQ(o.argv0, "renamed child");
}

} // namespace
