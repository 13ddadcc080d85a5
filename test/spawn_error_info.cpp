//
// test/spawn_error_info.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// spawn's error_code overload with a spawn_error_info: which part failed,
// in the words of the exception's what().
//

// Test that header file is self-contained.
#include "pidfd/spawn_error_info.hpp"

#include "pidfd/error.hpp"
#include "pidfd/process.hpp"
#include "pidfd/spawn.hpp"
#include "support/fixture.hpp"

#include <boost/asio/readable_pipe.hpp>
#include <boost/system/system_error.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

namespace errc = boost::system::errc;
using boost::system::error_code;
using part = pidfd::spawn_error_info::part;
using pidfd_test::child_program;

class spawn_error_info_test : public pidfd_test::fixture
{
protected:
  struct failure
  {
    error_code ec;
    pidfd::spawn_error_info info;
    std::string what; // the throwing overload's what()
  };

  // Spawns through both overloads; the spawn must fail.
  failure fail(std::string_view program, const pidfd::spawn_options& options,
      const pidfd::argument_list& args = {"exit", "0"})
  {
    failure f;
    f.info.failed = part::system; // must be overwritten
    auto p = pidfd::spawn(ctx, program, args, options, f.ec, f.info);
    EXPECT_TRUE(f.ec);
    EXPECT_FALSE(p.is_open());
    try
    {
      pidfd::spawn(ctx, program, args, options);
      ADD_FAILURE() << "no exception";
    }
    catch (const boost::system::system_error& e)
    {
      f.what = e.what();
      EXPECT_EQ(e.code(), f.ec);
    }
    // The detail is what what() says after the program.
    const std::string prefix = "spawn \"" + std::string(program) + "\"";
    EXPECT_EQ(f.what.substr(0, prefix.size()), prefix) << f.what;
    if (!f.info.detail.empty())
    {
      EXPECT_EQ(f.what.substr(prefix.size(), f.info.detail.size() + 2),
          ": " + f.info.detail)
          << f.what;
    }
    EXPECT_FALSE(pidfd_test::has_children());
    return f;
  }
};

TEST_F(spawn_error_info_test, success_clears_it)
{
  pidfd::spawn_error_info info{part::stdio, 1, "stale"};
  error_code ec;
  auto p = pidfd::spawn(ctx, child_program, {"exit", "0"}, {}, ec, info);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(info.failed, part::none);
  EXPECT_EQ(info.child_fd, -1);
  EXPECT_EQ(info.detail, "");
  EXPECT_TRUE(p.wait().success());
}

TEST_F(spawn_error_info_test, three_enoents_told_apart)
{
  // The error_code alone is ENOENT each time.
  failure program = fail(temp_path("no-such-program"), {});
  EXPECT_EQ(program.ec, errc::no_such_file_or_directory);
  EXPECT_EQ(program.info.failed, part::program);
  EXPECT_EQ(program.info.detail, "");

  const std::string missing = temp_path("missing");
  failure directory = fail(child_program, {.working_directory = missing});
  EXPECT_EQ(directory.ec, errc::no_such_file_or_directory);
  EXPECT_EQ(directory.info.failed, part::working_directory);
  EXPECT_NE(directory.info.detail.find(missing), std::string::npos)
      << directory.info.detail;

  const std::string log = temp_path("missing/log");
  failure out = fail(child_program, {.out = pidfd::stdio::file(log)});
  EXPECT_EQ(out.ec, errc::no_such_file_or_directory);
  EXPECT_EQ(out.info.failed, part::stdio);
  EXPECT_EQ(out.info.child_fd, 1);
  EXPECT_NE(out.info.detail.find(log), std::string::npos) << out.info.detail;

  failure in = fail(child_program, {.in = pidfd::stdio::file(log)});
  EXPECT_EQ(in.info.failed, part::stdio);
  EXPECT_EQ(in.info.child_fd, 0);
}

TEST_F(spawn_error_info_test, an_inherited_fd_names_its_child_number)
{
  const int closed = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(closed, 0);
  ::close(closed);
  pidfd::spawn_options options;
  options.inherit_fd(5, closed);
  failure f = fail(child_program, options);
  EXPECT_EQ(f.ec, errc::bad_file_descriptor);
  EXPECT_EQ(f.info.failed, part::inherited_fd);
  EXPECT_EQ(f.info.child_fd, 5);
}

TEST_F(spawn_error_info_test, option_errors_name_their_option)
{
  pidfd::spawn_options env;
  env.env.set("A=B", "c");
  failure e = fail(child_program, env);
  EXPECT_EQ(e.ec, pidfd::error::invalid_option);
  EXPECT_EQ(e.info.failed, part::environment);

  failure death = fail(child_program, {.parent_death_signal = -3});
  EXPECT_EQ(death.info.failed, part::parent_death_signal);

  pidfd::spawn_options groups;
  groups.groups = std::vector<gid_t>{};
  groups.keep_groups = true;
  failure g = fail(child_program, groups);
  EXPECT_EQ(g.info.failed, part::credentials);

  failure nul = fail(child_program, {}, {std::string_view("a\0b", 3)});
  EXPECT_EQ(nul.ec, pidfd::error::embedded_nul);
  EXPECT_EQ(nul.info.failed, part::program);
}

TEST_F(spawn_error_info_test, an_open_pipe_object_names_its_stream)
{
  boost::asio::readable_pipe pipe(ctx);
  auto other = pidfd::spawn(
      ctx, child_program, {"exit", "0"}, {.err = pidfd::stdio::pipe(pipe)});
  other.wait();
  failure f = fail(child_program, {.err = pidfd::stdio::pipe(pipe)});
  EXPECT_EQ(f.ec, boost::asio::error::already_open);
  EXPECT_EQ(f.info.failed, part::stdio);
  EXPECT_EQ(f.info.child_fd, 2);
}

} // namespace
