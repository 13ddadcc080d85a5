//
// test/readme_shape.cpp
// ~~~~~~~~~~~~~~~~~~~~~
// Every C++ snippet of README.md, run as written: a fragment gets the
// least wrapper it needs (an io_context, a coroutine, the variables it
// names), its own lines are copied unchanged between "clang-format off"
// and "on" (readme_shape.awk checks that they still match README.md).
// g++ 12 miscompiles some shapes of co_await expressions (README,
// Compilers), so this runs with g++ in the normal build and, from the gcc
// preset, with clang++ under AddressSanitizer and UndefinedBehaviorSanitizer.
//

// clang-format off
#include <pidfd/asio.hpp>
namespace asio = boost::asio;
// clang-format on

#include "support/cgroup_fs.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <cstdio>
#include <string>
#include <string_view>
#include <fcntl.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// README, "Using it": the first snippet, a whole function.
// clang-format off
asio::awaitable<void> build(asio::io_context& ctx)
{
  // Throws boost::system::system_error ("spawn \"make\": No such file...").
  pidfd::process make = pidfd::spawn(ctx, "make", {"-j2"});

  // Race the wait against a timer; a cancelled wait leaves the child running.
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(ctx, std::chrono::minutes(5));
  auto first = co_await (make.async_wait(asio::use_awaitable)
      || timer.async_wait(asio::use_awaitable));
  if (first.index() == 1)
    make.signal(SIGTERM);  // through the pidfd: never a recycled PID

  pidfd::exit_status status = co_await make.async_wait(asio::use_awaitable);
  std::cout << status << ", " << status.user_time().count() << " us CPU\n";
  // "exited with code 0", "killed by SIGTERM", "killed by SIGSEGV (core dumped)"
}
// clang-format on

namespace {

using namespace std::chrono_literals;

void rethrow(std::exception_ptr e)
{
  if (e)
    std::rethrow_exception(e);
}

// The snippets that run make do so in an empty directory of their own, so
// that make finds no makefile (exit code 2) whatever the build tree holds.
class in_empty_directory
{
public:
  in_empty_directory()
  {
    char name[] = "/tmp/pidfd-readme-XXXXXX";
    EXPECT_NE(::mkdtemp(name), nullptr);
    dir_ = name;
    old_ = std::filesystem::current_path();
    std::filesystem::current_path(dir_);
  }
  ~in_empty_directory()
  {
    std::filesystem::current_path(old_);
    std::filesystem::remove_all(dir_);
  }
  in_empty_directory(const in_empty_directory&) = delete;
  in_empty_directory& operator=(const in_empty_directory&) = delete;

private:
  std::filesystem::path dir_, old_;
};

TEST(readme_shape, using_it_coroutine)
{
  in_empty_directory dir;
  asio::io_context ctx;
  testing::internal::CaptureStdout();
  asio::co_spawn(ctx, build(ctx), rethrow);
  ctx.run();
  const std::string printed = testing::internal::GetCapturedStdout();
  EXPECT_EQ(printed.rfind("exited with code 2, ", 0), 0) << printed;
}

TEST(readme_shape, using_it_completion_handler)
{
  asio::io_context ctx;
  pidfd::argument_list args{"--version"};
  // clang-format off
auto p = pidfd::spawn(ctx, "/usr/bin/tar", args);
p.async_wait([](boost::system::error_code ec, pidfd::exit_status s) {
  if (!ec && s.success()) { /* ... */ }
});
  // clang-format on
  ctx.run();
  EXPECT_TRUE(p.wait().success());
}

TEST(readme_shape, stopping_and_capturing)
{
  asio::io_context ctx;
  std::optional<pidfd::exit_status> stopped;
  std::optional<pidfd::run_result> ran;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        pidfd::process server = pidfd::spawn(ctx, "sleep", {"60"});
        // clang-format off
// SIGTERM, SIGKILL if still there after 2 s; completes with the final status.
pidfd::exit_status s =
    co_await server.async_terminate(std::chrono::seconds(2), asio::use_awaitable);

// stdout and stderr read concurrently (no pipe deadlock), stdin fed, a timeout.
// Options in a variable of their own, not braced inside co_await (g++ 12,
// see Compilers below).
pidfd::run_options opts{
    .input = "some input\n", .timeout = std::chrono::seconds(10)};
pidfd::run_result r = co_await pidfd::async_run(
    ctx, "sort", {"-r"}, std::move(opts), asio::use_awaitable);
// r.status, r.out, r.err, r.timed_out, r.elapsed
        // clang-format on
        stopped = s;
        ran = std::move(r);
      },
      rethrow);
  ctx.run();
  ASSERT_TRUE(stopped && ran);
  EXPECT_EQ(stopped->signal(), SIGTERM);
  EXPECT_TRUE(ran->status.success());
  EXPECT_EQ(ran->out, "some input\n");
  EXPECT_FALSE(ran->timed_out);
}

TEST(readme_shape, process_trees)
{
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root to create the cgroup \"jobs\"";
  const std::optional<std::string> mount = pidfd_test::cgroup2_mount();
  if (!mount)
    GTEST_SKIP() << "no cgroup2 mount in /proc/self/mountinfo";
  // Every run of this test (ctest runs the .fallback variant beside this
  // one) uses the one "jobs" cgroup and checks that it is left empty: one
  // at a time, under a lock on the cgroup2 mount, which always exists.
  struct mount_lock
  {
    int fd;
    ~mount_lock() { ::close(fd); } // releases the lock
  } lock{::open(mount->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  ASSERT_GE(lock.fd, 0) << *mount << ": " << errno;
  ASSERT_EQ(::flock(lock.fd, LOCK_EX), 0) << errno;
  // The parent the README tells the user to create, made here if missing
  // and then removed again.
  const std::string jobs = *mount + "/jobs";
  const bool made = ::mkdir(jobs.c_str(), 0755) == 0;
  ASSERT_TRUE(made || errno == EEXIST) << jobs << ": " << errno;

  in_empty_directory dir;
  asio::io_context ctx;
  std::optional<pidfd::exit_status> status;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        using asio::use_awaitable;
        // clang-format off
pidfd::spawn_options o;
// A new cgroup under "jobs" (relative to the cgroup2 mount, found in
// /proc/self/mountinfo), removed once the tree in it is gone.
o.cgroup = pidfd::cgroup_placement::create_in("jobs");
pidfd::process p = pidfd::spawn(ctx, "/bin/sh", {"-c", "make -j8"}, o);
co_await p.async_terminate(pidfd::terminate_scope::tree, 5s, use_awaitable);
// or: p.signal_tree(SIGHUP); p.kill_tree(); co_await p.async_wait_tree(...);
        // clang-format on
        status = p.wait();
      },
      rethrow);
  ctx.run();
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->exited() || status->signaled()) << *status;
  EXPECT_TRUE(pidfd_test::subdirectories(jobs).empty());
  if (made)
  {
    EXPECT_EQ(::rmdir(jobs.c_str()), 0) << jobs << ": " << errno;
  }
}

TEST(readme_shape, pseudo_terminal)
{
  // The snippet waits for "$ ", the prompt of a shell not run as root;
  // dash takes PS1 from the environment, so root's "# " becomes "$ ".
  ASSERT_EQ(::setenv("PS1", "$ ", 1), 0);
  asio::io_context ctx;
  std::optional<pidfd::exit_status> status;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        using namespace std::literals;
        // clang-format off
pidfd::pty term(ctx);
pidfd::spawn_options o;
o.in = o.out = o.err = pidfd::stdio::pty(term);
o.terminal.rows = 40;   // also .cols, .echo = false, .raw = true
pidfd::process sh = pidfd::spawn(ctx, "sh", {"-i"}, o);

std::string seen;
co_await asio::async_read_until(term, asio::dynamic_buffer(seen), "$ ",
    asio::use_awaitable);                   // the prompt
co_await asio::async_write(term, asio::buffer("ls\r"sv), asio::use_awaitable);
term.resize(50, 132);                        // SIGWINCH to the foreground
co_await asio::async_write(term, asio::buffer("\x03"sv), asio::use_awaitable);
// ^C: SIGINT to the foreground group, sent by the kernel's line discipline
        // clang-format on
        // The line discipline flushes the input it holds when it handles
        // ^C, and the shell drops a line it was reading at the SIGINT: a
        // line typed around then may be lost, so it is typed again until
        // the shell exits (a cancelled wait leaves the child waitable).
        using namespace asio::experimental::awaitable_operators;
        for (int typed = 0; !status && typed < 50; ++typed)
        {
          co_await asio::async_write(
              term, asio::buffer("exit 7\r"sv), asio::use_awaitable);
          asio::steady_timer retype(ctx, 200ms);
          auto first = co_await (sh.async_wait(asio::use_awaitable)
              || retype.async_wait(asio::use_awaitable));
          if (first.index() == 0)
            status = std::get<0>(first);
        }
      },
      rethrow);
  ctx.run();
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code(), 7) << *status;
}

TEST(readme_shape, confinement)
{
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root (namespaces, uid)";
  asio::io_context ctx;
  std::optional<pidfd::exit_status> status;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        // clang-format off
pidfd::spawn_options o;
o.gid = 65534;                                 // nobody, no supplementary groups
o.uid = 65534;
o.new_namespaces = {.pid = true, .mount = true, .network = true};
o.limits = {{RLIMIT_CPU, 10, 10}, {RLIMIT_NOFILE, 64, 64}};
o.no_new_privs = true;
o.default_signals = {SIGPIPE};                 // ignored here, not there
pidfd::process p = pidfd::spawn(ctx, "sh", {"-c", "echo $$; id -u"}, o);
pidfd::exit_status s = co_await p.async_wait(asio::use_awaitable);
        // clang-format on
        status = s;
      },
      rethrow);
  ctx.run();
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->success()) << *status;
}

// As an unprivileged user would run it: as root, the test runs itself
// again as nobody (a fresh process: a fork of this one could inherit the
// library's state without its threads), which runs the snippet.
TEST(readme_shape, user_namespace)
{
  if (!std::getenv("PIDFD_README_AS_NOBODY"))
  {
    if (::geteuid() != 0)
      GTEST_SKIP() << "needs root (to become nobody)";
    asio::io_context ctx;
    pidfd::process self = pidfd::spawn(ctx, "/proc/self/exe",
        {"--gtest_filter=readme_shape.user_namespace"},
        {.env = pidfd::environment().set("PIDFD_README_AS_NOBODY", "1"),
            .groups = std::vector<gid_t>{},
            .gid = 65534,
            .uid = 65534});
    const pidfd::exit_status s = self.wait();
    EXPECT_TRUE(s.success()) << s;
    return;
  }
  ASSERT_EQ(::geteuid(), 65534u);
  asio::io_context ctx;
  std::optional<pidfd::exit_status> status;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        // clang-format off
  pidfd::spawn_options o;
  o.uid = 0;                                     // root inside, you outside
  o.gid = 0;
  o.keep_groups = true;                          // setgroups is denied to you there
  o.new_namespaces = {.user = true, .mount = true,
                      .uid_map = {{0, ::geteuid(), 1}},
                      .gid_map = {{0, ::getegid(), 1}}};
  pidfd::process p = pidfd::spawn(ctx, "sh", {"-c", "id -u; cat /proc/self/uid_map"}, o);
  pidfd::exit_status s = co_await p.async_wait(asio::use_awaitable);
        // clang-format on
        status = s;
      },
      rethrow);
  ctx.run();
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->success()) << *status;
}

TEST(readme_shape, identity_and_handles)
{
  if (pidfd::kernel_support().forced_fallback)
    GTEST_SKIP() << "no handles in the wait4 fallback";
  const std::string dir = std::filesystem::temp_directory_path()
      / ("pidfd-readme-" + std::to_string(::getpid()));
  std::filesystem::create_directory(dir);
  // In that directory until the end (this file is also built alone, with
  // the library only, so no test-support guard).
  struct in_directory
  {
    std::filesystem::path before = std::filesystem::current_path();
    explicit in_directory(const std::string& d)
    {
      std::filesystem::current_path(d);
    }
    ~in_directory() { std::filesystem::current_path(before); }
  } in_dir(dir);
  asio::io_context ctx;
  pidfd::process worker = pidfd::spawn(ctx, "sleep", {"60"});
  {
    // clang-format off
std::ofstream("workers.state") << worker.export_handle() << '\n';
// ... a new supervisor, later:
std::string handle;
std::getline(std::ifstream("workers.state"), handle);
boost::system::error_code ec;
pidfd::process w = pidfd::process::open_handle(ctx.get_executor(), handle, ec);
if (ec == pidfd::error::process_gone)
  std::puts("the worker has gone: start another");
    // clang-format on
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(w.identity(), worker.identity());
  }
  worker.signal(SIGKILL);
  worker.wait();
  std::filesystem::remove_all(dir);
}

TEST(readme_shape, die_with_owner)
{
  asio::io_context ctx;
  std::optional<pidfd::process> watched;
  {
    // clang-format off
pidfd::process worker = pidfd::spawn(ctx, "sleep", {"60"}, {.die_with_owner = true});
    // clang-format on
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, worker.id(), 0));
    ASSERT_GE(fd, 0);
    watched.emplace(pidfd::process::adopt_pidfd(ctx.get_executor(), fd));
  }
  // The owner is gone: so is the worker.
  pidfd::exit_status s = watched->wait();
  EXPECT_EQ(s.signal(), SIGKILL) << s;
  ctx.run();
}

// Not a README shape: the options braced inside co_await, which g++ 12
// miscompiles (README, Compilers), and other compilers handle.
TEST(readme_shape, braced_options_inside_co_await)
{
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
  GTEST_SKIP() << "g++ " << __GNUC__
               << " destroys an aggregate temporary inside co_await twice "
                  "(README, Compilers)";
#else
  asio::io_context ctx;
  std::optional<pidfd::run_result> r;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        r = co_await pidfd::async_run(ctx, "sort", {"-r"},
            {.input = "a\nc\nb\n", .timeout = 10s}, asio::use_awaitable);
      },
      rethrow);
  ctx.run();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->status.success());
  EXPECT_EQ(r->out, "c\nb\na\n");
  EXPECT_FALSE(r->timed_out);
#endif
}

} // namespace
