//
// test/support/fixture_test.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The fixture catches what it promises to catch.
//

#include "support/fixture.hpp"

#include <gtest/gtest-spi.h>

#include <string>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

namespace {

using pidfd_test::contains;

class fixture_test : public pidfd_test::fixture
{
protected:
  // The failures expect_clean() reports, without failing this test.
  std::vector<std::string> failures_of_expect_clean()
  {
    ::testing::TestPartResultArray results;
    {
      ::testing::ScopedFakeTestPartResultReporter reporter(
          ::testing::ScopedFakeTestPartResultReporter::
              INTERCEPT_ONLY_CURRENT_THREAD,
          &results);
      expect_clean();
    }
    std::vector<std::string> messages;
    for (int i = 0; i < results.size(); ++i)
      messages.push_back(results.GetTestPartResult(i).message());
    return messages;
  }
};

TEST_F(fixture_test, clean)
{
  EXPECT_TRUE(failures_of_expect_clean().empty());
}

TEST_F(fixture_test, leaked_fd)
{
  const int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  std::vector<std::string> failures = failures_of_expect_clean();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_TRUE(contains(failures[0], "leaked fd " + std::to_string(fd)))
      << failures[0];
  EXPECT_TRUE(contains(failures[0], "/dev/null")) << failures[0];
  // And closed it.
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
}

TEST_F(fixture_test, running_child)
{
  const pid_t pid = pidfd_test::posix_spawn_child({"pause"});
  std::vector<std::string> failures = failures_of_expect_clean();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_TRUE(contains(failures[0], std::to_string(pid))) << failures[0];
  // Killed and reaped.
  EXPECT_FALSE(pidfd_test::has_children());
}

TEST_F(fixture_test, zombie)
{
  const pid_t pid = pidfd_test::posix_spawn_child({"exit", "0"});
  pidfd_test::wait_exited(-1, pid);
  std::vector<std::string> failures = failures_of_expect_clean();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_TRUE(contains(failures[0], "zombie")) << failures[0];
  EXPECT_FALSE(pidfd_test::has_children());
}

} // namespace
