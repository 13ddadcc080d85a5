//
// test/options/run_streams.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// pidfd::async_run: the caller's own stdin, stdout and stderr next to the
// run's input and capture, the spawn error's detail in run_result, and
// each run option together with each other one.
//

// Test that header file is self-contained.
#include "pidfd/run.hpp"

#include "options/run_fixture.hpp"
#include "options/support.hpp"
#include "pidfd/error.hpp"
#include "support/cgroup_fs.hpp"
#include "support/child.hpp"

#include <chrono>
#include <csignal>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using namespace std::chrono_literals;
using boost::system::error_code;
using part = pidfd::spawn_error_info::part;
using pidfd::run_options;
using pidfd::run_result;
using pidfd::stdio;
using pidfd_test::child_program;
using pidfd_test::unique_fd;

class run_streams_test : public pidfd_options_test::run_fixture
{
protected:
  // The child that writes "to out" to stdout, then "to err" to stderr.
  std::pair<error_code, run_result> run_write(run_options options)
  {
    return run_to_end(
        child_program, {"write", "to out", "to err"}, std::move(options));
  }

  // A run refused before anything ran, naming the stream.
  void expect_refused(const std::pair<error_code, run_result>& got, int fd,
      std::string_view words)
  {
    const auto& [ec, r] = got;
    EXPECT_EQ(ec, pidfd::error::invalid_option) << ec.message();
    EXPECT_EQ(r.spawn_error.failed, part::stdio);
    EXPECT_EQ(r.spawn_error.child_fd, fd);
    EXPECT_NE(r.spawn_error.detail.find(words), std::string::npos)
        << r.spawn_error.detail;
    EXPECT_FALSE(r.status.known());
    EXPECT_FALSE(pidfd_test::has_children());
  }
};

//------------------------------------------------------------------------------
// The caller's stdout and stderr are honoured and left uncaptured.

TEST_F(run_streams_test, stdout_to_the_callers_fd_is_not_captured)
{
  const std::string log = temp_path("log");
  std::optional<std::pair<error_code, run_result>> result;
  {
    unique_fd fd = pidfd_options_test::open_file(log, O_WRONLY | O_CREAT);
    run_options options;
    options.spawn.out = stdio::fd(fd.get());
    pidfd::async_run(ctx, child_program, {"write", "to out", "to err"},
        std::move(options),
        [&](error_code ec, run_result r) { result.emplace(ec, std::move(r)); });
    // Duplicated by async_run: the caller may close it now.
  }
  run();
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->first) << result->first.message();
  EXPECT_EQ(result->second.out, "");
  EXPECT_EQ(result->second.err, "to err");
  EXPECT_EQ(pidfd_test::read_file(log), "to out");
}

TEST_F(run_streams_test, stdout_to_a_file_stderr_captured)
{
  const std::string log = temp_path("log");
  run_options options;
  options.spawn.out = stdio::file(log);
  auto [ec, r] = run_write(std::move(options));
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.status.success()) << r.status;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "to err");
  EXPECT_EQ(pidfd_test::read_file(log), "to out");
}

TEST_F(run_streams_test, stderr_to_a_file_stdout_captured)
{
  const std::string log = temp_path("log");
  run_options options;
  options.spawn.err = stdio::file(log);
  auto [ec, r] = run_write(std::move(options));
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.out, "to out");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(pidfd_test::read_file(log), "to err");
}

TEST_F(run_streams_test, stdout_to_a_file_with_stderr_merged_into_it)
{
  const std::string log = temp_path("log");
  run_options options;
  options.spawn.out = stdio::file(log);
  options.spawn.err = stdio::merge_with_stdout();
  auto [ec, r] = run_write(std::move(options));
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(pidfd_test::read_file(log), "to outto err");
}

TEST_F(run_streams_test, both_to_null)
{
  run_options options;
  options.spawn.out = stdio::null();
  options.spawn.err = stdio::null();
  auto [ec, r] = run_write(std::move(options));
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(r.status.success()) << r.status;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
}

TEST_F(run_streams_test, inherit_means_capture)
{
  // stdio::inherit() is the default value itself: it cannot be told from
  // "not set", and so it is captured.
  run_options options;
  options.spawn.out = stdio::inherit();
  options.spawn.err = stdio::inherit();
  auto [ec, r] = run_write(std::move(options));
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.out, "to out");
  EXPECT_EQ(r.err, "to err");
}

//------------------------------------------------------------------------------
// Combinations that cannot all be honoured are refused, naming them.

TEST_F(run_streams_test, stdin_with_input_is_refused)
{
  run_options options;
  options.spawn.in = stdio::null();
  options.input = "x";
  expect_refused(run_write(std::move(options)), 0, "input");

  auto in = pidfd_options_test::make_pipe();
  run_options from_fd;
  from_fd.spawn.in = stdio::fd(in.read.get());
  from_fd.input = "";
  expect_refused(run_write(std::move(from_fd)), 0, "spawn.in");
}

TEST_F(run_streams_test, a_stream_of_the_callers_with_on_pty_is_refused)
{
  for (int fd = 0; fd < 3; ++fd)
  {
    SCOPED_TRACE(fd);
    run_options options;
    options.on_pty = true;
    stdio& s = fd == 0 ? options.spawn.in
        : fd == 1      ? options.spawn.out
                       : options.spawn.err;
    s = stdio::null();
    expect_refused(run_write(std::move(options)), fd, "on_pty");
  }
}

TEST_F(run_streams_test, merged_stderr_with_on_pty_is_what_the_pty_does)
{
  run_options options;
  options.on_pty = true;
  options.spawn.err = stdio::merge_with_stdout();
  auto [ec, r] = run_write(std::move(options));
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.out, "to outto err");
  EXPECT_EQ(r.err, "");
}

//------------------------------------------------------------------------------
// The spawn error's detail reaches run_result.

TEST_F(run_streams_test, a_missing_program_names_the_program_part)
{
  auto [ec, r] = run_to_end(temp_path("missing"), {});
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  EXPECT_EQ(r.spawn_error.failed, part::program);
  EXPECT_FALSE(r.status.known());
}

TEST_F(run_streams_test, a_missing_working_directory_is_named)
{
  const std::string missing = temp_path("missing");
  run_options options;
  options.spawn.working_directory = missing;
  auto [ec, r] = run_write(std::move(options));
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  EXPECT_EQ(r.spawn_error.failed, part::working_directory);
  EXPECT_EQ(r.spawn_error.detail, "working directory \"" + missing + "\"");
}

TEST_F(run_streams_test, a_missing_cgroup_parent_is_named)
{
  const auto mount = pidfd_test::cgroup2_mount();
  if (!mount)
    GTEST_SKIP() << "no cgroup2 mount";
  const std::string parent = *mount + "/pidfd-asio-test-no-such-parent";
  run_options options;
  options.spawn.cgroup = pidfd::cgroup_placement::create_in(parent);
  auto [ec, r] = run_write(std::move(options));
  EXPECT_EQ(ec, errc::no_such_file_or_directory) << ec.message();
  EXPECT_EQ(r.spawn_error.failed, part::cgroup);
  EXPECT_NE(r.spawn_error.detail.find("cgroup parent \"" + parent + "\""),
      std::string::npos)
      << r.spawn_error.detail;
}

TEST_F(run_streams_test, an_fd_that_is_not_open_is_named)
{
  auto closed = pidfd_options_test::make_pipe();
  const int number = closed.write.get();
  closed.write.reset();
  run_options options;
  options.spawn.out = stdio::fd(number);
  auto [ec, r] = run_write(std::move(options));
  EXPECT_EQ(ec, errc::bad_file_descriptor) << ec.message();
  EXPECT_EQ(r.spawn_error.failed, part::stdio);
  EXPECT_EQ(r.spawn_error.child_fd, 1);
  EXPECT_EQ(r.spawn_error.detail,
      "stdout: fd " + std::to_string(number) + " is not open");

  // The run opened the reactor's fds: another number that is surely closed.
  auto closed_too = pidfd_options_test::make_pipe();
  const int number_too = closed_too.write.get();
  closed_too.write.reset();
  run_options inherited;
  inherited.spawn.inherit_fd(3, number_too);
  auto [ec2, r2] = run_write(std::move(inherited));
  EXPECT_EQ(ec2, errc::bad_file_descriptor) << ec2.message();
  EXPECT_EQ(r2.spawn_error.failed, part::inherited_fd);
  EXPECT_EQ(r2.spawn_error.child_fd, 3);
  EXPECT_EQ(r2.spawn_error.detail,
      "inherited fd 3: parent fd " + std::to_string(number_too)
          + " is not open");
}

TEST_F(run_streams_test, a_run_that_spawned_has_no_spawn_error)
{
  auto [ec, r] = run_write({});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.spawn_error.failed, part::none);
  EXPECT_EQ(r.spawn_error.detail, "");
}

//------------------------------------------------------------------------------
// Each option with each other option, on the "write" child: the result is
// what the two options together promise.

enum option : unsigned
{
  input,
  timeout,
  grace,
  stop_signal,
  tree, // stop_scope = tree, with a process group of its own
  wait_delay,
  limit, // output_limit = 3
  overflow_stop,
  on_spawn,
  on_pty,
  out_file,
  out_null,
  err_file,
  err_merge,
  in_null,
  option_count
};

constexpr const char* option_names[] = {"input", "timeout", "grace",
    "stop_signal", "stop_scope=tree", "wait_delay", "output_limit",
    "on_overflow=stop", "on_spawn", "on_pty", "spawn.out=file",
    "spawn.out=null", "spawn.err=file", "spawn.err=merge", "spawn.in=null"};
static_assert(std::size(option_names) == option_count);

// What the run should give for a set of options: the streams' texts, or
// the stream a refusal names.
struct expectation
{
  int refused_fd = -1;
  std::string out, err, out_file, err_file;
  bool out_truncated = false;
  bool err_truncated = false;
  bool may_stop = false; // output_limit with overflow::stop
};

expectation expect(const std::set<option>& set)
{
  auto has = [&](option o) { return set.count(o) != 0; };
  expectation e;
  const bool in_set = has(in_null);
  const bool out_set = has(out_file) || has(out_null);
  if ((has(input) && in_set) || (has(on_pty) && in_set))
    e.refused_fd = 0;
  else if (has(on_pty) && out_set)
    e.refused_fd = 1;
  else if (has(on_pty) && has(err_file))
    e.refused_fd = 2;
  if (e.refused_fd >= 0)
    return e;
  if (has(on_pty))
    e.out = "to outto err"; // one terminal for all three
  else
  {
    std::string* out_to = has(out_file) ? &e.out_file
        : has(out_null)                 ? nullptr
                                        : &e.out;
    std::string* err_to = has(err_merge) ? out_to
        : has(err_file)                  ? &e.err_file
                                         : &e.err;
    if (out_to)
      *out_to += "to out";
    if (err_to)
      *err_to += "to err";
  }
  if (has(limit))
  {
    e.out_truncated = e.out.size() > 3;
    e.err_truncated = e.err.size() > 3;
    e.out.resize(std::min<std::size_t>(e.out.size(), 3));
    e.err.resize(std::min<std::size_t>(e.err.size(), 3));
    e.may_stop = has(overflow_stop);
  }
  return e;
}

// The file's text, or "<missing>".
std::string text_of(const std::string& path)
{
  std::ifstream in(path);
  if (!in)
    return "<missing>";
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class run_pairs_test : public run_streams_test
{
protected:
  // Runs the "write" child with the options in `set`; checks the result.
  void run_with(const std::set<option>& set)
  {
    auto has = [&](option o) { return set.count(o) != 0; };
    const std::string out_path = temp_path("out");
    const std::string err_path = temp_path("err");
    ::unlink(out_path.c_str());
    ::unlink(err_path.c_str());
    int spawned = 0;
    run_options o;
    if (has(input))
      o.input = "in\n";
    if (has(timeout))
      o.timeout = 20s; // does not expire
    if (has(grace))
      o.grace = 1s;
    if (has(stop_signal))
      o.stop_signal = SIGUSR1;
    if (has(tree))
    {
      o.stop_scope = pidfd::terminate_scope::tree;
      o.spawn.process_group = pidfd::process_group_mode::new_group;
    }
    if (has(wait_delay))
      o.wait_delay = 1s;
    if (has(limit))
      o.output_limit = 3;
    if (has(overflow_stop))
      o.on_overflow = run_options::overflow::stop;
    if (has(on_spawn))
      o.on_spawn = [&](const pidfd::run_child& c) {
        EXPECT_GT(c.id(), 0);
        ++spawned;
      };
    if (has(on_pty))
      o.on_pty = true;
    if (has(out_file))
      o.spawn.out = stdio::file(out_path);
    if (has(out_null))
      o.spawn.out = stdio::null();
    if (has(err_file))
      o.spawn.err = stdio::file(err_path);
    if (has(err_merge))
      o.spawn.err = stdio::merge_with_stdout();
    if (has(in_null))
      o.spawn.in = stdio::null();

    const expectation e = expect(set);
    auto [ec, r] = run_write(std::move(o));
    if (e.refused_fd >= 0)
    {
      EXPECT_EQ(ec, pidfd::error::invalid_option) << ec.message();
      EXPECT_EQ(r.spawn_error.failed, part::stdio);
      EXPECT_EQ(r.spawn_error.child_fd, e.refused_fd);
      EXPECT_FALSE(r.status.known());
      EXPECT_EQ(spawned, 0);
    }
    else
    {
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(r.spawn_error.failed, part::none);
      EXPECT_EQ(spawned, has(on_spawn) ? 1 : 0);
      EXPECT_FALSE(r.timed_out);
      std::string out = r.out;
      if (has(on_pty) && has(input))
      {
        // The terminal echoes the input, if it came before the hang-up.
        const auto at = out.find("in\r\n");
        if (at != std::string::npos)
          out.erase(at, 4);
      }
      if (e.may_stop)
      {
        // Stopped once stdout went past the limit, or exited first.
        EXPECT_TRUE(r.status.success()
            || (r.status.signaled() && r.status.signal() == SIGTERM))
            << r.status;
        EXPECT_EQ(out, e.out);
        EXPECT_EQ(e.err.compare(0, r.err.size(), r.err), 0) << r.err;
      }
      else
      {
        EXPECT_TRUE(r.status.success()) << r.status;
        EXPECT_FALSE(r.output_cut);
        EXPECT_EQ(out, e.out);
        EXPECT_EQ(r.err, e.err);
        EXPECT_EQ(r.err_truncated, e.err_truncated);
      }
      EXPECT_EQ(r.out_truncated, e.out_truncated);
      if (has(out_file))
      {
        EXPECT_EQ(text_of(out_path), e.out_file);
      }
      if (has(err_file))
      {
        EXPECT_EQ(text_of(err_path), e.err_file);
      }
    }
    EXPECT_FALSE(pidfd_test::children_left());
    EXPECT_EQ(pidfd_test::open_fds(), fds_) << "an fd leaked";
  }

  std::set<int> fds_;
};

TEST_F(run_pairs_test, each_option_with_each_other)
{
  run_write({}); // the reactor opens its fds on first use
  fds_ = pidfd_test::open_fds();
  for (unsigned a = 0; a < option_count; ++a)
    for (unsigned b = a; b < option_count; ++b)
    {
      // Two values of one stream are not a combination: one replaces the
      // other.
      auto one_stream = [](unsigned x, unsigned y) {
        return (x == out_file && y == out_null)
            || (x == err_file && y == err_merge);
      };
      if (one_stream(a, b))
        continue;
      SCOPED_TRACE(std::string(option_names[a]) + " with " + option_names[b]);
      run_with({static_cast<option>(a), static_cast<option>(b)});
    }
}

} // namespace
