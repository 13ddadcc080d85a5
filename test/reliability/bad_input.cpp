//
// test/reliability/bad_input.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The bad input matrix: programs that cannot run, malformed arguments and
// options, invalid signal numbers, objects that refer to no process, and
// PIDs that cannot be adopted. Each gives a clear error (or the documented
// state) and leaves no child and no fd behind (the fixture checks).
//

#include "pidfd/asio.hpp"
#include "reliability.hpp"
#include "support/fixture.hpp"

#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/system/system_error.hpp>

#include <climits>
#include <csignal>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using boost::system::error_code;
using pidfd::exit_status;
using pidfd_test::child_program;
using pidfd_test::unique_fd;
using namespace std::string_view_literals;

// A pidfd::error must be that exact code; an errno is compared by its
// condition (the library reports errno values in the system category).
bool matches(const error_code& ec, const error_code& expected)
{
  if (expected.category() == pidfd::error_category())
    return ec == expected;
  return ec == expected.default_error_condition();
}

error_code errno_code(errc::errc_t e)
{
  return errc::make_error_code(e);
}

// Runs f, which must throw a system_error matching `expected` whose what()
// contains `what`.
void expect_throws(const std::function<void()>& f, const error_code& expected,
    std::string_view what)
{
  try
  {
    f();
    ADD_FAILURE() << "did not throw";
  }
  catch (const boost::system::system_error& e)
  {
    EXPECT_TRUE(matches(e.code(), expected))
        << e.code().message() << " (" << e.code().value() << ")";
    EXPECT_NE(std::string_view(e.what()).find(what), std::string_view::npos)
        << e.what();
  }
}

class bad_input_test : public pidfd_test::fixture
{
protected:
  struct spawn_case
  {
    std::string name;
    std::string program;
    std::vector<std::string> args;
    pidfd::spawn_options options;
    error_code expected;
    // Text what() has besides the program, e.g. the option at fault.
    std::string detail{};
  };

  // A spawn that must fail: through both overloads and async_run, with no
  // process, no child and no fd left behind.
  void expect_spawn_fails(const spawn_case& c)
  {
    SCOPED_TRACE(c.name);
    error_code ec;
    auto p = pidfd::spawn(ctx, c.program, c.args, c.options, ec);
    EXPECT_TRUE(matches(ec, c.expected))
        << ec.message() << " (" << ec.value() << ")";
    EXPECT_FALSE(p.is_open());
    EXPECT_EQ(p.id(), 0);
    EXPECT_EQ(p.native_handle(), -1);

    const std::string named = "spawn \""
        + c.program.substr(0, std::min<std::size_t>(c.program.find('\0'), 200));
    expect_throws([&] { pidfd::spawn(ctx, c.program, c.args, c.options); },
        c.expected, named);
    if (!c.detail.empty())
    {
      expect_throws([&] { pidfd::spawn(ctx, c.program, c.args, c.options); },
          c.expected, c.detail);
    }

    // async_run honours the caller's streams: every case fails through
    // it too, with the same detail in its result.
    std::optional<std::pair<error_code, pidfd::run_result>> got;
    pidfd::run_options options;
    options.spawn = c.options;
    pidfd::async_run(ctx, c.program, c.args, options,
        [&](error_code e, pidfd::run_result r) { got.emplace(e, r); });
    run();
    ASSERT_TRUE(got);
    EXPECT_TRUE(matches(got->first, c.expected))
        << "async_run: " << got->first.message();
    EXPECT_NE(got->second.spawn_error.detail.find(c.detail), std::string::npos)
        << "async_run: " << got->second.spawn_error.detail;
    EXPECT_FALSE(pidfd_test::has_children());
  }

  std::string script(
      std::string_view name, std::string_view text, unsigned int mode = 0755)
  {
    const std::string path = temp_path(name);
    pidfd_test::write_file(path, text, mode);
    return path;
  }

  // What a process object that refers to no process must do, member by
  // member: report error::no_process (or -1, 0, false), never inline.
  template <typename Process>
  void expect_refers_to_no_process(Process& p)
  {
    EXPECT_FALSE(p.is_open());
    EXPECT_EQ(p.id(), 0);
    EXPECT_EQ(p.native_handle(), -1);
    EXPECT_TRUE(p.get_executor() == ctx.get_executor());
    EXPECT_EQ(p.release(), -1);
    const error_code none = pidfd::error::no_process;

    error_code ec;
    p.wait(ec);
    EXPECT_EQ(ec, none);
    expect_throws([&] { p.wait(); }, none, "wait");
    ec.clear();
    EXPECT_EQ(p.try_wait(ec), std::nullopt);
    EXPECT_EQ(ec, none);
    expect_throws([&] { p.try_wait(); }, none, "try_wait");
    ec.clear();
    p.signal(SIGTERM, ec);
    EXPECT_EQ(ec, none);
    expect_throws([&] { p.signal(SIGTERM); }, none, "signal");
    ec.clear();
    p.signal_group(SIGTERM, ec);
    EXPECT_EQ(ec, none);
    expect_throws([&] { p.signal_group(SIGTERM); }, none, "signal_group");
    EXPECT_NO_THROW(p.cancel());

    std::optional<error_code> waited, signalled, group, terminated;
    p.async_wait([&](error_code e, exit_status) { waited = e; });
    p.async_signal(SIGTERM, [&](error_code e) { signalled = e; });
    p.async_signal_group(SIGTERM, [&](error_code e) { group = e; });
    p.async_terminate(std::chrono::seconds(1),
        [&](error_code e, exit_status) { terminated = e; });
    EXPECT_FALSE(waited || signalled || group || terminated)
        << "a handler ran inside its initiating function";
    run();
    for (auto* got : {&waited, &signalled, &group, &terminated})
    {
      ASSERT_TRUE(*got);
      EXPECT_EQ(**got, none) << (*got)->message();
    }
    EXPECT_FALSE(p.is_open());
  }
};

//------------------------------------------------------------------------------
// Programs that cannot run.

TEST_F(bad_input_test, programs_that_cannot_run)
{
  const std::string non_executable =
      script("non-executable", "#!/bin/sh\nexit 0\n", 0644);
  const std::string self = temp_path("interprets-itself");
  script("interprets-itself", "#!" + self + "\n");
  const std::string loop_a = temp_path("loop-a");
  const std::string loop_b = temp_path("loop-b");
  ASSERT_EQ(::symlink(loop_b.c_str(), loop_a.c_str()), 0);
  ASSERT_EQ(::symlink(loop_a.c_str(), loop_b.c_str()), 0);

  // An executable that is open for writing (here, by us).
  const std::string busy = script("busy", pidfd_test::read_file(child_program));
  unique_fd writer(::open(busy.c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_GE(writer.get(), 0);

  // The kernel's MAX_ARG_STRLEN: the longest single argument or
  // environment entry, 32 pages.
  const std::size_t max_arg_strlen =
      32 * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));

  const std::vector<spawn_case> cases = {
      {"empty program", "", {}, {}, pidfd::error::empty_program},
      {"absolute path that does not exist", temp_path("missing"), {}, {},
          errno_code(errc::no_such_file_or_directory)},
      {"name not found in PATH", "pidfd-rel-no-such-program", {}, {},
          errno_code(errc::no_such_file_or_directory)},
      {"name of spaces", "   ", {}, {},
          errno_code(errc::no_such_file_or_directory)},
      {"name not found in the child's PATH", "pidfd-rel-no-such-program", {},
          {.env = pidfd::environment().set("PATH", temp_dir())},
          errno_code(errc::no_such_file_or_directory)},
      {"directory", temp_dir(), {}, {}, errno_code(errc::permission_denied)},
      {"root directory", "/", {}, {}, errno_code(errc::permission_denied)},
      {"non-executable file", non_executable, {}, {},
          errno_code(errc::permission_denied)},
      {"script without interpreter line", script("no-shebang", "echo hello\n"),
          {}, {}, errno_code(errc::executable_format_error)},
      {"empty executable file", script("empty", ""), {}, {},
          errno_code(errc::executable_format_error)},
      {"script whose interpreter is missing",
          script("missing-interpreter", "#!/nonexistent/interpreter\n"), {}, {},
          errno_code(errc::no_such_file_or_directory)},
      {"script whose interpreter is a directory",
          script("dir-interpreter", "#!/\n"), {}, {},
          errno_code(errc::permission_denied)},
      {"script whose interpreter is not executable",
          script("non-executable-interpreter", "#!" + non_executable + "\n"),
          {}, {}, errno_code(errc::permission_denied)},
      {"script whose interpreter line is too long",
          script("long-shebang", "#!/" + std::string(300, 'a') + "\n"), {}, {},
          errno_code(errc::executable_format_error)},
      {"script that interprets itself", self, {}, {},
          errno_code(errc::too_many_symbolic_link_levels)},
      {"symlink loop", loop_a, {}, {},
          errno_code(errc::too_many_symbolic_link_levels)},
      {"path through a regular file", non_executable + "/program", {}, {},
          errno_code(errc::not_a_directory)},
      {"program with a trailing slash", std::string(child_program) + "/", {},
          {}, errno_code(errc::not_a_directory)},
      {"path longer than PATH_MAX", "/" + std::string(PATH_MAX + 10, 'a'), {},
          {}, errno_code(errc::filename_too_long)},
      {"executable open for writing", busy, {}, {},
          errno_code(errc::text_file_busy)},
      {"argument longer than MAX_ARG_STRLEN", child_program,
          {std::string(max_arg_strlen + 1, 'x')}, {},
          errno_code(errc::argument_list_too_long)},
      {"environment entry longer than MAX_ARG_STRLEN", child_program, {},
          {.env = pidfd::environment().set(
               "BIG", std::string(max_arg_strlen, 'x'))},
          errno_code(errc::argument_list_too_long)},
  };
  for (const spawn_case& c : cases)
    expect_spawn_fails(c);
}

//------------------------------------------------------------------------------
// Malformed arguments and options.

TEST_F(bad_input_test, malformed_arguments_and_options)
{
  const std::string file = script("file", "x", 0644);
  const std::string missing = temp_path("missing");
  asio::readable_pipe out(ctx), err(ctx);
  asio::writable_pipe in(ctx);
  unique_fd open_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_GE(open_fd.get(), 0);
  // A number that is not an open fd (and that the library's own pipes,
  // which take the lowest free numbers, cannot take either).
  const int closed_fd = 1000;
  ASSERT_EQ(::fcntl(closed_fd, F_GETFD), -1);

  const error_code invalid = pidfd::error::invalid_option;
  const error_code nul = pidfd::error::embedded_nul;
  const std::string child = child_program;
  const std::vector<std::string> args{"exit", "0"};
  auto with_fd = [](int child_fd, int parent_fd) {
    pidfd::spawn_options o;
    o.inherit_fd(child_fd, parent_fd);
    return o;
  };

  std::vector<spawn_case> cases = {
      {"NUL in the program", std::string("/bin/true\0x", 11), {}, {}, nul},
      {"NUL in an argument", child, {"exit", std::string("0\0", 2)}, {}, nul},
      {"NUL in argv0", child, args, {.argv0 = std::string("a\0b", 3)}, nul},
      {"working directory that does not exist", child, args,
          {.working_directory = missing},
          errno_code(errc::no_such_file_or_directory), "working directory"},
      {"working directory that is a file", child, args,
          {.working_directory = file}, errno_code(errc::not_a_directory),
          "working directory"},
      {"empty working directory", child, args, {.working_directory = ""},
          invalid, "working directory"},
      {"NUL in the working directory", child, args,
          {.working_directory = std::string("/\0tmp", 5)}, invalid,
          "working directory"},
      {"stdin file that does not exist", child, args,
          {.in = pidfd::stdio::file(missing)},
          errno_code(errc::no_such_file_or_directory), "stdin file"},
      {"stdout file in a directory that does not exist", child, args,
          {.out = pidfd::stdio::file(missing + "/out")},
          errno_code(errc::no_such_file_or_directory), "stdout file"},
      {"stderr file with an empty name", child, args,
          {.err = pidfd::stdio::file("")}, invalid, "stderr"},
      {"stdin file with a NUL", child, args,
          {.in = pidfd::stdio::file(std::string("a\0b", 3))}, invalid, "stdin"},
      {"stdin from fd -1", child, args, {.in = pidfd::stdio::fd(-1)},
          errno_code(errc::bad_file_descriptor), "stdin"},
      {"stdin from an fd that is not open", child, args,
          {.in = pidfd::stdio::fd(closed_fd)},
          errno_code(errc::bad_file_descriptor), "stdin"},
      {"stdout merged with stdout", child, args,
          {.out = pidfd::stdio::merge_with_stdout()}, invalid, "stdout"},
      {"stdin merged with stdout", child, args,
          {.in = pidfd::stdio::merge_with_stdout()}, invalid, "stdin"},
      {"stdin from a readable pipe", child, args,
          {.in = pidfd::stdio::pipe(out)}, invalid, "stdin"},
      {"stdout to a writable pipe", child, args,
          {.out = pidfd::stdio::pipe(in)}, invalid, "stdout"},
      {"one pipe for stdout and stderr", child, args,
          {.out = pidfd::stdio::pipe(out), .err = pidfd::stdio::pipe(out)},
          invalid, "the same pipe"},
      {"inherited fd onto stderr", child, args, with_fd(2, open_fd.get()),
          invalid, "inherited fd 2"},
      {"inherited fd onto a negative number", child, args,
          with_fd(-1, open_fd.get()), invalid, "inherited fd -1"},
      {"inherited fd -1", child, args, with_fd(5, -1),
          errno_code(errc::bad_file_descriptor), "inherited fd 5"},
      {"inherited fd that is not open", child, args, with_fd(5, closed_fd),
          errno_code(errc::bad_file_descriptor), "inherited fd 5"},
      {"inherited fd given twice", child, args,
          with_fd(5, open_fd.get()).inherit_fd(5, open_fd.get()), invalid,
          "inherited fd 5"},
      {"parent death signal -1", child, args, {.parent_death_signal = -1},
          invalid, "parent death signal"},
      {"parent death signal NSIG", child, args, {.parent_death_signal = _NSIG},
          invalid, "parent death signal"},
      {"parent death signal INT_MAX", child, args,
          {.parent_death_signal = INT_MAX}, invalid, "parent death signal"},
      {"environment variable with an empty name", child, args,
          {.env = pidfd::environment().set("", "x")}, invalid,
          "environment variable"},
      {"environment variable with = in its name", child, args,
          {.env = pidfd::environment().set("A=B", "x")}, invalid,
          "environment variable"},
      {"environment variable unset with = in its name", child, args,
          {.env = pidfd::environment().unset("A=B")}, invalid,
          "environment variable"},
  };
  if (::geteuid() == 0)
  {
    // More supplementary groups than the kernel takes (NGROUPS_MAX).
    cases.push_back({"too many supplementary groups", child, args,
        {.groups = std::vector<gid_t>(70000, 0)},
        errno_code(errc::invalid_argument), "setgroups"});
  }
  for (const spawn_case& c : cases)
    expect_spawn_fails(c);
  // No option was consumed by a failed spawn.
  EXPECT_FALSE(in.is_open() || out.is_open() || err.is_open());
}

TEST_F(bad_input_test, nul_in_the_environment_is_embedded_nul)
{
  // pidfd/error.hpp documents error::embedded_nul for "a program name,
  // argument or environment entry" containing a NUL byte.
  const std::vector<std::string> args{"exit", "0"};
  expect_spawn_fails({"NUL in an environment value", child_program, args,
      {.env = pidfd::environment().set("A", std::string("x\0y", 3))},
      pidfd::error::embedded_nul});
  expect_spawn_fails({"NUL in an environment name", child_program, args,
      {.env = pidfd::environment().set(std::string("A\0B", 3), "x")},
      pidfd::error::embedded_nul});
}

TEST_F(bad_input_test, empty_arguments_are_passed_verbatim)
{
  // Not an error: execve takes empty strings, argv[0] included.
  const std::string file = temp_path("args");
  auto p = pidfd::spawn(
      ctx, child_program, {"print-args", file, "", "x", ""}, {.argv0 = ""});
  ASSERT_TRUE(p.wait().success());
  EXPECT_EQ(pidfd_test::read_lines(file),
      (std::vector<std::string>{"", "print-args", file, "", "x", ""}));
}

//------------------------------------------------------------------------------
// Invalid signal numbers, on processes in every state.

TEST_F(bad_input_test, invalid_signal_numbers)
{
  const int invalid[] = {-1, -1000, INT_MIN, _NSIG, _NSIG + 1, 1000, INT_MAX};
  using process_type = decltype(pidfd::spawn(ctx, child_program));

  auto running = pidfd::spawn(ctx, child_program, {"pause"});
  auto exited = pidfd::spawn(ctx, child_program, {"exit", "0"});
  pidfd_test::wait_exited(exited);
  auto collected = pidfd::spawn(ctx, child_program, {"exit", "0"});
  collected.wait();
  auto gone = process_type::adopt(ctx.get_executor(), pidfd_test::unused_pid());
  process_type empty(ctx);
  auto moved = pidfd::spawn(ctx, child_program, {"exit", "0"});
  auto moved_to = std::move(moved);

  struct state
  {
    const char* name;
    process_type* p;
    error_code expected;
  };
  const error_code bad = pidfd::error::invalid_signal;
  const state states[] = {{"running", &running, bad},
      {"exited, not collected", &exited, bad}, {"collected", &collected, bad},
      {"adopted, gone", &gone, bad},
      {"default-constructed", &empty, pidfd::error::no_process},
      {"moved-from", &moved, pidfd::error::no_process}};
  for (const state& s : states)
  {
    for (int sig : invalid)
    {
      SCOPED_TRACE(std::string(s.name) + ", signal " + std::to_string(sig));
      error_code ec;
      s.p->signal(sig, ec);
      EXPECT_EQ(ec, s.expected) << ec.message();
      s.p->signal_group(sig, ec);
      EXPECT_EQ(ec, s.expected) << ec.message();
      expect_throws([&] { s.p->signal(sig); }, s.expected, "signal");
      std::optional<error_code> one, group;
      s.p->async_signal(sig, [&](error_code e) { one = e; });
      s.p->async_signal_group(sig, [&](error_code e) { group = e; });
      run();
      ASSERT_TRUE(one && group);
      EXPECT_EQ(*one, s.expected);
      EXPECT_EQ(*group, s.expected);
    }
  }
  // A negative grace period has its own error, and sends nothing.
  std::optional<error_code> terminated;
  running.async_terminate(std::chrono::seconds(-1),
      [&](error_code e, exit_status) { terminated = e; });
  run();
  ASSERT_TRUE(terminated);
  EXPECT_EQ(*terminated, pidfd::error::invalid_grace_period);

  // None of it reached the running child.
  error_code ec;
  EXPECT_EQ(running.try_wait(ec), std::nullopt);
  EXPECT_FALSE(ec);
  running.signal(SIGKILL);
  EXPECT_EQ(running.wait().signal(), SIGKILL);
  moved_to.wait();
  EXPECT_TRUE(exited.wait().success());
}

//------------------------------------------------------------------------------
// Objects that refer to no process: every member.

TEST_F(bad_input_test, every_member_of_an_object_without_a_process)
{
  using process_type = decltype(pidfd::spawn(ctx, child_program));
  {
    SCOPED_TRACE("default-constructed from the context");
    process_type p(ctx);
    expect_refers_to_no_process(p);
  }
  {
    SCOPED_TRACE("default-constructed from the executor");
    process_type p(ctx.get_executor());
    expect_refers_to_no_process(p);
  }
  {
    SCOPED_TRACE("moved-from by construction");
    auto p = pidfd::spawn(ctx, child_program, {"exit", "0"});
    auto q = std::move(p);
    expect_refers_to_no_process(p);
    EXPECT_TRUE(q.wait().success());
  }
  {
    SCOPED_TRACE("moved-from by assignment");
    auto p = pidfd::spawn(ctx, child_program, {"exit", "0"});
    process_type q(ctx);
    q = std::move(p);
    expect_refers_to_no_process(p);
    EXPECT_TRUE(q.wait().success());
  }
  {
    SCOPED_TRACE("converted to pidfd::process");
    auto p = pidfd::spawn(ctx, child_program, {"exit", "0"});
    pidfd::process q(std::move(p));
    expect_refers_to_no_process(p);
    EXPECT_TRUE(q.wait().success());
  }
  {
    SCOPED_TRACE("after release()");
    auto p = pidfd::spawn(ctx, child_program, {"exit", "0"});
    const pid_t pid = p.id();
    unique_fd released(p.release());
    expect_refers_to_no_process(p);
    // The child is ours to reap now.
    EXPECT_EQ(pidfd_test::reap(pid), 0);
  }
}

//------------------------------------------------------------------------------
// PIDs and pidfds that cannot be adopted.

TEST_F(bad_input_test, adopt_pid_zero_or_negative)
{
  using process_type = decltype(pidfd::spawn(ctx, child_program));
  const auto ex = ctx.get_executor();
  for (pid_t pid : {0, -1, INT_MIN})
  {
    SCOPED_TRACE(pid);
    error_code ec;
    process_type p = process_type::adopt(ex, pid, ec);
    EXPECT_EQ(ec, errc::invalid_argument) << ec.message();
    EXPECT_FALSE(p.is_open());
    expect_throws([&] { process_type::adopt(ex, pid); },
        errno_code(errc::invalid_argument), "adopt");
  }
}

TEST_F(bad_input_test, adopt_a_thread_id)
{
  // Documented: errc::invalid_argument. Never signal what was adopted: a
  // signal to a thread id reaches this whole process.
  using process_type = decltype(pidfd::spawn(ctx, child_program));
  const auto ex = ctx.get_executor();
  pidfd_test::other_thread thread;
  const pid_t tid = thread.tid();
  error_code ec;
  process_type p = process_type::adopt(ex, tid, ec);
  EXPECT_EQ(ec, errc::invalid_argument) << ec.message();
  EXPECT_FALSE(p.is_open());
  expect_throws([&] { process_type::adopt(ex, tid); },
      errno_code(errc::invalid_argument), "adopt");
}

TEST_F(bad_input_test, adopt_a_pid_that_does_not_exist)
{
  // The documented "done" state, as Go's os.FindProcess.
  using process_type = decltype(pidfd::spawn(ctx, child_program));
  const auto ex = ctx.get_executor();
  for (pid_t pid : {pidfd_test::unused_pid(), (1 << 22) + 1})
  {
    SCOPED_TRACE(pid);
    error_code ec = pidfd::error::no_process;
    process_type p = process_type::adopt(ex, pid, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(p.is_open());
    EXPECT_EQ(p.id(), pid);
    EXPECT_EQ(p.native_handle(), -1);
    p.wait(ec);
    EXPECT_EQ(ec, errc::no_child_process);
    p.signal(0, ec);
    EXPECT_EQ(ec, pidfd::error::process_done);
  }
}

TEST_F(bad_input_test, adopt_pidfd_of_something_else)
{
  // Documented: errc::bad_file_descriptor or errc::invalid_argument, and
  // the fd stays the caller's (ownership passes on success only).
  using process_type = decltype(pidfd::spawn(ctx, child_program));
  const auto ex = ctx.get_executor();
  unique_fd not_pidfd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_GE(not_pidfd.get(), 0);
  const int closed_fd = 1000;
  ASSERT_EQ(::fcntl(closed_fd, F_GETFD), -1);
  for (int fd : {not_pidfd.get(), -1, closed_fd})
  {
    SCOPED_TRACE("fd " + std::to_string(fd));
    error_code ec;
    process_type p = process_type::adopt_pidfd(ex, fd, ec);
    EXPECT_TRUE(ec == errc::bad_file_descriptor || ec == errc::invalid_argument)
        << ec.message();
    EXPECT_FALSE(p.is_open());
  }
  EXPECT_NE(::fcntl(not_pidfd.get(), F_GETFD), -1) << "closed by adopt";
}

} // namespace
