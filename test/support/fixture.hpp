//
// test/support/fixture.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// The fixture every test uses, and helpers for acting on processes behind
// the library's back.
//

#ifndef PIDFD_TEST_SUPPORT_FIXTURE_HPP
#define PIDFD_TEST_SUPPORT_FIXTURE_HPP

#include "pidfd/basic_process.hpp"
#include "pidfd/kernel_support.hpp"
#include "support/child.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <cstddef>
#include <exception>
#include <future>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sys/types.h>
#include <unistd.h>

/// Skips a test about pidfds themselves (native_handle(), release(),
/// adopt_pidfd(), non-child adoption) where the library has none: the
/// wait4 fallback.
#define PIDFD_TEST_REQUIRE_PIDFD()                                             \
  if (!::pidfd::kernel_support().pidfd)                                        \
  GTEST_SKIP() << "needs pidfds; the wait4 fallback has none"

namespace pidfd_test {

/// The open file descriptors of this process.
std::set<int> open_fds();

/// What an fd refers to, for messages ("pipe:[1234]").
std::string describe_fd(int fd);

/// True if this process has any child, running or zombie.
bool has_children();

/// has_children(), once the library's background reaping is over: in the
/// wait4 fallback a pool thread reaps the children of destroyed process
/// objects, so this first waits (up to 10 s) until the pool has no job
/// left. Natively that reaping runs on the io_context, and nothing waits.
bool children_left();

/// Kills and reaps every child of this process; returns their PIDs.
std::vector<pid_t> kill_and_reap_children();

/// Blocks until the process has exited, leaving its status uncollected:
/// polls the pidfd for readability (without one, a pidfd of its own). In
/// the wait4 fallback a pool thread that waits for the child may have
/// reaped it by the time this returns.
void wait_exited(int pidfd, pid_t pid);

template <typename Executor>
void wait_exited(const pidfd::basic_process<Executor>& p)
{
  wait_exited(p.native_handle(), p.id());
}

/// Reaps our child, returning its waitpid status word.
int reap(pid_t pid);

/// Starts the helper child with posix_spawn, outside the library.
pid_t posix_spawn_child(std::initializer_list<std::string_view> args);

/// A PID that no process has now: that of a child just reaped.
pid_t unused_pid();

/// pidfd_open(2) / pidfd_send_signal(2), for tests acting behind the
/// library's back. Return -1 with errno set on failure.
int pidfd_open(pid_t pid, unsigned int flags = 0);
int pidfd_send_signal(int pidfd, int sig);

std::string read_file(const std::string& path);
std::vector<std::string> read_lines(const std::string& path);

/// True if `part` occurs in `text`.
inline bool contains(std::string_view text, std::string_view part)
{
  return text.find(part) != std::string_view::npos;
}

/// A co_spawn completion handler: rethrows what the coroutine threw, so
/// that it fails the test that runs the io_context.
inline void rethrow(std::exception_ptr e)
{
  if (e)
    std::rethrow_exception(e);
}
void write_file(
    const std::string& path, std::string_view text, unsigned int mode = 0644);

/// Why a process that dumps core would not leave its core file in its
/// working directory ("" if it would): kernel.core_pattern is a path, a
/// pipe or a socket, not a plain name such as "core".
std::string cores_not_in_cwd();

/// Removes the core files in `dir` (named as a plain core_pattern names
/// them: "core" or "core.<pid>"); returns how many there were.
std::size_t remove_core_files(const std::string& dir);

/// A thread of this process (not the main one), alive for the object's
/// lifetime: its id is a thread id that is not a process id.
class other_thread
{
public:
  other_thread()
    : thread_([this] {
        tid_.set_value(::gettid());
        release_.get_future().wait();
      })
  {
  }
  other_thread(const other_thread&) = delete;
  other_thread& operator=(const other_thread&) = delete;
  ~other_thread()
  {
    release_.set_value();
    thread_.join();
  }

  pid_t tid() { return tid_future_.get(); }

private:
  std::promise<pid_t> tid_;
  std::future<pid_t> tid_future_ = tid_.get_future();
  std::promise<void> release_;
  std::thread thread_;
};

/// A wait's outcome, recorded by its handler (which fails the test if it
/// is invoked twice).
struct wait_outcome
{
  bool called = false;
  boost::system::error_code ec;
  pidfd::exit_status status;

  auto handler()
  {
    return [this](boost::system::error_code e, pidfd::exit_status s) {
      EXPECT_FALSE(called) << "handler invoked twice";
      called = true;
      ec = e;
      status = s;
    };
  }
};

/// Closes an fd on destruction.
class unique_fd
{
public:
  unique_fd() = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept;
  ~unique_fd();

  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept;

private:
  int fd_ = -1;
};

/// Makes this process a child subreaper until destroyed, so that orphaned
/// descendants become its children (and can be reaped by the test) instead
/// of going to an init that may not reap them.
class subreaper_guard
{
public:
  subreaper_guard();
  subreaper_guard(const subreaper_guard&) = delete;
  subreaper_guard& operator=(const subreaper_guard&) = delete;
  ~subreaper_guard();
};

/// Every test derives from this fixture. TearDown fails the test if it
/// leaked a file descriptor or left a child (running or zombie) behind, and
/// then cleans up so that later tests start clean.
class fixture : public ::testing::Test
{
protected:
  fixture();
  ~fixture() override;

  void SetUp() override;
  void TearDown() override;

  /// A directory for this test only, removed by TearDown.
  const std::string& temp_dir();

  /// temp_dir() + "/" + name.
  std::string temp_path(std::string_view name);

  /// Runs ctx until it runs out of work, then makes it runnable again.
  std::size_t run();

  /// What TearDown checks: fails the test for every child (killed and
  /// reaped) and every fd opened since SetUp (closed).
  void expect_clean();

private:
  // Destroyed by TearDown before the fd check: the reactor opens its fds
  // on first use, after SetUp took its snapshot.
  std::optional<boost::asio::io_context> context_;
  std::set<int> fds_;
  std::string temp_dir_;

protected:
  boost::asio::io_context& ctx;
};

} // namespace pidfd_test

#endif // PIDFD_TEST_SUPPORT_FIXTURE_HPP
