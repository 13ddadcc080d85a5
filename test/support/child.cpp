//
// test/support/child.cpp
// ~~~~~~~~~~~~~~~~~~~~~~
// The one program the tests spawn. argv[1] names a mode of the table in
// modes(); "pidfd_test_child --help" lists them with their operands. It is
// not under test: it does one small thing per mode and reports through its
// exit code, its output or a file. Exit codes 100-103 mean the child itself
// failed (support/child.hpp).
//

#include "support/child.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

using pidfd_test::child_io_error;
using pidfd_test::child_still_alive;
using pidfd_test::child_unknown_mode;
using pidfd_test::child_usage_error;

// The whole command line: argv[0] the program, argv[1] the mode, then the
// mode's operands.
using arguments = std::span<char* const>;

// A last-resort limit on the modes that block until a signal kills them,
// so that a child whose test crashed does not run forever. Below ctest's
// 60 s timeout; no test waits that long on purpose.
constexpr unsigned guard_seconds = 50;

//------------------------------------------------------------------------------
// I/O helpers.

bool write_all(int fd, std::string_view text)
{
  while (!text.empty())
  {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads fd until EOF; false on a read error. Keeps what was read if asked.
bool drain(int fd, std::string* into = nullptr)
{
  char buf[4096];
  for (;;)
  {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    if (n == 0)
      return true;
    if (into)
      into->append(buf, static_cast<std::size_t>(n));
  }
}

// Writes text to a new file at path. The file is opened last, so that a
// mode listing its fds never lists this one.
int write_file(const char* path, std::string_view text)
{
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return child_io_error;
  const bool ok = write_all(fd, text);
  return ::close(fd) == 0 && ok ? 0 : child_io_error;
}

// Blocks until a byte arrives on the FIFO at path.
bool wait_for_byte(const std::string& path)
{
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  char c;
  const bool ok = fd >= 0 && ::read(fd, &c, 1) == 1;
  if (fd >= 0)
    ::close(fd);
  return ok;
}

[[noreturn]] void block()
{
  ::alarm(guard_seconds);
  for (;;)
    ::pause();
}

// This process's open fds, sorted, without the one that lists them.
std::vector<int> open_fds()
{
  std::vector<int> fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir)
    std::exit(child_io_error);
  const int own = ::dirfd(dir);
  while (dirent* e = ::readdir(dir))
  {
    if (e->d_name[0] == '.')
      continue;
    const int fd = std::atoi(e->d_name);
    if (fd != own)
      fds.push_back(fd);
  }
  ::closedir(dir);
  std::sort(fds.begin(), fds.end());
  return fds;
}

std::vector<int> open_fds_above_stdio()
{
  std::vector<int> fds = open_fds();
  std::erase_if(fds, [](int fd) { return fd < 3; });
  return fds;
}

std::string link_of(int fd)
{
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  char target[512];
  ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
  return n < 0 ? std::string("?")
               : std::string(target, static_cast<std::size_t>(n));
}

// "<link>|<r, w or rw>|<append 0 or 1>|<dev>:<ino>", or "closed".
std::string describe(int fd)
{
  const int flags = ::fcntl(fd, F_GETFL);
  struct stat st
  {
  };
  if (flags == -1 || ::fstat(fd, &st) != 0)
    return "closed";
  const int mode = flags & O_ACCMODE;
  const char* access = mode == O_RDONLY ? "r" : mode == O_WRONLY ? "w" : "rw";
  return link_of(fd) + "|" + access + "|" + ((flags & O_APPEND) ? "1" : "0")
      + "|" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

//------------------------------------------------------------------------------
// Exit codes, signals and CPU time.

int exit_with(arguments argv)
{
  return std::atoi(argv[2]);
}

int signal_self(arguments argv)
{
  const int sig = std::atoi(argv[2]);
  // No core file, and no core dump bit in the status: tests that want one
  // build the status with exit_status::from_wait_status instead.
  rlimit none{0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  ::signal(sig, SIG_DFL);
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, sig);
  ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
  ::raise(sig);
  return child_still_alive;
}

int pause_until_killed(arguments)
{
  block();
}

int signal_state(arguments argv)
{
  const int sig = std::atoi(argv[2]);
  struct sigaction current
  {
  };
  if (::sigaction(sig, nullptr, &current) != 0)
    return child_io_error;
  int state = 0;
  if (current.sa_handler == SIG_DFL)
    state |= 1;
  if (current.sa_handler == SIG_IGN)
    state |= 2;
  sigset_t mask;
  ::sigprocmask(SIG_SETMASK, nullptr, &mask);
  if (::sigismember(&mask, sig) == 1)
    state |= 4;
  return state;
}

// User-mode CPU time so far, as the kernel reports it to a wait (its split
// of the CPU time between user and system mode).
double user_cpu_ms()
{
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec) * 1e3
      + static_cast<double>(usage.ru_utime.tv_usec) / 1e3;
}

int burn_cpu(arguments argv)
{
  const double target = std::atof(argv[2]);
  volatile unsigned long sink = 0;
  // User time, not the process's whole CPU time: a sanitizer runtime's
  // start-up (mapping its shadow memory) can spend the whole target in
  // system time on a loaded machine, and the loop then never ran (user
  // time 0, which exit_status_test.resource_usage_* rightly counts as a
  // failure; seen under ASan in CI). About a millisecond of spinning
  // between reads: each read is a system call, and with one every 10,000
  // rounds the kernel's sampled split once put all of the time in system
  // time.
  while (user_cpu_ms() < target)
    for (int i = 0; i < 1000000; ++i)
      sink = sink + static_cast<unsigned long>(i);
  return 0;
}

//------------------------------------------------------------------------------
// What the child was given.

int count_fds(arguments)
{
  return static_cast<int>(open_fds_above_stdio().size());
}

int write_fds(arguments argv)
{
  std::string text;
  for (int fd : open_fds_above_stdio())
    text += std::to_string(fd) + "\n";
  return write_file(argv[2], text);
}

int print_args(arguments argv)
{
  std::string text;
  for (const char* arg : argv)
    text.append(arg).append("\n");
  return write_file(argv[2], text);
}

int report(arguments argv)
{
  std::string text;
  auto line = [&](std::string_view key, const std::string& value) {
    text.append(key).append("=").append(value).append("\n");
  };
  line("pid", std::to_string(::getpid()));
  line("ppid", std::to_string(::getppid()));
  line("pgid", std::to_string(::getpgid(0)));
  line("sid", std::to_string(::getsid(0)));
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  ::getresuid(&ruid, &euid, &suid);
  ::getresgid(&rgid, &egid, &sgid);
  line("uid",
      std::to_string(ruid) + "," + std::to_string(euid) + ","
          + std::to_string(suid));
  line("gid",
      std::to_string(rgid) + "," + std::to_string(egid) + ","
          + std::to_string(sgid));
  std::vector<gid_t> groups(static_cast<std::size_t>(::getgroups(0, nullptr)));
  groups.resize(static_cast<std::size_t>(
      ::getgroups(static_cast<int>(groups.size()), groups.data())));
  std::sort(groups.begin(), groups.end());
  std::string list;
  for (gid_t g : groups)
    list += (list.empty() ? "" : ",") + std::to_string(g);
  line("groups", list);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  char octal[8];
  std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mask));
  line("umask", octal);
  char cwd[4096];
  line("cwd", ::getcwd(cwd, sizeof cwd) ? cwd : "?");
  int pdeath = 0;
  ::prctl(PR_GET_PDEATHSIG, &pdeath, 0, 0, 0);
  line("pdeathsig", std::to_string(pdeath));
  line(
      "no_new_privs", std::to_string(::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)));
  for (int fd = 0; fd < 3; ++fd)
    line("fd" + std::to_string(fd), describe(fd));
  std::string extra;
  for (int fd : open_fds_above_stdio())
  {
    extra += (extra.empty() ? "" : ",") + std::to_string(fd);
    line("fd" + std::to_string(fd), describe(fd));
  }
  line("fds", extra);
  for (char** e = environ; e && *e; ++e)
    line("env", *e);
  return write_file(argv[2], text);
}

//------------------------------------------------------------------------------
// Standard streams.

int echo(arguments)
{
  std::string data;
  if (!drain(0, &data))
    return child_io_error;
  return write_all(1, data) ? 0 : child_io_error;
}

int write_out_err(arguments argv)
{
  return write_all(1, argv[2]) && write_all(2, argv[3]) ? 0 : child_io_error;
}

int interleave(arguments)
{
  return write_all(1, "1") && write_all(2, "2") && write_all(1, "3")
      ? 0
      : child_io_error;
}

int flood(arguments argv)
{
  const std::size_t bytes = std::strtoull(argv[2], nullptr, 10);
  constexpr std::size_t chunk = 65536;
  std::string buf(chunk, '\0');
  for (std::size_t done = 0; done < bytes; done += chunk)
  {
    const std::size_t n = std::min(chunk, bytes - done);
    for (int s = 0; s < 2; ++s)
    {
      for (std::size_t i = 0; i < n; ++i)
        buf[i] = pidfd_test::flood_pattern(done + i, s);
      if (!write_all(1 + s, std::string_view(buf.data(), n)))
        return child_io_error;
    }
  }
  return 0;
}

int flood_forever(arguments)
{
  const std::string chunk(4096, 'x');
  while (write_all(1, chunk))
  {
  }
  return errno == EPIPE ? 4 : child_io_error;
}

int linger(arguments)
{
  return drain(0) ? 0 : child_io_error;
}

int ready_linger(arguments argv)
{
  if (argv.size() == 3 && !write_all(1, argv[2]))
    return child_io_error;
  if (!write_all(3, "ready\n") || !drain(0))
    return child_io_error;
  return write_all(3, "bye\n") ? 0 : child_io_error;
}

int term_fd = 1;

void on_term(int)
{
  const char text[] = "term\n";
  [[maybe_unused]] ssize_t n = ::write(term_fd, text, sizeof text - 1);
}

int catch_term(arguments argv)
{
  term_fd = argv.size() == 3 ? std::atoi(argv[2]) : 1;
  struct sigaction sa
  {
  };
  sa.sa_handler = on_term;
  sa.sa_flags = SA_RESTART;
  ::sigemptyset(&sa.sa_mask);
  if (::sigaction(SIGTERM, &sa, nullptr) != 0)
    return child_io_error;
  if (!write_all(term_fd, "ready\n") || !drain(0))
    return child_io_error;
  return 0;
}

int close_stdin(arguments)
{
  ::close(0);
  return write_all(1, "closed\n") ? 0 : child_io_error;
}

int close_stdio(arguments argv)
{
  ::close(0);
  ::close(1);
  ::close(2);
  if (argv.size() == 3)
    return std::atoi(argv[2]);
  block();
}

//------------------------------------------------------------------------------
// Grandchildren.

int grandchild(arguments argv)
{
  const std::string dir = argv[2];
  // N, or "core": the grandchild dumps core into DIR (a shell that kills
  // itself with SIGABRT, RLIMIT_CORE raised to its hard limit).
  const bool dump_core = std::string_view(argv[3]) == "core";
  const int code = dump_core ? 0 : std::atoi(argv[3]);
  const bool hold = argv.size() == 5 && std::string_view(argv[4]) == "hold";
  const pid_t pid = ::fork();
  if (pid < 0)
    return child_io_error;
  if (pid == 0)
  {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (!wait_for_byte(dir + "/go"))
      ::_exit(child_io_error);
    if (!dump_core)
      ::_exit(code);
    rlimit core{};
    ::getrlimit(RLIMIT_CORE, &core);
    core.rlim_cur = core.rlim_max;
    ::setrlimit(RLIMIT_CORE, &core);
    if (::chdir(dir.c_str()) == 0)
      ::execl("/bin/sh", "sh", "-c", "kill -ABRT $$", nullptr);
    ::_exit(child_io_error);
  }
  const std::string report = dir + "/pid";
  const int fd = ::open(report.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return child_io_error;
  const bool written = write_all(fd, std::to_string(pid) + "\n");
  if (::close(fd) != 0 || !written)
    return child_io_error;
  // Leaves the grandchild a zombie until the test says so.
  if (hold && !wait_for_byte(dir + "/reap"))
    return child_io_error;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return child_io_error;
  if (dump_core)
    return WIFSIGNALED(status) && WCOREDUMP(status) ? 0 : 1;
  return WIFEXITED(status) && WEXITSTATUS(status) == code ? 0 : 1;
}

int orphan(arguments argv)
{
  const int lifeline = argv.size() == 3 ? std::atoi(argv[2]) : 0;
  const pid_t pid = ::fork();
  if (pid < 0)
    return child_io_error;
  if (pid == 0)
  {
    // Holds fds 0-2 open until the lifeline ends, which a dying test
    // brings too.
    drain(lifeline);
    ::_exit(0);
  }
  return write_all(1, std::to_string(pid) + "\n") ? 0 : child_io_error;
}

volatile std::sig_atomic_t leader_signalled = 0;

void on_group_signal(int)
{
  leader_signalled = 1;
}

int group_report(arguments argv)
{
  const int sig = std::atoi(argv[2]);
  struct sigaction sa
  {
  };
  sa.sa_handler = on_group_signal;
  sa.sa_flags = SA_RESTART;
  ::sigemptyset(&sa.sa_mask);
  if (::sigaction(sig, &sa, nullptr) != 0)
    return child_io_error;
  // Blocked across the fork, so that the grandchild cannot get SIG while
  // it still has this process's handler.
  sigset_t set, old;
  ::sigemptyset(&set);
  ::sigaddset(&set, sig);
  ::sigprocmask(SIG_BLOCK, &set, &old);
  const pid_t pid = ::fork();
  if (pid < 0)
    return child_io_error;
  if (pid == 0)
  {
    ::signal(sig, SIG_DFL);
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    block();
  }
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  if (!write_all(1, std::to_string(pid) + "\n"))
    return child_io_error;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return child_io_error;
  std::string how = WIFSIGNALED(status)
      ? "signaled " + std::to_string(WTERMSIG(status))
      : "exited " + std::to_string(WEXITSTATUS(status));
  std::string text = "grandchild " + how + "\n";
  if (leader_signalled)
    text += "leader got " + std::to_string(sig) + "\n";
  return write_all(1, text) ? 0 : child_io_error;
}

int hold_stdin(arguments)
{
  const pid_t pid = ::fork();
  if (pid < 0)
    return child_io_error;
  if (pid == 0)
  {
    ::close(1);
    ::close(2);
    drain(3);
    ::_exit(0);
  }
  ::close(3);
  block();
}

//------------------------------------------------------------------------------
// The table.

// What a mode does with the parent-death signal.
enum class parent_death
{
  // Sets SIGKILL, so that a test that crashes leaves no child behind
  // holding ctest's output pipe open; exits at once if that test is gone.
  with_test,
  // Keeps the signal spawn set: the tests of parent_death_signal read it
  // or rely on it, and nothing else may set one.
  as_given,
};

struct mode
{
  std::string_view name;
  std::string_view operands; // the synopsis, for --help and usage errors
  std::size_t min_operands;
  std::size_t max_operands;
  parent_death death;
  int (*run)(arguments argv);
  std::string_view description;
};

constexpr std::size_t any = static_cast<std::size_t>(-1);
constexpr auto with_test = parent_death::with_test;
constexpr auto as_given = parent_death::as_given;

// clang-format off
constexpr mode modes[] = {
  {"exit", "N", 1, 1, with_test, exit_with,
    "exits with code N"},
  {"signal-self", "SIG", 1, 1, with_test, signal_self,
    "dies of signal SIG, without dumping core"},
  {"pause", "", 0, 0, with_test, pause_until_killed,
    "blocks until a signal kills it (SIGALRM after 50 s)"},
  {"signal-state", "SIG", 1, 1, with_test, signal_state,
    "exit code: 1 if SIG is SIG_DFL, 2 if SIG_IGN, plus 4 if blocked"},
  {"burn-cpu", "MS", 1, 1, with_test, burn_cpu,
    "spins until it has used MS ms of user CPU time, exits 0"},
  {"count-fds", "", 0, 0, with_test, count_fds,
    "exit code: the number of its open fds other than 0-2"},
  {"write-fds", "PATH", 1, 1, with_test, write_fds,
    "writes its open fds other than 0-2 to PATH, one per line"},
  {"print-args", "PATH [ARG...]", 1, any, with_test, print_args,
    "writes its argv, argv[0] first, to PATH, one per line"},
  {"report", "PATH", 1, 1, as_given, report,
    "writes key=value lines to PATH: ids, credentials, umask, cwd, "
    "pdeathsig, no_new_privs, fds, env"},
  {"echo", "", 0, 0, as_given, echo,
    "copies stdin to stdout once stdin reaches EOF"},
  {"write", "OUT ERR", 2, 2, as_given, write_out_err,
    "writes OUT to stdout, then ERR to stderr"},
  {"interleave", "", 0, 0, as_given, interleave,
    "writes \"1\" to stdout, \"2\" to stderr, \"3\" to stdout"},
  {"flood", "BYTES", 1, 1, with_test, flood,
    "writes BYTES bytes of flood_pattern to stdout and stderr, in "
    "alternating 64 KiB chunks"},
  {"flood-forever", "", 0, 0, with_test, flood_forever,
    "writes to stdout until that fails: exits 4 on EPIPE, or dies of "
    "SIGPIPE"},
  {"linger", "", 0, 0, as_given, linger,
    "reads stdin until EOF, exits 0"},
  {"ready-linger", "[TEXT]", 0, 1, as_given, ready_linger,
    "writes TEXT to stdout, \"ready\\n\" to fd 3, reads stdin until EOF, "
    "writes \"bye\\n\" to fd 3"},
  {"catch-term", "[FD]", 0, 1, as_given, catch_term,
    "writes \"term\\n\" to FD (stdout) on SIGTERM; \"ready\\n\" to FD, "
    "reads stdin until EOF"},
  {"close-stdin", "", 0, 0, as_given, close_stdin,
    "closes stdin, writes \"closed\\n\", exits 0"},
  {"close-stdio", "[N]", 0, 1, with_test, close_stdio,
    "closes fds 0-2, then exits with N, or without N blocks as pause"},
  {"grandchild", "DIR N [hold]", 2, 3, with_test, grandchild,
    "forks a grandchild exiting N (or dumping core in DIR, N = core) after a byte on FIFO DIR/go, its pid to "
    "FIFO DIR/pid, (hold: waits for a byte on FIFO DIR/reap,) reaps it: "
    "exits 0 if it exited N (or dumped core)"},
  {"orphan", "[FD]", 0, 1, with_test, orphan,
    "forks a grandchild that keeps fds 0-2 open until FD (stdin) reaches "
    "EOF, writes its pid and \"\\n\" to stdout, exits 0"},
  {"group-report", "SIG", 1, 1, as_given, group_report,
    "forks a blocking grandchild, writes its pid; once it is gone writes "
    "\"grandchild signaled|exited N\" and \"leader got SIG\" if SIG came "
    "here too"},
  {"hold-stdin", "", 0, 0, as_given, hold_stdin,
    "forks a grandchild that keeps stdin open, unread, until fd 3 reaches "
    "EOF; then blocks as pause"},
};
// clang-format on

std::string synopsis(std::string_view program, const mode& m)
{
  std::string text(program);
  text.append(" ").append(m.name);
  if (!m.operands.empty())
    text.append(" ").append(m.operands);
  return text;
}

std::string help(std::string_view program)
{
  std::string text = "usage: " + std::string(program)
      + " MODE [OPERAND...]\nmodes (exit codes 100-103: the child failed):\n";
  for (const mode& m : modes)
  {
    text += "  " + synopsis(program, m) + "\n      ";
    text.append(m.description).append("\n");
  }
  return text;
}

} // namespace

int main(int argc, char** argv)
{
  const arguments args(argv, static_cast<std::size_t>(argc));
  const std::string_view program = argc > 0 ? argv[0] : "pidfd_test_child";
  if (argc < 2)
  {
    write_all(2, help(program));
    return child_usage_error;
  }
  const std::string_view name = argv[1];
  if (name == "--help")
    return write_all(1, help(program)) ? 0 : child_io_error;
  const mode* m = std::find_if(std::begin(modes), std::end(modes),
      [&](const mode& candidate) { return candidate.name == name; });
  if (m == std::end(modes))
  {
    write_all(2,
        std::string(program) + ": unknown mode \"" + std::string(name)
            + "\" (--help lists the modes)\n");
    return child_unknown_mode;
  }
  const std::size_t operands = args.size() - 2;
  if (operands < m->min_operands || operands > m->max_operands)
  {
    write_all(2, "usage: " + synopsis(program, *m) + "\n");
    return child_usage_error;
  }
  if (m->death == parent_death::with_test)
  {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    // The test died before the signal was set: nothing waits for us.
    if (::getppid() == 1)
      return child_usage_error;
  }
  return m->run(args);
}
