//
// test/options/probe.cpp
// ~~~~~~~~~~~~~~~~~~~~~~
// The program the options tests spawn: it reports what it was given (fds,
// environment, directory, credentials, group) and behaves in the ways the
// terminate, orphan and run tests need. Unlike test/child, it never sets a
// parent-death signal of its own in the modes the parent-death tests use,
// so a signal it gets comes from the option under test.
//
//   report PATH     writes key=value lines to PATH (see report())
//   echo            copies stdin to stdout until EOF
//   write OUT ERR   writes OUT to stdout, then ERR to stderr
//   interleave      writes "1" to stdout, "2" to stderr, "3" to stdout
//   flood BYTES     writes BYTES bytes of pattern(0) to stdout and of
//                   pattern(1) to stderr, in alternating 64 KiB chunks
//   linger          reads stdin until EOF, exits 0
//   catch-term [FD] catches SIGTERM (writes "term\n" to FD, by default
//                   stdout), writes "ready\n" to FD, reads stdin until
//                   EOF, exits 0
//   pause           blocks until a signal kills it
//   close-stdin     closes stdin, writes "closed\n", exits 0
//   group-report SIG
//                   forks a grandchild (SIG at its default) that blocks;
//                   writes "<grandchild pid>\n"; once the grandchild is
//                   gone writes "grandchild <how it ended>\n" and
//                   "leader got SIG\n" if SIG reached this process too
//   ready-linger [TEXT]
//                   writes TEXT (if given) to stdout, "ready\n" to fd 3,
//                   reads stdin until EOF, writes "bye\n" to fd 3, exits 0
//   hold-stdin      forks a grandchild that keeps stdin open, unread,
//                   until fd 3 reaches EOF; then blocks as "pause"
//   daemonize       forks a grandchild that keeps stdout and stderr open
//                   until fd 3 reaches EOF, writes "started\n", exits 0
//
// Exit codes 100-102 mean the probe itself failed.
//

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

constexpr int usage_error = 100;
constexpr int io_error = 101;

// Blocks in pause() with a last-resort limit, so that a probe whose test
// crashed does not run forever.
constexpr unsigned guard_seconds = 50;

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

// Reads fd until EOF (or an error); returns what was read if asked to.
void drain(int fd, std::string* into = nullptr)
{
  char buf[4096];
  for (;;)
  {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    if (into)
      into->append(buf, static_cast<std::size_t>(n));
  }
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

std::vector<int> open_fds()
{
  std::vector<int> fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir)
    std::exit(io_error);
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

// Everything is gathered before PATH is opened, so that its fd is not
// reported.
int report(const char* path)
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
  for (int fd = 0; fd < 3; ++fd)
    line("fd" + std::to_string(fd), describe(fd));
  std::string extra;
  for (int fd : open_fds())
  {
    if (fd < 3)
      continue;
    extra += (extra.empty() ? "" : ",") + std::to_string(fd);
    line("fd" + std::to_string(fd), describe(fd));
  }
  line("fds", extra);
  for (char** e = environ; e && *e; ++e)
    line("env", *e);

  int out = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0)
    return io_error;
  const bool ok = write_all(out, text);
  return ::close(out) == 0 && ok ? 0 : io_error;
}

// Byte i of stream s: a pattern that a lost, repeated or swapped chunk
// breaks.
char pattern(std::size_t i, int s)
{
  const std::size_t v = i * 7 + i / 65536 + static_cast<std::size_t>(s);
  return static_cast<char>('a' + v % 26);
}

int flood(std::size_t bytes)
{
  constexpr std::size_t chunk = 65536;
  std::string buf(chunk, '\0');
  for (std::size_t done = 0; done < bytes; done += chunk)
  {
    const std::size_t n = std::min(chunk, bytes - done);
    for (int s = 0; s < 2; ++s)
    {
      for (std::size_t i = 0; i < n; ++i)
        buf[i] = pattern(done + i, s);
      if (!write_all(1 + s, std::string_view(buf.data(), n)))
        return io_error;
    }
  }
  return 0;
}

int term_fd = 1;

void on_term(int)
{
  const char text[] = "term\n";
  [[maybe_unused]] ssize_t n = ::write(term_fd, text, sizeof text - 1);
}

int catch_term(int fd)
{
  term_fd = fd;
  struct sigaction sa
  {
  };
  sa.sa_handler = on_term;
  sa.sa_flags = SA_RESTART;
  ::sigemptyset(&sa.sa_mask);
  if (::sigaction(SIGTERM, &sa, nullptr) != 0)
    return io_error;
  if (!write_all(fd, "ready\n"))
    return io_error;
  drain(0);
  return 0;
}

volatile std::sig_atomic_t leader_signalled = 0;

void on_group_signal(int)
{
  leader_signalled = 1;
}

int group_report(int sig)
{
  struct sigaction sa
  {
  };
  sa.sa_handler = on_group_signal;
  sa.sa_flags = SA_RESTART;
  ::sigemptyset(&sa.sa_mask);
  if (::sigaction(sig, &sa, nullptr) != 0)
    return io_error;
  // Blocked across the fork, so that the grandchild cannot get SIG while
  // it still has this process's handler.
  sigset_t set, old;
  ::sigemptyset(&set);
  ::sigaddset(&set, sig);
  ::sigprocmask(SIG_BLOCK, &set, &old);
  const pid_t pid = ::fork();
  if (pid < 0)
    return io_error;
  if (pid == 0)
  {
    ::signal(sig, SIG_DFL);
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    ::alarm(guard_seconds);
    for (;;)
      ::pause();
  }
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  if (!write_all(1, std::to_string(pid) + "\n"))
    return io_error;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return io_error;
  std::string how = WIFSIGNALED(status)
      ? "signaled " + std::to_string(WTERMSIG(status))
      : "exited " + std::to_string(WEXITSTATUS(status));
  std::string text = "grandchild " + how + "\n";
  if (leader_signalled)
    text += "leader got " + std::to_string(sig) + "\n";
  return write_all(1, text) ? 0 : io_error;
}

int hold_stdin()
{
  const pid_t pid = ::fork();
  if (pid < 0)
    return io_error;
  if (pid == 0)
  {
    ::close(1);
    ::close(2);
    drain(3);
    ::_exit(0);
  }
  ::close(3);
  ::alarm(guard_seconds);
  for (;;)
    ::pause();
}

int daemonize()
{
  const pid_t pid = ::fork();
  if (pid < 0)
    return io_error;
  if (pid == 0)
  {
    drain(3);
    ::_exit(0);
  }
  ::close(3);
  return write_all(1, "started\n") ? 0 : io_error;
}

} // namespace

int main(int argc, char** argv)
{
  if (argc < 2)
    return usage_error;
  const std::string_view mode = argv[1];
  if (mode == "report" && argc == 3)
    return report(argv[2]);
  if (mode == "echo" && argc == 2)
  {
    std::string data;
    drain(0, &data);
    return write_all(1, data) ? 0 : io_error;
  }
  if (mode == "write" && argc == 4)
    return write_all(1, argv[2]) && write_all(2, argv[3]) ? 0 : io_error;
  if (mode == "interleave" && argc == 2)
    return write_all(1, "1") && write_all(2, "2") && write_all(1, "3")
        ? 0
        : io_error;
  if (mode == "flood" && argc == 3)
    return flood(std::strtoull(argv[2], nullptr, 10));
  if (mode == "linger" && argc == 2)
  {
    drain(0);
    return 0;
  }
  if (mode == "ready-linger" && (argc == 2 || argc == 3))
  {
    if (argc == 3 && !write_all(1, argv[2]))
      return io_error;
    if (!write_all(3, "ready\n"))
      return io_error;
    drain(0);
    return write_all(3, "bye\n") ? 0 : io_error;
  }
  if (mode == "catch-term" && (argc == 2 || argc == 3))
    return catch_term(argc == 3 ? std::atoi(argv[2]) : 1);
  if (mode == "pause" && argc == 2)
  {
    // Dies with the test (hygiene only: no parent-death test uses it).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    ::alarm(guard_seconds);
    for (;;)
      ::pause();
  }
  if (mode == "close-stdin" && argc == 2)
  {
    ::close(0);
    return write_all(1, "closed\n") ? 0 : io_error;
  }
  if (mode == "group-report" && argc == 3)
    return group_report(std::atoi(argv[2]));
  if (mode == "hold-stdin" && argc == 2)
    return hold_stdin();
  if (mode == "daemonize" && argc == 2)
    return daemonize();
  return usage_error;
}
