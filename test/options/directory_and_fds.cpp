//
// test/options/directory_and_fds.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// spawn_options::working_directory, and which fds the child has:
// 0-2 and inherited_fds only.
//

// Test that header file is self-contained.
#include "pidfd/spawn_options.hpp"

#include "options/support.hpp"
#include "pidfd/process.hpp"
#include "pidfd/spawn.hpp"

#include <boost/asio/readable_pipe.hpp>
#include <boost/system/system_error.hpp>

#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using boost::system::error_code;
using pidfd_options_test::describe;
using pidfd_options_test::open_file;
using pidfd_options_test::read_report;
using pidfd_options_test::report;
using pidfd_test::child_program;
using pidfd_test::unique_fd;

class options_directory_and_fds_test : public pidfd_test::fixture
{
protected:
  report report_with(const pidfd::spawn_options& options)
  {
    const std::string path = temp_path("report");
    pidfd::exit_status s =
        pidfd::spawn(ctx, child_program, {"report", path}, options).wait();
    EXPECT_TRUE(s.success()) << s;
    return read_report(path);
  }

  // Three distinct files, open in the parent close-on-exec.
  void open_files()
  {
    pidfd_test::write_file(temp_path("a"), "a", 0644);
    pidfd_test::write_file(temp_path("b"), "b", 0644);
    pidfd_test::write_file(temp_path("c"), "c", 0644);
    a_ = open_file(temp_path("a"), O_RDONLY);
    b_ = open_file(temp_path("b"), O_WRONLY);
    c_ = open_file(temp_path("c"), O_RDWR | O_APPEND);
    for (int fd : {a_.get(), b_.get(), c_.get()})
      before_.push_back(describe(fd));
  }

  // The parent's fds are as they were: same file, flags, close-on-exec.
  void expect_parents_fds_unchanged()
  {
    const int fds[] = {a_.get(), b_.get(), c_.get()};
    for (std::size_t i = 0; i < 3; ++i)
    {
      EXPECT_EQ(describe(fds[i]), before_[i]);
      EXPECT_EQ(::fcntl(fds[i], F_GETFD), FD_CLOEXEC);
    }
  }

  // The spawn fails with `expected`, naming the directory.
  void expect_directory_error(const std::string& dir, errc::errc_t expected)
  {
    asio::readable_pipe out(ctx);
    pidfd::spawn_options options;
    options.out = pidfd::stdio::pipe(out);
    options.working_directory = dir;
    error_code ec;
    auto p = pidfd::spawn(ctx, child_program, {"linger"}, options, ec);
    EXPECT_EQ(ec, expected) << ec.message();
    EXPECT_FALSE(p.is_open());
    EXPECT_FALSE(out.is_open());
    EXPECT_FALSE(pidfd_test::has_children());
    try
    {
      pidfd::spawn(ctx, child_program, {"linger"}, options);
      ADD_FAILURE() << "spawn did not throw";
    }
    catch (const boost::system::system_error& e)
    {
      EXPECT_EQ(e.code(), expected);
      EXPECT_NE(std::string(e.what()).find("working directory \"" + dir + "\""),
          std::string::npos)
          << e.what();
    }
  }

  void TearDown() override
  {
    a_.reset();
    b_.reset();
    c_.reset();
    pidfd_test::fixture::TearDown();
  }

  unique_fd a_, b_, c_;
  std::vector<std::string> before_;
};

TEST_F(options_directory_and_fds_test, working_directory)
{
  const std::string sub = temp_path("sub");
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  report r = report_with({.working_directory = sub});
  EXPECT_EQ(r["cwd"], pidfd_options_test::canonical(sub));

  // By default, the parent's.
  EXPECT_EQ(report_with({})["cwd"], pidfd_options_test::canonical("."));
  // The parent's does not change.
  EXPECT_NE(
      pidfd_options_test::canonical("."), pidfd_options_test::canonical(sub));
}

TEST_F(
    options_directory_and_fds_test, missing_working_directory_is_a_spawn_error)
{
  expect_directory_error(temp_path("missing"), errc::no_such_file_or_directory);
}

TEST_F(options_directory_and_fds_test, non_directory_is_a_spawn_error)
{
  const std::string file = temp_path("file");
  pidfd_test::write_file(file, "not a directory", 0644);
  expect_directory_error(file, errc::not_a_directory);
}

TEST_F(options_directory_and_fds_test, only_0_1_2_are_open_in_the_child)
{
  // Opened without O_CLOEXEC, the way careless code in the parent does.
  unique_fd file = open_file("/dev/null", O_RDONLY, false);
  auto pipe = pidfd_options_test::make_pipe(false);
  unique_fd high(::fcntl(file.get(), F_DUPFD, 200));
  ASSERT_GE(high.get(), 200);
  ASSERT_EQ(::fcntl(high.get(), F_GETFD), 0);
  unique_fd cloexec = open_file("/dev/null", O_RDONLY);

  EXPECT_EQ(report_with({})["fds"], "");
  // Also when the child has fds to set up.
  EXPECT_EQ(report_with({.in = pidfd::stdio::fd(pipe.read.get()),
                .out = pidfd::stdio::null()})["fds"],
      "");
  report r = report_with(pidfd::spawn_options{}.inherit_fd(7, file.get()));
  EXPECT_EQ(r["fds"], "7");
}

TEST_F(options_directory_and_fds_test, inherit_fd_maps_parent_fds)
{
  open_files();
  pidfd::spawn_options options;
  options.inherit_fd(3, a_.get())
      .inherit_fd(10, b_.get())
      .inherit_fd(100, c_.get());
  report r = report_with(options);
  EXPECT_EQ(r["fds"], "3,10,100");
  // The same open file description: file, access mode and O_APPEND.
  EXPECT_EQ(r["fd3"], before_[0]);
  EXPECT_EQ(r["fd10"], before_[1]);
  EXPECT_EQ(r["fd100"], before_[2]);
  expect_parents_fds_unchanged();
}

TEST_F(options_directory_and_fds_test, inherit_fd_onto_its_own_number)
{
  // A close-on-exec fd given as itself must lose close-on-exec in the
  // child only.
  open_files();
  const int a = a_.get();
  report r = report_with(pidfd::spawn_options{}.inherit_fd(a, a));
  EXPECT_EQ(r["fds"], std::to_string(a));
  EXPECT_EQ(r["fd" + std::to_string(a)], before_[0]);
  expect_parents_fds_unchanged();
}

TEST_F(options_directory_and_fds_test, parents_stdout_as_child_fd_5)
{
  report r = report_with(pidfd::spawn_options{}.inherit_fd(5, 1));
  EXPECT_EQ(r["fds"], "5");
  EXPECT_EQ(r["fd5"], describe(1));
  EXPECT_EQ(r["fd1"], describe(1));
}

TEST_F(options_directory_and_fds_test, swapping_two_fds)
{
  open_files();
  const int a = a_.get();
  const int b = b_.get();
  report r =
      report_with(pidfd::spawn_options{}.inherit_fd(a, b).inherit_fd(b, a));
  EXPECT_EQ(r["fd" + std::to_string(a)], before_[1]);
  EXPECT_EQ(r["fd" + std::to_string(b)], before_[0]);
  expect_parents_fds_unchanged();
}

TEST_F(options_directory_and_fds_test, a_target_that_is_another_mappings_source)
{
  open_files();
  const int a = a_.get();
  const int b = b_.get();
  // Child a <- parent b, child 50 <- parent a: in either order, setting a
  // must not clobber the source of 50.
  report first =
      report_with(pidfd::spawn_options{}.inherit_fd(a, b).inherit_fd(50, a));
  EXPECT_EQ(first["fd" + std::to_string(a)], before_[1]);
  EXPECT_EQ(first["fd50"], before_[0]);
  report second =
      report_with(pidfd::spawn_options{}.inherit_fd(50, a).inherit_fd(a, b));
  EXPECT_EQ(second["fd" + std::to_string(a)], before_[1]);
  EXPECT_EQ(second["fd50"], before_[0]);
  // A cycle of three.
  const int c = c_.get();
  report cycle = report_with(
      pidfd::spawn_options{}.inherit_fd(a, b).inherit_fd(b, c).inherit_fd(
          c, a));
  EXPECT_EQ(cycle["fd" + std::to_string(a)], before_[1]);
  EXPECT_EQ(cycle["fd" + std::to_string(b)], before_[2]);
  EXPECT_EQ(cycle["fd" + std::to_string(c)], before_[0]);
  expect_parents_fds_unchanged();
}

TEST_F(options_directory_and_fds_test, stdio_and_inherited_fds_together)
{
  open_files();
  const int a = a_.get();
  const int b = b_.get();
  const int c = c_.get();
  // Child 1 <- parent a while child a <- parent b, and child 0 <- parent c
  // while child c <- parent 1.
  pidfd::spawn_options options;
  options.in = pidfd::stdio::fd(c);
  options.out = pidfd::stdio::fd(a);
  options.inherit_fd(a, b).inherit_fd(c, 1);
  report r = report_with(options);
  EXPECT_EQ(r["fd0"], before_[2]);
  EXPECT_EQ(r["fd1"], before_[0]);
  EXPECT_EQ(r["fd" + std::to_string(a)], before_[1]);
  EXPECT_EQ(r["fd" + std::to_string(c)], describe(1));
  expect_parents_fds_unchanged();
}

} // namespace
