//
// test/error.cpp
// ~~~~~~~~~~~~~~
//

// Test that header file is self-contained.
#include "pidfd/error.hpp"

#include "support/fixture.hpp"

#include <boost/system/error_code.hpp>

#include <cerrno>
#include <string>

namespace {

namespace errc = boost::system::errc;
using boost::system::error_code;

class error_test : public pidfd_test::fixture
{
};

constexpr pidfd::error all_errors[] = {
    pidfd::error::process_done,
    pidfd::error::invalid_signal,
    pidfd::error::no_process,
    pidfd::error::embedded_nul,
    pidfd::error::empty_program,
    pidfd::error::invalid_option,
    pidfd::error::invalid_grace_period,
    pidfd::error::invalid_wait_delay,
    pidfd::error::no_tree,
    pidfd::error::no_cgroup,
    pidfd::error::invalid_window_size,
};

TEST_F(error_test, category_is_named_pidfd)
{
  EXPECT_STREQ(pidfd::error_category().name(), "pidfd");
  // A singleton: codes made at different places compare equal.
  EXPECT_EQ(&pidfd::error_category(), &pidfd::error_category());
}

TEST_F(error_test, every_value_has_a_message)
{
  for (pidfd::error e : all_errors)
  {
    error_code ec = pidfd::make_error_code(e);
    EXPECT_FALSE(ec.message().empty()) << static_cast<int>(e);
    EXPECT_EQ(ec.message().find("unknown"), std::string::npos) << ec.message();
  }
  // The messages tell the errors apart.
  for (pidfd::error a : all_errors)
  {
    for (pidfd::error b : all_errors)
    {
      if (a != b)
      {
        EXPECT_NE(pidfd::make_error_code(a).message(),
            pidfd::make_error_code(b).message());
      }
    }
  }
}

TEST_F(error_test, enum_starts_at_one_so_no_value_means_success)
{
  for (pidfd::error e : all_errors)
  {
    EXPECT_GE(static_cast<int>(e), 1);
    EXPECT_TRUE(pidfd::make_error_code(e).failed());
  }
}

TEST_F(error_test, make_error_code_and_implicit_conversion)
{
  error_code ec = pidfd::make_error_code(pidfd::error::no_process);
  EXPECT_EQ(ec.value(), static_cast<int>(pidfd::error::no_process));
  EXPECT_EQ(&ec.category(), &pidfd::error_category());

  // is_error_code_enum lets the enum convert and compare directly.
  error_code implicit = pidfd::error::process_done;
  EXPECT_EQ(implicit, pidfd::error::process_done);
  EXPECT_NE(implicit, pidfd::error::no_process);
  EXPECT_STREQ(implicit.category().name(), "pidfd");
}

TEST_F(error_test, conditions)
{
  using pidfd::error;
  EXPECT_EQ(error_code(error::process_done), errc::no_such_process);
  EXPECT_EQ(error_code(error::invalid_signal), errc::invalid_argument);
  EXPECT_EQ(error_code(error::no_process), errc::bad_file_descriptor);
  EXPECT_EQ(error_code(error::empty_program), errc::no_such_file_or_directory);
  EXPECT_EQ(error_code(error::embedded_nul), errc::invalid_argument);
  EXPECT_EQ(error_code(error::invalid_option), errc::invalid_argument);
  EXPECT_EQ(error_code(error::no_tree), errc::operation_not_supported);
  EXPECT_EQ(error_code(error::no_cgroup), errc::operation_not_supported);
  EXPECT_EQ(error_code(error::invalid_window_size), errc::invalid_argument);

  // And nothing else.
  EXPECT_NE(error_code(error::process_done), errc::invalid_argument);
  EXPECT_NE(error_code(error::no_process), errc::no_such_process);
  EXPECT_NE(error_code(error::empty_program), errc::invalid_argument);
}

TEST_F(error_test, default_condition_is_the_generic_one)
{
  boost::system::error_condition c =
      error_code(pidfd::error::process_done).default_error_condition();
  EXPECT_EQ(&c.category(), &boost::system::generic_category());
  EXPECT_EQ(c.value(), ESRCH);
}

} // namespace
