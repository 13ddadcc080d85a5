//
// test/options/stdio.cpp
// ~~~~~~~~~~~~~~~~~~~~~~
// spawn_options::in, out and err: inherit, /dev/null, files, parent fds,
// Asio pipes and 2>&1.
//

// Test that header file is self-contained.
#include "pidfd/spawn_options.hpp"

#include "options/support.hpp"
#include "pidfd/process.hpp"
#include "pidfd/spawn.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>

#include <cerrno>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using boost::system::error_code;
using pidfd::stdio;
using pidfd_options_test::describe;
using pidfd_options_test::read_report;
using pidfd_options_test::report;
using pidfd_test::child_program;
using pidfd_test::read_file;

class options_stdio_test : public pidfd_test::fixture
{
protected:
  // Runs the child to a successful end.
  void run_child(
      const pidfd::argument_list& args, const pidfd::spawn_options& options)
  {
    pidfd::exit_status s =
        pidfd::spawn(ctx, child_program, args, options).wait();
    EXPECT_TRUE(s.success()) << s;
  }

  report report_with(const pidfd::spawn_options& options)
  {
    const std::string path = temp_path("report");
    run_child({"report", path}, options);
    return read_report(path);
  }

  // The spawn fails with `expected`; what() names `what`.
  void expect_spawn_error(const pidfd::spawn_options& options,
      errc::errc_t expected, const std::string& what)
  {
    error_code ec;
    auto p = pidfd::spawn(ctx, child_program, {"linger"}, options, ec);
    EXPECT_EQ(ec, expected) << ec.message();
    EXPECT_FALSE(p.is_open());
    EXPECT_FALSE(pidfd_test::has_children());
    try
    {
      pidfd::spawn(ctx, child_program, {"linger"}, options);
      ADD_FAILURE() << "spawn did not throw";
    }
    catch (const boost::system::system_error& e)
    {
      EXPECT_EQ(e.code(), expected);
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos)
          << e.what();
    }
  }
};

mode_t current_umask()
{
  const mode_t mask = ::umask(0);
  ::umask(mask);
  return mask;
}

TEST_F(options_stdio_test, inherit_is_the_default)
{
  report defaults = report_with({});
  pidfd::spawn_options explicit_inherit;
  explicit_inherit.in = stdio::inherit();
  explicit_inherit.out = stdio::inherit();
  explicit_inherit.err = stdio::inherit();
  report explicit_report = report_with(explicit_inherit);
  for (int fd = 0; fd < 3; ++fd)
  {
    const std::string key = "fd" + std::to_string(fd);
    EXPECT_EQ(defaults[key], describe(fd)) << key;
    EXPECT_EQ(explicit_report[key], describe(fd)) << key;
  }
}

TEST_F(options_stdio_test, null_for_every_stream)
{
  report r = report_with(
      {.in = stdio::null(), .out = stdio::null(), .err = stdio::null()});
  const std::string null =
      describe(pidfd_options_test::open_file("/dev/null", O_RDWR).get());
  EXPECT_EQ(r["fd0"], null);
  EXPECT_EQ(r["fd1"], null);
  EXPECT_EQ(r["fd2"], null);

  // Reading it gives EOF at once.
  const std::string out = temp_path("out");
  run_child({"echo"}, {.in = stdio::null(), .out = stdio::file(out)});
  EXPECT_EQ(read_file(out), "");
}

TEST_F(options_stdio_test, stdin_from_a_file_is_read_only)
{
  const std::string in = temp_path("in");
  const std::string out = temp_path("out");
  pidfd_test::write_file(in, "line one\nline two\n", 0644);

  report r = report_with({.in = stdio::file(in)});
  EXPECT_EQ(r["fd0"].substr(0, in.size() + 5), in + "|r|0|");

  run_child({"echo"}, {.in = stdio::file(in), .out = stdio::file(out)});
  EXPECT_EQ(read_file(out), "line one\nline two\n");
  EXPECT_EQ(read_file(in), "line one\nline two\n");
}

TEST_F(options_stdio_test, stdout_and_stderr_files_are_created_and_truncated)
{
  const std::string out = temp_path("out");
  const std::string err = temp_path("err");
  pidfd_test::write_file(out, "a longer previous content\n", 0600);

  run_child({"write", "new", "error"},
      {.out = stdio::file(out), .err = stdio::file(err)});
  EXPECT_EQ(read_file(out), "new");
  EXPECT_EQ(read_file(err), "error");
  struct stat st
  {
  };
  ASSERT_EQ(::stat(err.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666 & ~current_umask());

  report r = report_with({.out = stdio::file(out), .err = stdio::file(err)});
  EXPECT_EQ(r["fd1"].substr(0, out.size() + 5), out + "|w|0|");
  EXPECT_EQ(r["fd2"].substr(0, err.size() + 5), err + "|w|0|");
}

TEST_F(options_stdio_test, append_to_appends)
{
  const std::string log = temp_path("log");
  pidfd_test::write_file(log, "old\n", 0644);
  // Two open file descriptions of one file: only O_APPEND keeps the
  // second write from overwriting the first.
  run_child({"write", "A", "B"},
      {.out = stdio::append_to(log), .err = stdio::append_to(log)});
  EXPECT_EQ(read_file(log), "old\nAB");

  const std::string created = temp_path("created");
  run_child({"write", "x", ""}, {.out = stdio::append_to(created)});
  EXPECT_EQ(read_file(created), "x");

  report r = report_with({.err = stdio::append_to(log)});
  EXPECT_EQ(r["fd2"].substr(0, log.size() + 5), log + "|w|1|");
}

TEST_F(options_stdio_test, a_file_that_cannot_be_opened_is_a_spawn_error)
{
  const std::string missing = temp_path("missing");
  expect_spawn_error({.in = stdio::file(missing)},
      errc::no_such_file_or_directory, "stdin file \"" + missing + "\"");
  const std::string no_dir = temp_path("no-dir/out");
  expect_spawn_error({.out = stdio::file(no_dir)},
      errc::no_such_file_or_directory, "stdout file \"" + no_dir + "\"");
  expect_spawn_error({.err = stdio::append_to(temp_dir())},
      errc::is_a_directory, "stderr file \"" + temp_dir() + "\"");
}

TEST_F(options_stdio_test, files_are_opened_relative_to_the_parents_directory)
{
  const std::string sub = temp_path("sub");
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  {
    pidfd_options_test::cwd_guard cwd(temp_dir());
    run_child({"write", "here", ""},
        {.out = stdio::file("relative"), .working_directory = sub});
  }
  EXPECT_EQ(read_file(temp_path("relative")), "here");
  EXPECT_NE(::access((sub + "/relative").c_str(), F_OK), 0);
}

TEST_F(options_stdio_test, an_fd_of_the_parent)
{
  const std::string out = temp_path("out");
  pidfd_test::unique_fd fd =
      pidfd_options_test::open_file(out, O_WRONLY | O_CREAT | O_TRUNC);
  const std::string before = describe(fd.get());
  // One open file description for both: the writes follow each other.
  run_child({"write", "A", "B"},
      {.out = stdio::fd(fd.get()), .err = stdio::fd(fd.get())});
  EXPECT_EQ(read_file(out), "AB");
  // The parent keeps its fd as it was, close-on-exec included.
  EXPECT_EQ(describe(fd.get()), before);
  EXPECT_EQ(::fcntl(fd.get(), F_GETFD), FD_CLOEXEC);

  auto pipe = pidfd_options_test::make_pipe();
  pidfd_options_test::write_all(pipe.write.get(), "through a pipe");
  pipe.write.reset();
  const std::string echoed = temp_path("echoed");
  run_child(
      {"echo"}, {.in = stdio::fd(pipe.read.get()), .out = stdio::file(echoed)});
  EXPECT_EQ(read_file(echoed), "through a pipe");
}

TEST_F(options_stdio_test, the_parents_standard_fds_as_sources)
{
  // out = the parent's fd 2, err = the parent's fd 1: each target is the
  // other's source, so setting one first must not clobber the other.
  const std::string a = temp_path("a");
  const std::string b = temp_path("b");
  pidfd_test::unique_fd fa =
      pidfd_options_test::open_file(a, O_WRONLY | O_CREAT | O_TRUNC);
  pidfd_test::unique_fd fb =
      pidfd_options_test::open_file(b, O_WRONLY | O_CREAT | O_TRUNC);
  pidfd::exit_status s;
  {
    // No test failure may be reported in here.
    pidfd_options_test::redirect_guard out(1, fa.get());
    pidfd_options_test::redirect_guard err(2, fb.get());
    s = pidfd::spawn(ctx, child_program, {"write", "to-out", "to-err"},
        {.out = stdio::fd(2), .err = stdio::fd(1)})
            .wait();
  }
  EXPECT_TRUE(s.success()) << s;
  EXPECT_EQ(read_file(a), "to-err");
  EXPECT_EQ(read_file(b), "to-out");
}

TEST_F(options_stdio_test, asio_pipes_carry_all_three_streams)
{
  asio::writable_pipe in(ctx);
  asio::readable_pipe out(ctx);
  asio::readable_pipe err(ctx);
  std::string input(256 * 1024, 'x');
  for (std::size_t i = 0; i < input.size(); i += 97)
    input[i] = static_cast<char>('a' + i % 26);

  auto p = pidfd::spawn(ctx, child_program, {"echo"},
      {.in = stdio::pipe(in),
          .out = stdio::pipe(out),
          .err = stdio::pipe(err)});
  ASSERT_TRUE(in.is_open());
  ASSERT_TRUE(out.is_open());
  ASSERT_TRUE(err.is_open());
  std::string out_text, err_text;
  error_code write_ec, out_ec, err_ec;
  asio::async_write(in, asio::buffer(input), [&](error_code ec, std::size_t) {
    write_ec = ec;
    in.close();
  });
  asio::async_read(out, asio::dynamic_buffer(out_text),
      [&](error_code ec, std::size_t) { out_ec = ec; });
  asio::async_read(err, asio::dynamic_buffer(err_text),
      [&](error_code ec, std::size_t) { err_ec = ec; });
  pidfd::exit_status status;
  p.async_wait([&](error_code, pidfd::exit_status s) { status = s; });
  run();
  EXPECT_FALSE(write_ec) << write_ec.message();
  // EOF on both: the parent kept no copy of the child's ends.
  EXPECT_EQ(out_ec, asio::error::eof);
  EXPECT_EQ(err_ec, asio::error::eof);
  EXPECT_TRUE(status.success()) << status;
  EXPECT_EQ(out_text, input);
  EXPECT_EQ(err_text, "");
}

TEST_F(options_stdio_test, a_pipe_for_stderr)
{
  asio::readable_pipe out(ctx);
  asio::readable_pipe err(ctx);
  auto p = pidfd::spawn(ctx, child_program, {"write", "to-out", "to-err"},
      {.out = stdio::pipe(out), .err = stdio::pipe(err)});
  std::string out_text, err_text;
  asio::async_read(
      out, asio::dynamic_buffer(out_text), [](error_code, std::size_t) {});
  asio::async_read(
      err, asio::dynamic_buffer(err_text), [](error_code, std::size_t) {});
  run();
  EXPECT_TRUE(p.wait().success());
  EXPECT_EQ(out_text, "to-out");
  EXPECT_EQ(err_text, "to-err");
}

TEST_F(options_stdio_test, pipe_objects_get_the_other_end_of_the_childs_pipes)
{
  asio::writable_pipe in(ctx);
  asio::readable_pipe out(ctx);
  const std::string path = temp_path("report");
  auto p = pidfd::spawn(ctx, child_program, {"report", path},
      {.in = stdio::pipe(in), .out = stdio::pipe(out)});
  EXPECT_TRUE(p.wait().success());
  report r = read_report(path);
  // Same pipe inode, opposite directions.
  const std::string in_link = pidfd_test::describe_fd(in.native_handle());
  const std::string out_link = pidfd_test::describe_fd(out.native_handle());
  EXPECT_EQ(in_link.substr(0, 5), "pipe:");
  EXPECT_EQ(r["fd0"].substr(0, in_link.size() + 3), in_link + "|r|");
  EXPECT_EQ(r["fd1"].substr(0, out_link.size() + 3), out_link + "|w|");
  // Close-on-exec: a later child must not get the parent's ends.
  EXPECT_EQ(::fcntl(in.native_handle(), F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(::fcntl(out.native_handle(), F_GETFD), FD_CLOEXEC);
}

TEST_F(options_stdio_test, merge_with_stdout_into_a_pipe)
{
  asio::readable_pipe out(ctx);
  auto p = pidfd::spawn(ctx, child_program, {"interleave"},
      {.out = stdio::pipe(out), .err = stdio::merge_with_stdout()});
  std::string text;
  asio::async_read(
      out, asio::dynamic_buffer(text), [](error_code, std::size_t) {});
  run();
  EXPECT_TRUE(p.wait().success());
  EXPECT_EQ(text, "123");
}

TEST_F(options_stdio_test, merge_with_stdout_follows_stdout)
{
  // Into a file: one open file description, so the order is kept.
  const std::string log = temp_path("log");
  run_child({"interleave"},
      {.out = stdio::file(log), .err = stdio::merge_with_stdout()});
  EXPECT_EQ(read_file(log), "123");

  report r =
      report_with({.out = stdio::file(log), .err = stdio::merge_with_stdout()});
  EXPECT_EQ(r["fd2"], r["fd1"]);
  // With stdout inherited, stderr is the parent's stdout.
  r = report_with({.err = stdio::merge_with_stdout()});
  EXPECT_EQ(r["fd2"], describe(1));
}

TEST_F(options_stdio_test, pipe_objects_stay_closed_when_spawn_fails)
{
  asio::writable_pipe in(ctx);
  asio::readable_pipe out(ctx);
  asio::readable_pipe err(ctx);
  error_code ec;
  auto p = pidfd::spawn(ctx, temp_path("missing-program"), {},
      {.in = stdio::pipe(in), .out = stdio::pipe(out), .err = stdio::pipe(err)},
      ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  EXPECT_FALSE(in.is_open());
  EXPECT_FALSE(out.is_open());
  EXPECT_FALSE(err.is_open());
}

} // namespace
