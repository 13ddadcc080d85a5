//
// test/options/invalid.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
// Invalid or conflicting spawn options are spawn errors whose what() names
// the option; no child runs and nothing leaks.
//

// Test that header file is self-contained.
#include "pidfd/spawn_options.hpp"

#include "options/support.hpp"
#include "pidfd/error.hpp"
#include "pidfd/process.hpp"
#include "pidfd/spawn.hpp"

#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/system/system_error.hpp>

#include <csignal>
#include <string>

#include <fcntl.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using boost::system::error_code;
using pidfd::stdio;
using pidfd_test::child_program;

class options_invalid_test : public pidfd_test::fixture
{
protected:
  // Spawning with `options` fails with `expected` in both overloads, the
  // exception's what() contains `what`, and no child is left (a child that
  // ran would have left a mark in temp_dir()).
  template <typename Expected>
  void expect_invalid(const pidfd::spawn_options& options, Expected expected,
      const std::string& what)
  {
    SCOPED_TRACE(what);
    const std::string mark = temp_path("ran");
    error_code ec;
    auto p = pidfd::spawn(ctx, child_program, {"report", mark}, options, ec);
    EXPECT_EQ(ec, expected) << ec.message();
    EXPECT_FALSE(p.is_open());
    try
    {
      pidfd::spawn(ctx, child_program, {"report", mark}, options);
      ADD_FAILURE() << "spawn did not throw";
    }
    catch (const boost::system::system_error& e)
    {
      EXPECT_EQ(e.code(), expected);
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos)
          << e.what();
    }
    EXPECT_FALSE(pidfd_test::has_children());
    EXPECT_NE(::access(mark.c_str(), F_OK), 0) << "the child ran";
  }

  // A number that is not an open fd.
  static int closed_fd()
  {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ::close(fd);
    return fd;
  }
};

TEST_F(options_invalid_test, invalid_option_is_an_invalid_argument)
{
  error_code ec = pidfd::error::invalid_option;
  EXPECT_EQ(ec, errc::invalid_argument);
}

TEST_F(options_invalid_test, stdio_fd_that_is_not_open)
{
  const int fd = closed_fd();
  const std::string n = std::to_string(fd);
  expect_invalid({.in = stdio::fd(fd)}, errc::bad_file_descriptor,
      "stdin: fd " + n + " is not open");
  expect_invalid({.out = stdio::fd(fd)}, errc::bad_file_descriptor,
      "stdout: fd " + n + " is not open");
  expect_invalid({.err = stdio::fd(fd)}, errc::bad_file_descriptor,
      "stderr: fd " + n + " is not open");
  expect_invalid({.out = stdio::fd(-1)}, errc::bad_file_descriptor,
      "stdout: fd -1 is not open");
}

TEST_F(options_invalid_test, pipes_of_the_wrong_direction)
{
  asio::readable_pipe readable(ctx);
  asio::writable_pipe writable(ctx);
  expect_invalid({.in = stdio::pipe(readable)}, pidfd::error::invalid_option,
      "stdin: a pipe to stdin must be");
  expect_invalid({.out = stdio::pipe(writable)}, pidfd::error::invalid_option,
      "stdout: a pipe from stdout");
  expect_invalid({.err = stdio::pipe(writable)}, pidfd::error::invalid_option,
      "stderr: a pipe from stdout");
  EXPECT_FALSE(readable.is_open());
  EXPECT_FALSE(writable.is_open());
}

TEST_F(options_invalid_test, one_pipe_object_for_stdout_and_stderr)
{
  asio::readable_pipe pipe(ctx);
  expect_invalid({.out = stdio::pipe(pipe), .err = stdio::pipe(pipe)},
      pidfd::error::invalid_option,
      "stderr: the same pipe object is used twice");
  EXPECT_FALSE(pipe.is_open());
}

TEST_F(options_invalid_test, a_pipe_object_that_is_already_open)
{
  // Its fd must not be replaced (or leaked), and the child must not run.
  asio::readable_pipe pipe(ctx);
  auto fds = pidfd_options_test::make_pipe();
  pipe.assign(fds.read.release());
  const int fd = pipe.native_handle();
  expect_invalid(
      {.out = stdio::pipe(pipe)}, asio::error::already_open, "stdout");
  EXPECT_EQ(pipe.native_handle(), fd);
  // Nor may another pipe object of the failed spawn be left open.
  asio::readable_pipe fresh(ctx);
  expect_invalid({.out = stdio::pipe(fresh), .err = stdio::pipe(pipe)},
      asio::error::already_open, "stderr");
  EXPECT_FALSE(fresh.is_open());
}

TEST_F(options_invalid_test, merge_with_stdout_anywhere_but_stderr)
{
  expect_invalid({.out = stdio::merge_with_stdout()},
      pidfd::error::invalid_option,
      "stdout: only stderr can be merged with stdout");
  expect_invalid({.in = stdio::merge_with_stdout()},
      pidfd::error::invalid_option,
      "stdin: only stderr can be merged with stdout");
}

TEST_F(options_invalid_test, empty_file_name)
{
  expect_invalid({.out = stdio::file("")}, pidfd::error::invalid_option,
      "stdout: empty file name");
  expect_invalid({.in = stdio::file(std::string("a\0b", 3))},
      pidfd::error::invalid_option, "stdin: empty file name or NUL byte");
}

TEST_F(options_invalid_test, inherited_fd_below_3)
{
  for (int child_fd : {-1, 0, 1, 2})
    expect_invalid(pidfd::spawn_options{}.inherit_fd(child_fd, 1),
        pidfd::error::invalid_option,
        "inherited fd " + std::to_string(child_fd)
            + ": child fds 0-2 are set with in, out and err");
}

TEST_F(options_invalid_test, inherited_fd_given_twice)
{
  expect_invalid(pidfd::spawn_options{}.inherit_fd(5, 1).inherit_fd(5, 2),
      pidfd::error::invalid_option, "inherited fd 5: given twice");
}

TEST_F(options_invalid_test, inherited_fd_above_the_fd_limit)
{
  // Checked only in the child: still a spawn error naming the mapping.
  const int huge = 1 << 30;
  error_code ec;
  auto p = pidfd::spawn(ctx, child_program, {"linger"},
      pidfd::spawn_options{}.inherit_fd(huge, 1), ec);
  EXPECT_TRUE(ec == errc::invalid_argument || ec == errc::bad_file_descriptor)
      << ec.message();
  try
  {
    pidfd::spawn(ctx, child_program, {"linger"},
        pidfd::spawn_options{}.inherit_fd(huge, 1));
    ADD_FAILURE() << "spawn did not throw";
  }
  catch (const boost::system::system_error& e)
  {
    EXPECT_NE(
        std::string(e.what()).find("inherited fd " + std::to_string(huge)),
        std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(pidfd_test::has_children());
}

TEST_F(options_invalid_test, inherited_fd_that_is_not_open)
{
  const int fd = closed_fd();
  expect_invalid(pidfd::spawn_options{}.inherit_fd(9, fd),
      errc::bad_file_descriptor,
      "inherited fd 9: parent fd " + std::to_string(fd) + " is not open");
}

TEST_F(options_invalid_test, invalid_parent_death_signal)
{
  for (int sig : {-1, _NSIG, 1000})
  {
    pidfd::spawn_options options;
    options.parent_death_signal = sig;
    expect_invalid(options, pidfd::error::invalid_option,
        "parent death signal " + std::to_string(sig));
  }
}

TEST_F(options_invalid_test, invalid_environment_names)
{
  using pidfd::environment;
  auto with = [](environment env) {
    pidfd::spawn_options options;
    options.env = std::move(env);
    return options;
  };
  expect_invalid(with(environment::inherit().set("A=B", "c")),
      pidfd::error::invalid_option, "environment variable \"A=B\"");
  expect_invalid(with(environment::empty().set("", "c")),
      pidfd::error::invalid_option, "environment variable \"\"");
  expect_invalid(with(environment::inherit().unset("A=B")),
      pidfd::error::invalid_option, "environment variable \"A=B\"");
  expect_invalid(with(environment::inherit().unset("")),
      pidfd::error::invalid_option, "environment variable \"\"");
  expect_invalid(with(environment::empty().set("=", "c")),
      pidfd::error::invalid_option, "environment variable \"=\"");
  // A NUL byte cannot reach execve at all: the error of every string
  // execve gets (error.hpp), not that of a bad name.
  expect_invalid(with(environment::empty().set(std::string("A\0B", 3), "c")),
      pidfd::error::embedded_nul, "environment variable \"A\"");
  expect_invalid(with(environment::empty().set("A", std::string("b\0c", 3))),
      pidfd::error::embedded_nul, "environment variable \"A\"");
}

TEST_F(options_invalid_test, empty_working_directory)
{
  pidfd::spawn_options options{.working_directory = std::string()};
  expect_invalid(options, pidfd::error::invalid_option, "working directory");
}

TEST_F(options_invalid_test, pipes_are_not_created_for_a_failed_spawn)
{
  // A valid pipe with an invalid option elsewhere: neither end is left.
  asio::readable_pipe out(ctx);
  asio::writable_pipe in(ctx);
  pidfd::spawn_options options{.in = stdio::pipe(in),
      .out = stdio::pipe(out),
      .err = stdio::merge_with_stdout()};
  expect_invalid(
      options.inherit_fd(1, 3), pidfd::error::invalid_option, "inherited fd 1");
  EXPECT_FALSE(out.is_open());
  EXPECT_FALSE(in.is_open());
}

} // namespace
