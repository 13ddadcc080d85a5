//
// test/spawn.cpp
// ~~~~~~~~~~~~~~
//

// Test that header file is self-contained.
#include "pidfd/spawn.hpp"

#include "pidfd/kernel_support.hpp"
#include "pidfd/process.hpp"
#include "support/fixture.hpp"
#include "support/guards.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

namespace errc = boost::system::errc;
using boost::system::error_code;
using pidfd_test::child_program;

class spawn_test : public pidfd_test::fixture
{
protected:
  // Spawning a program that cannot run fails with `expected` (an errc
  // condition or a pidfd::error), in both overloads, and leaves no child
  // behind.
  template <typename Expected>
  void expect_spawn_error(const std::string& program, Expected expected)
  {
    SCOPED_TRACE(program);
    error_code ec;
    auto p = pidfd::spawn(ctx, program, {"exit", "0"}, {}, ec);
    EXPECT_EQ(ec, expected) << ec.message();
    EXPECT_FALSE(p.is_open());
    EXPECT_EQ(p.id(), 0);
    EXPECT_EQ(p.native_handle(), -1);
    EXPECT_FALSE(pidfd_test::children_left());

    try
    {
      pidfd::spawn(ctx, program, {"exit", "0"});
      ADD_FAILURE() << "spawn did not throw";
    }
    catch (const boost::system::system_error& e)
    {
      EXPECT_EQ(e.code(), expected);
      EXPECT_NE(std::string(e.what()).find(program), std::string::npos)
          << e.what();
    }
    EXPECT_FALSE(pidfd_test::children_left());
  }

  int exit_code_of(std::string_view program, const pidfd::argument_list& args)
  {
    pidfd::exit_status s = pidfd::spawn(ctx, program, args).wait();
    EXPECT_TRUE(s.exited()) << s;
    return s.code();
  }

  // argv as the child saw it.
  std::vector<std::string> argv_of(std::string_view program,
      std::vector<std::string> extra = {},
      const pidfd::spawn_options& options = {})
  {
    const std::string file = temp_path("args");
    std::vector<std::string> args{"print-args", file};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = pidfd::spawn(ctx, program, args, options);
    EXPECT_TRUE(p.wait().success());
    return pidfd_test::read_lines(file);
  }
};

TEST_F(spawn_test, exit_codes)
{
  EXPECT_EQ(exit_code_of(child_program, {"exit", "0"}), 0);
  EXPECT_EQ(exit_code_of(child_program, {"exit", "3"}), 3);
  EXPECT_EQ(exit_code_of(child_program, {"exit", "255"}), 255);
}

TEST_F(spawn_test, returns_once_the_child_has_exec_d)
{
  auto p = pidfd::spawn(ctx, child_program, {"pause"});
  // No race: spawn returns after execve succeeded, so /proc shows the new
  // program already.
  std::error_code ec;
  auto exe = std::filesystem::read_symlink(
      "/proc/" + std::to_string(p.id()) + "/exe", ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(exe, std::filesystem::canonical(child_program));
  p.signal(SIGKILL);
  p.wait();
}

TEST_F(spawn_test, arguments_are_passed_verbatim)
{
  std::vector<std::string> extra{"a b", "", "  ", "tab\there", "-x", "--flag=v",
      "\xc3\xbcnic\xc3\xb6"
      "de",
      "$HOME", "*", "'\"\\"};
  std::vector<std::string> argv = argv_of(child_program, extra);
  std::vector<std::string> expected{
      child_program, "print-args", temp_path("args")};
  expected.insert(expected.end(), extra.begin(), extra.end());
  EXPECT_EQ(argv, expected);
}

TEST_F(spawn_test, argument_list_from_ranges)
{
  const std::string file = temp_path("args");
  std::vector<std::string_view> views{"print-args", file, "x"};
  auto p = pidfd::spawn(ctx, child_program, views);
  ASSERT_TRUE(p.wait().success());
  EXPECT_EQ(pidfd_test::read_lines(file),
      (std::vector<std::string>{child_program, "print-args", file, "x"}));

  const char* const pointers[] = {"print-args", file.c_str(), "y"};
  auto q = pidfd::spawn(ctx, child_program, pointers);
  ASSERT_TRUE(q.wait().success());
  EXPECT_EQ(pidfd_test::read_lines(file),
      (std::vector<std::string>{child_program, "print-args", file, "y"}));
}

TEST_F(spawn_test, argument_list_of_any_length_survives_copies)
{
  // Up to eight arguments are held in the object itself, more beyond it;
  // a copy, of either, views the same strings.
  const std::vector<std::string_view> many{
      "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  for (std::size_t n : {std::size_t{0}, std::size_t{8}, std::size_t{10}})
  {
    const std::vector<std::string_view> expected(
        many.begin(), many.begin() + n);
    const pidfd::argument_list from_range(expected);
    const pidfd::argument_list copy = from_range;
    EXPECT_TRUE(std::ranges::equal(from_range.items(), expected)) << n;
    EXPECT_TRUE(std::ranges::equal(copy.items(), expected)) << n;
  }
  const pidfd::argument_list braced{
      "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  pidfd::argument_list assigned{"x"};
  assigned = braced;
  EXPECT_TRUE(std::ranges::equal(braced.items(), many));
  EXPECT_TRUE(std::ranges::equal(assigned.items(), many));

  const std::string file = temp_path("args");
  auto p = pidfd::spawn(ctx, child_program,
      {"print-args", file, "a", "b", "c", "d", "e", "f", "g", "h"});
  ASSERT_TRUE(p.wait().success());
  EXPECT_EQ(pidfd_test::read_lines(file),
      (std::vector<std::string>{child_program, "print-args", file, "a", "b",
          "c", "d", "e", "f", "g", "h"}));
}

TEST_F(spawn_test, no_arguments)
{
  // argv is then {program}: the child reports a usage error.
  EXPECT_EQ(exit_code_of(child_program, {}), pidfd_test::child_usage_error);
}

TEST_F(spawn_test, argv0_defaults_to_the_program_as_given)
{
  EXPECT_EQ(argv_of(child_program).at(0), child_program);

  // A name found in PATH stays the name, as with execvp.
  const std::string dir = temp_path("bin");
  ASSERT_TRUE(std::filesystem::create_directory(dir));
  std::filesystem::create_symlink(child_program, dir + "/pidfd-child");
  pidfd_test::env_guard path("PATH", dir);
  EXPECT_EQ(argv_of("pidfd-child").at(0), "pidfd-child");
}

TEST_F(spawn_test, argv0_option_overrides)
{
  std::vector<std::string> argv = argv_of(child_program, {"a"}, {.argv0 = "x"});
  EXPECT_EQ(argv,
      (std::vector<std::string>{"x", "print-args", temp_path("args"), "a"}));

  // Even an empty argv[0] is passed as given.
  EXPECT_EQ(argv_of(child_program, {}, {.argv0 = ""}).at(0), "");
}

TEST_F(spawn_test, path_lookup)
{
  EXPECT_EQ(exit_code_of("sh", {"-c", "exit 4"}), 4);
}

TEST_F(spawn_test, path_lookup_order_skips_entries_denying_access)
{
  const std::string denied = temp_path("denied");
  const std::string first = temp_path("first");
  const std::string second = temp_path("second");
  for (const std::string& d : {denied, first, second})
    ASSERT_TRUE(std::filesystem::create_directory(d));
  pidfd_test::write_file(denied + "/prog", "#!/bin/sh\nexit 10\n", 0644);
  pidfd_test::write_file(first + "/prog", "#!/bin/sh\nexit 11\n", 0755);
  pidfd_test::write_file(second + "/prog", "#!/bin/sh\nexit 12\n", 0755);

  {
    pidfd_test::env_guard path("PATH", first + ":" + second);
    EXPECT_EQ(exit_code_of("prog", {}), 11);
  }
  {
    pidfd_test::env_guard path("PATH", second + ":" + first);
    EXPECT_EQ(exit_code_of("prog", {}), 12);
  }
  {
    // The non-executable match comes first; execvp goes on.
    pidfd_test::env_guard path(
        "PATH", denied + ":" + temp_path("missing") + ":" + second);
    EXPECT_EQ(exit_code_of("prog", {}), 12);
  }
}

TEST_F(spawn_test, path_lookup_with_only_a_non_executable_match)
{
  const std::string denied = temp_path("denied");
  ASSERT_TRUE(std::filesystem::create_directory(denied));
  pidfd_test::write_file(denied + "/prog", "#!/bin/sh\nexit 10\n", 0644);
  // EACCES explains the failure better than the ENOENT of a later entry.
  pidfd_test::env_guard path("PATH", denied + ":" + temp_path("missing"));
  expect_spawn_error("prog", errc::permission_denied);
}

TEST_F(spawn_test, path_lookup_of_a_missing_name)
{
  expect_spawn_error(
      "pidfd-asio-no-such-program-anywhere", errc::no_such_file_or_directory);
  pidfd_test::env_guard path("PATH", temp_dir());
  expect_spawn_error("pidfd-child", errc::no_such_file_or_directory);
}

TEST_F(spawn_test, exec_failure_enoent)
{
  expect_spawn_error(
      temp_path("does-not-exist"), errc::no_such_file_or_directory);
}

TEST_F(spawn_test, exec_failure_eacces_for_a_non_executable_file)
{
  const std::string file = temp_path("script");
  pidfd_test::write_file(file, "#!/bin/sh\nexit 0\n", 0644);
  expect_spawn_error(file, errc::permission_denied);
}

TEST_F(spawn_test, exec_failure_eacces_for_a_directory)
{
  expect_spawn_error(temp_dir(), errc::permission_denied);
}

TEST_F(spawn_test, exec_failure_enoexec)
{
  const std::string file = temp_path("garbage");
  pidfd_test::write_file(
      file, std::string_view("\x01\x02\x03garbage\n\xff", 12), 0755);
  // Unlike execvp, no retry through /bin/sh.
  expect_spawn_error(file, errc::executable_format_error);
}

TEST_F(spawn_test, exec_failure_enotdir)
{
  const std::string file = temp_path("file");
  pidfd_test::write_file(file, "x");
  expect_spawn_error(file + "/program", errc::not_a_directory);
}

TEST_F(spawn_test, empty_program)
{
  expect_spawn_error("", pidfd::error::empty_program);
  error_code ec;
  pidfd::spawn(ctx, "", {}, {}, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
}

TEST_F(spawn_test, embedded_nul)
{
  using namespace std::string_view_literals;
  const error_code nul = pidfd::error::embedded_nul;
  error_code ec;

  pidfd::spawn(ctx, "/bin/true\0x"sv, {}, {}, ec);
  EXPECT_EQ(ec, nul);
  EXPECT_EQ(ec, errc::invalid_argument);

  pidfd::spawn(ctx, child_program, {"exit", "0\0"sv}, {}, ec);
  EXPECT_EQ(ec, nul);

  pidfd::spawn(
      ctx, child_program, {"exit", "0"}, {.argv0 = std::string("a\0b", 3)}, ec);
  EXPECT_EQ(ec, nul);

  EXPECT_THROW(
      pidfd::spawn(ctx, child_program, {"\0"sv}), boost::system::system_error);
  EXPECT_FALSE(pidfd_test::children_left());
}

TEST_F(spawn_test, error_code_is_cleared_on_success)
{
  error_code ec = pidfd::error::process_done;
  auto p = pidfd::spawn(ctx, child_program, {"exit", "0"}, {}, ec);
  EXPECT_FALSE(ec) << ec.message();
  ASSERT_TRUE(p.is_open());
  EXPECT_GT(p.id(), 0);
  EXPECT_TRUE(p.wait().success());
}

// As in Asio (tcp::socket s(ctx)), an object made from a context is the
// plain type, here pidfd::process: it can be passed to a function taking
// pidfd::process&. A typed executor is what one gets by passing one.
int wait_code(pidfd::process& p)
{
  return p.wait().code();
}

TEST_F(spawn_test, from_an_io_context)
{
  auto p = pidfd::spawn(ctx, child_program, {"exit", "5"});
  static_assert(std::is_same_v<decltype(p), pidfd::process>);
  EXPECT_EQ(p.get_executor(), boost::asio::any_io_executor(ctx.get_executor()));
  EXPECT_EQ(wait_code(p), 5);

  error_code ec;
  pidfd::spawn_error_info info;
  static_assert(
      std::is_same_v<decltype(pidfd::spawn(ctx, child_program, {}, {}, ec)),
          pidfd::process>);
  static_assert(std::is_same_v<decltype(pidfd::spawn(
                                   ctx, child_program, {}, {}, ec, info)),
      pidfd::process>);
}

TEST_F(spawn_test, from_an_executor)
{
  auto p = pidfd::spawn(ctx.get_executor(), child_program, {"exit", "6"});
  static_assert(std::is_same_v<decltype(p),
      pidfd::basic_process<boost::asio::io_context::executor_type>>);
  EXPECT_EQ(p.wait().code(), 6);

  boost::asio::any_io_executor any = ctx.get_executor();
  pidfd::process q = pidfd::spawn(any, child_program, {"exit", "7"});
  EXPECT_EQ(q.get_executor(), any);
  EXPECT_EQ(q.wait().code(), 7);
}

TEST_F(spawn_test, from_a_strand)
{
  auto strand = boost::asio::make_strand(ctx);
  auto p = pidfd::spawn(strand, child_program, {"exit", "8"});
  static_assert(
      std::is_same_v<decltype(p), pidfd::basic_process<decltype(strand)>>);
  EXPECT_EQ(p.get_executor(), strand);
  bool called = false;
  p.async_wait([&](error_code ec, pidfd::exit_status s) {
    called = true;
    EXPECT_TRUE(strand.running_in_this_thread());
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(s.code(), 8);
  });
  run();
  EXPECT_TRUE(called);
}

TEST_F(spawn_test, no_parent_fd_leaks_into_the_child)
{
  // Deliberately without O_CLOEXEC.
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  pidfd_test::unique_fd r(pipe_fds[0]), w(pipe_fds[1]);
  pidfd_test::unique_fd file(::open("/dev/null", O_RDONLY));
  pidfd_test::unique_fd dir(::open("/", O_RDONLY | O_DIRECTORY));
  pidfd_test::unique_fd high(::fcntl(r.get(), F_DUPFD, 100));
  ASSERT_GE(file.get(), 0);
  ASSERT_GE(dir.get(), 0);
  ASSERT_GE(high.get(), 100);
  ASSERT_EQ(::fcntl(high.get(), F_GETFD) & FD_CLOEXEC, 0);

  // A live process object's pidfd must not leak either.
  auto other = pidfd::spawn(ctx, child_program, {"pause"});

  const std::string file_list = temp_path("fds");
  auto p = pidfd::spawn(ctx, child_program, {"write-fds", file_list});
  ASSERT_TRUE(p.wait().success());
  EXPECT_EQ(pidfd_test::read_file(file_list), "");

  EXPECT_EQ(exit_code_of(child_program, {"count-fds"}), 0);
  other.signal(SIGKILL);
  other.wait();
}

TEST_F(spawn_test, no_fd_leaks_while_other_threads_open_fds)
{
  // The child shares the parent's fd table until it unshares it: fds that
  // other threads create meanwhile must not reach it either.
  std::atomic<bool> stop{false};
  std::thread opener([&] {
    while (!stop.load())
    {
      int fds[2];
      if (::pipe(fds) == 0)
      {
        ::close(fds[0]);
        ::close(fds[1]);
      }
    }
  });
  int leaks = 0;
  for (int i = 0; i < 50; ++i)
    leaks += exit_code_of(child_program, {"count-fds"}) != 0;
  stop = true;
  opener.join();
  EXPECT_EQ(leaks, 0);
}

TEST_F(spawn_test, with_thousands_of_fds_open)
{
  constexpr int extra = 3000;
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  if (old.rlim_max != RLIM_INFINITY && old.rlim_max < extra + 100)
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << old.rlim_max << " is below "
                 << extra + 100;
  rlimit raised = old;
  raised.rlim_cur = std::max<rlim_t>(old.rlim_cur, extra + 100);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &raised), 0);

  std::vector<pidfd_test::unique_fd> fds;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  fds.emplace_back(pipe_fds[0]);
  fds.emplace_back(pipe_fds[1]);
  while (fds.size() < extra)
  {
    int fd = ::dup(pipe_fds[0]); // dup clears FD_CLOEXEC
    ASSERT_GE(fd, 0);
    fds.emplace_back(fd);
  }

  EXPECT_EQ(exit_code_of(child_program, {"count-fds"}), 0);
  EXPECT_EQ(exit_code_of(child_program, {"exit", "9"}), 9);

  fds.clear();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
}

TEST_F(spawn_test, from_many_threads_at_once)
{
  constexpr int threads = 4;
  constexpr int per_thread = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
  {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i)
      {
        const int code = (t * per_thread + i) % 256;
        error_code ec;
        auto p = pidfd::spawn(
            ctx, child_program, {"exit", std::to_string(code)}, {}, ec);
        if (ec)
        {
          ADD_FAILURE() << "spawn: " << ec.message();
          continue;
        }
        pidfd::exit_status s = p.wait(ec);
        if (!ec && s.exited() && s.code() == code)
          ++ok;
        else
          ADD_FAILURE() << "wait: " << ec.message() << ", " << s;
      }
    });
  }
  for (auto& t : pool)
    t.join();
  EXPECT_EQ(ok.load(), threads * per_thread);
}

// The test thread's signal mask and dispositions, restored on exit.
class signal_guard
{
public:
  signal_guard()
  {
    ::pthread_sigmask(SIG_SETMASK, nullptr, &mask_);
    ::sigaction(SIGUSR1, nullptr, &usr1_);
    ::sigaction(SIGUSR2, nullptr, &usr2_);
    ::sigaction(SIGCHLD, nullptr, &chld_);
  }
  signal_guard(const signal_guard&) = delete;
  ~signal_guard()
  {
    ::sigaction(SIGUSR1, &usr1_, nullptr);
    ::sigaction(SIGUSR2, &usr2_, nullptr);
    ::sigaction(SIGCHLD, &chld_, nullptr);
    ::pthread_sigmask(SIG_SETMASK, &mask_, nullptr);
  }

private:
  sigset_t mask_{};
  struct sigaction usr1_
  {
  };
  struct sigaction usr2_
  {
  };
  struct sigaction chld_
  {
  };
};

// The child's view of a signal (see the signal-state mode).
constexpr int is_default = 1;
constexpr int is_ignored = 2;
constexpr int is_blocked = 4;

TEST_F(spawn_test, signal_mask_is_inherited)
{
  signal_guard guard;
  sigset_t block;
  ::sigemptyset(&block);
  ::sigaddset(&block, SIGUSR1);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, nullptr), 0);

  EXPECT_EQ(
      exit_code_of(child_program, {"signal-state", std::to_string(SIGUSR1)}),
      is_default | is_blocked);
  EXPECT_EQ(
      exit_code_of(child_program, {"signal-state", std::to_string(SIGUSR2)}),
      is_default);
}

TEST_F(spawn_test, spawn_does_not_change_the_parent_signal_mask)
{
  signal_guard guard;
  sigset_t block;
  ::sigemptyset(&block);
  ::sigaddset(&block, SIGUSR2);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, nullptr), 0);
  sigset_t before, after;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &before);
  EXPECT_EQ(exit_code_of(child_program, {"exit", "0"}), 0);
  ::pthread_sigmask(SIG_SETMASK, nullptr, &after);
  for (int sig = 1; sig < NSIG; ++sig)
    EXPECT_EQ(::sigismember(&before, sig), ::sigismember(&after, sig)) << sig;
}

void on_signal(int) {}

TEST_F(spawn_test, caught_signals_are_reset_ignored_stay_ignored)
{
  signal_guard guard;
  struct sigaction caught
  {
  };
  caught.sa_handler = &on_signal;
  ::sigemptyset(&caught.sa_mask);
  ASSERT_EQ(::sigaction(SIGUSR1, &caught, nullptr), 0);
  struct sigaction ignored
  {
  };
  ignored.sa_handler = SIG_IGN;
  ::sigemptyset(&ignored.sa_mask);
  ASSERT_EQ(::sigaction(SIGUSR2, &ignored, nullptr), 0);

  EXPECT_EQ(
      exit_code_of(child_program, {"signal-state", std::to_string(SIGUSR1)}),
      is_default);
  EXPECT_EQ(
      exit_code_of(child_program, {"signal-state", std::to_string(SIGUSR2)}),
      is_ignored);
}

TEST_F(spawn_test, with_sigchld_ignored)
{
  // The kernel then reaps children itself. Spawning must still run the
  // program (Boost.Process v2's forked children ran the parent's code) and
  // report exec failures, and waits must end.
  signal_guard guard;
  struct sigaction ignored
  {
  };
  ignored.sa_handler = SIG_IGN;
  ::sigemptyset(&ignored.sa_mask);
  ASSERT_EQ(::sigaction(SIGCHLD, &ignored, nullptr), 0);

  const std::string file = temp_path("args");
  auto p = pidfd::spawn(ctx, child_program, {"print-args", file});
  error_code ec;
  pidfd::exit_status s = p.wait(ec);
  EXPECT_TRUE(ec == errc::no_child_process || s.success())
      << ec.message() << ", " << s;
  EXPECT_EQ(pidfd_test::read_lines(file),
      (std::vector<std::string>{child_program, "print-args", file}));

  expect_spawn_error(temp_path("missing"), errc::no_such_file_or_directory);
}

} // namespace
