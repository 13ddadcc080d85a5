//
// test/child/child.cpp
// ~~~~~~~~~~~~~~~~~~~~
// The program the tests spawn: argv[1] selects a mode. spawn has no stdio
// redirection yet, so the child reports through its exit code or a file.
//
//   exit N              exits with code N
//   signal-self SIG     dies of signal SIG, without dumping core
//   pause               blocks until a signal kills it
//   count-fds           exit code = number of open fds other than 0-2
//   write-fds PATH      writes its open fds to PATH, one per line
//   print-args PATH     writes argv[0..] to PATH, one per line
//   burn-cpu MS         spins until MS ms of CPU time were used, exits 0
//   signal-state SIG    exit code: 1 if SIG is SIG_DFL, 2 if SIG_IGN,
//                       4 added if SIG is blocked
//   grandchild DIR N [hold]
//                       forks a grandchild that waits for a byte on the
//                       FIFO DIR/go and exits with N; writes its pid to the
//                       FIFO DIR/pid, (with "hold": waits for a byte on the
//                       FIFO DIR/reap,) reaps it and exits 0 if it exited
//                       with N (1 otherwise)
// Exit codes 100-102 mean the child itself failed.
//

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

constexpr int usage_error = 100;
constexpr int io_error = 101;
constexpr int still_alive = 102;

// Open fds other than 0-2 and the one that lists them.
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
    int fd = std::atoi(e->d_name);
    if (fd > 2 && fd != own)
      fds.push_back(fd);
  }
  ::closedir(dir);
  return fds;
}

void write_file(const char* path, const std::string& text)
{
  FILE* f = std::fopen(path, "w");
  if (!f)
    std::exit(io_error);
  std::fwrite(text.data(), 1, text.size(), f);
  if (std::fclose(f) != 0)
    std::exit(io_error);
}

[[noreturn]] void signal_self(int sig)
{
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
  std::_Exit(still_alive);
}

double cpu_ms()
{
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3
      + static_cast<double>(ts.tv_nsec) / 1e6;
}

int signal_state(int sig)
{
  struct sigaction current
  {
  };
  if (::sigaction(sig, nullptr, &current) != 0)
    return io_error;
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

// Blocks until a byte arrives on the FIFO at path.
bool wait_for_byte(const std::string& path)
{
  int fd = ::open(path.c_str(), O_RDONLY);
  char c;
  bool ok = fd >= 0 && ::read(fd, &c, 1) == 1;
  if (fd >= 0)
    ::close(fd);
  return ok;
}

int grandchild(const std::string& dir, int code, bool hold)
{
  const std::string go = dir + "/go";
  const pid_t pid = ::fork();
  if (pid < 0)
    return io_error;
  if (pid == 0)
  {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    ::_exit(wait_for_byte(go) ? code : io_error);
  }
  const std::string report = dir + "/pid";
  int fd = ::open(report.c_str(), O_WRONLY);
  if (fd < 0)
    return io_error;
  const std::string text = std::to_string(pid) + "\n";
  if (::write(fd, text.data(), text.size())
      != static_cast<ssize_t>(text.size()))
    return io_error;
  ::close(fd);
  // Leaves the grandchild a zombie until the test says so.
  if (hold && !wait_for_byte(dir + "/reap"))
    return io_error;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return io_error;
  return WIFEXITED(status) && WEXITSTATUS(status) == code ? 0 : 1;
}

} // namespace

int main(int argc, char** argv)
{
  // Die with the test: a test that crashes must not leave a child behind
  // holding ctest's output pipe open.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (::getppid() == 1)
    return usage_error;
  if (argc < 2)
    return usage_error;
  const std::string_view mode = argv[1];
  if (mode == "exit" && argc == 3)
    return std::atoi(argv[2]);
  if (mode == "signal-self" && argc == 3)
    signal_self(std::atoi(argv[2]));
  if (mode == "pause" && argc == 2)
  {
    for (;;)
      ::pause();
  }
  if (mode == "count-fds" && argc == 2)
    return static_cast<int>(open_fds().size());
  if (mode == "write-fds" && argc == 3)
  {
    std::string text;
    for (int fd : open_fds())
      text += std::to_string(fd) + "\n";
    write_file(argv[2], text);
    return 0;
  }
  if (mode == "print-args" && argc >= 3)
  {
    std::string text;
    for (int i = 0; i < argc; ++i)
      text += std::string(argv[i]) + "\n";
    write_file(argv[2], text);
    return 0;
  }
  if (mode == "burn-cpu" && argc == 3)
  {
    const double target = std::atof(argv[2]);
    volatile unsigned long sink = 0;
    while (cpu_ms() < target)
      for (int i = 0; i < 10000; ++i)
        sink = sink + static_cast<unsigned long>(i);
    return 0;
  }
  if (mode == "signal-state" && argc == 3)
    return signal_state(std::atoi(argv[2]));
  if (mode == "grandchild" && (argc == 4 || argc == 5))
    return grandchild(argv[2], std::atoi(argv[3]),
        argc == 5 && std::string_view(argv[4]) == "hold");
  return usage_error;
}
