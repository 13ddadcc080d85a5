//
// test/support/fixture.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
//

#include "support/fixture.hpp"

#include "pidfd/spawn.hpp"

#include "detail/blocking_pool.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace pidfd_test {
namespace {

[[noreturn]] void throw_errno(const char* what)
{
  throw std::system_error(errno, std::generic_category(), what);
}

// The parent PID in /proc/<pid>/stat (field 4, after the comm field,
// which may itself hold spaces and parentheses).
pid_t parent_of(const std::string& pid)
{
  // read(2), not an ifstream: a process reaped while we read (by the wait4
  // pool, say) fails the read with ESRCH, which libstdc++ would throw.
  std::string text;
  int fd = ::open(("/proc/" + pid + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  char buf[1024];
  ssize_t n;
  do
    n = ::read(fd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0)
    return 0;
  text.assign(buf, static_cast<std::size_t>(n));
  std::size_t paren = text.rfind(')');
  if (paren == std::string::npos)
    return 0;
  std::istringstream fields(text.substr(paren + 1));
  std::string state;
  pid_t ppid = 0;
  fields >> state >> ppid;
  return ppid;
}

// Our children, running or zombie, from /proc.
std::vector<pid_t> children()
{
  std::vector<pid_t> result;
  const pid_t self = ::getpid();
  DIR* dir = ::opendir("/proc");
  if (!dir)
    return result;
  while (dirent* e = ::readdir(dir))
  {
    std::string name = e->d_name;
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (name.empty() || !std::all_of(name.begin(), name.end(), digit))
      continue;
    if (parent_of(name) == self)
      result.push_back(static_cast<pid_t>(std::stol(name)));
  }
  ::closedir(dir);
  return result;
}

// Spawns and waits once before the first test, so that what the library
// creates once per process on first use (the probe's results; in the wait4
// fallback its thread pool and eventfd) exists before any fixture takes its
// snapshot of open fds: only what a test leaves behind counts as a leak.
class warm_up : public ::testing::Environment
{
public:
  void SetUp() override
  {
    boost::asio::io_context ctx;
    boost::system::error_code ec;
    auto p = pidfd::spawn(ctx, child_program, {"exit", "0"}, {}, ec);
    if (ec)
      return; // the tests that spawn will report it
    p.async_wait([](boost::system::error_code, pidfd::exit_status) {});
    ctx.run();
  }
};

[[maybe_unused]] const auto* const registered =
    ::testing::AddGlobalTestEnvironment(new warm_up);

} // namespace

std::set<int> open_fds()
{
  std::set<int> fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir)
    throw_errno("opendir /proc/self/fd");
  const int own = ::dirfd(dir);
  while (dirent* e = ::readdir(dir))
  {
    if (e->d_name[0] == '.')
      continue;
    int fd = std::atoi(e->d_name);
    if (fd != own)
      fds.insert(fd);
  }
  ::closedir(dir);
  return fds;
}

std::string describe_fd(int fd)
{
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  char target[512];
  ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
  if (n < 0)
    return "?";
  return std::string(target, static_cast<std::size_t>(n));
}

bool has_children()
{
  siginfo_t info{};
  int r;
  do
    r = ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT | __WALL);
  while (r < 0 && errno == EINTR);
  return !(r < 0 && errno == ECHILD);
}

bool children_left()
{
  using namespace std::chrono_literals;
  pidfd::detail::blocking_pool::wait_until_idle(
      std::chrono::steady_clock::now() + 10s);
  return has_children();
}

std::vector<pid_t> kill_and_reap_children()
{
  std::vector<pid_t> all;
  // A child seen by waitid may be missing from /proc for an instant while
  // it is created; a few rounds find it.
  for (int round = 0; round < 100 && has_children(); ++round)
  {
    for (pid_t pid : children())
    {
      all.push_back(pid);
      ::kill(pid, SIGKILL);
      int status;
      while (::waitpid(pid, &status, __WALL) < 0 && errno == EINTR)
      {
      }
    }
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
}

void wait_exited(int pidfd, pid_t pid)
{
  // Without the library's pidfd (the wait4 fallback), a pidfd of our own:
  // waitid(WNOWAIT) would race the pool thread, which reaps the child the
  // moment it exits (and then waitid fails with ECHILD).
  unique_fd own;
  if (pidfd < 0)
  {
    own.reset(pidfd_test::pidfd_open(pid));
    if (own.get() < 0 && errno == ESRCH)
      return; // exited and already reaped
    pidfd = own.get();
  }
  if (pidfd >= 0)
  {
    pollfd p{pidfd, POLLIN, 0};
    int r;
    do
      r = ::poll(&p, 1, -1);
    while (r < 0 && errno == EINTR);
    if (r != 1)
      throw_errno("poll pidfd");
    return;
  }
  // A kernel without pidfd_open.
  siginfo_t info{};
  int r;
  do
    r = ::waitid(
        P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT | __WALL);
  while (r < 0 && errno == EINTR);
  if (r != 0)
    throw_errno("waitid WNOWAIT");
}

int reap(pid_t pid)
{
  int status = 0;
  pid_t r;
  do
    r = ::waitpid(pid, &status, __WALL);
  while (r < 0 && errno == EINTR);
  if (r != pid)
    throw_errno("waitpid");
  return status;
}

pid_t posix_spawn_child(std::initializer_list<std::string_view> args)
{
  std::vector<std::string> strings{child_program};
  strings.insert(strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : strings)
    argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int e = ::posix_spawn(
      &pid, child_program, nullptr, nullptr, argv.data(), environ);
  if (e != 0)
    throw std::system_error(e, std::generic_category(), "posix_spawn");
  return pid;
}

pid_t unused_pid()
{
  for (;;)
  {
    pid_t pid = posix_spawn_child({"exit", "0"});
    reap(pid);
    // Another process may have been given the PID already: try again.
    if (::kill(pid, 0) < 0 && errno == ESRCH)
      return pid;
  }
}

int pidfd_open(pid_t pid, unsigned int flags)
{
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, flags));
}

int pidfd_send_signal(int pidfd, int sig)
{
  return static_cast<int>(
      ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0u));
}

std::string read_file(const std::string& path)
{
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + path);
  return std::string(
      (std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::string> read_lines(const std::string& path)
{
  std::vector<std::string> lines;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

std::string cores_not_in_cwd()
{
  std::string pattern = read_file("/proc/sys/kernel/core_pattern");
  while (!pattern.empty() && pattern.back() == '\n')
    pattern.pop_back();
  if (pattern.empty() || pattern.find_first_of("/|@%") != std::string::npos)
    return "core_pattern \"" + pattern
        + "\" does not write core files into the working directory";
  return {};
}

std::size_t remove_core_files(const std::string& dir)
{
  const std::string name = read_file("/proc/sys/kernel/core_pattern");
  const std::string plain = name.substr(0, name.find('\n'));
  std::size_t removed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
  {
    const std::string file = entry.path().filename().string();
    if (file == plain || file.rfind(plain + ".", 0) == 0)
    {
      std::filesystem::remove(entry.path());
      ++removed;
    }
  }
  return removed;
}

void write_file(
    const std::string& path, std::string_view text, unsigned int mode)
{
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    throw_errno("open for writing");
  ssize_t n = ::write(fd, text.data(), text.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size()))
    throw_errno("write");
  // open() applies the umask; the tests need the exact mode.
  if (::chmod(path.c_str(), mode) != 0)
    throw_errno("chmod");
}

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept
{
  reset(other.release());
  return *this;
}

unique_fd::~unique_fd()
{
  reset();
}

void unique_fd::reset(int fd) noexcept
{
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = fd;
}

fixture::fixture() : context_(std::in_place), ctx(*context_) {}

fixture::~fixture() = default;

void fixture::SetUp()
{
  fds_ = open_fds();
  if (has_children())
  {
    std::vector<pid_t> left = kill_and_reap_children();
    ADD_FAILURE() << "a child was left before this test started ("
                  << left.size() << " reaped)";
  }
}

void fixture::TearDown()
{
  // Handlers still queued hold process objects: destroy them first.
  context_.reset();

  if (!temp_dir_.empty())
  {
    std::error_code ec;
    std::filesystem::remove_all(temp_dir_, ec);
    EXPECT_FALSE(ec) << "removing " << temp_dir_ << ": " << ec.message();
  }

  expect_clean();
}

void fixture::expect_clean()
{
  if (children_left())
  {
    std::vector<pid_t> left = kill_and_reap_children();
    std::string pids;
    for (pid_t pid : left)
      pids += " " + std::to_string(pid);
    ADD_FAILURE() << "the test left a child or zombie behind; killed and "
                  << "reaped:" << pids;
  }

  std::set<int> now = open_fds();
  for (int fd : now)
  {
    if (fds_.count(fd))
      continue;
    ADD_FAILURE() << "the test leaked fd " << fd << " (" << describe_fd(fd)
                  << ")";
    // Closed so that later tests do not report it again.
    ::close(fd);
  }
  for (int fd : fds_)
  {
    if (!now.count(fd))
    {
      ADD_FAILURE() << "the test closed fd " << fd << ", which it did not "
                    << "open";
    }
  }
}

const std::string& fixture::temp_dir()
{
  if (temp_dir_.empty())
  {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base && *base ? base : "/tmp") + "/pidfd-test-XXXXXX";
    if (!::mkdtemp(pattern.data()))
      throw_errno("mkdtemp");
    temp_dir_ = pattern;
  }
  return temp_dir_;
}

std::string fixture::temp_path(std::string_view name)
{
  return temp_dir() + "/" + std::string(name);
}

std::size_t fixture::run()
{
  std::size_t n = ctx.run();
  ctx.restart();
  return n;
}

subreaper_guard::subreaper_guard()
{
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    throw_errno("PR_SET_CHILD_SUBREAPER");
}

subreaper_guard::~subreaper_guard()
{
  ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}

} // namespace pidfd_test
