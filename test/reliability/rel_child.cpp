//
// test/reliability/rel_child.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The program the reliability tests spawn for stdio hazards, in addition to
// test/child/child.cpp. argv[1] selects a mode:
//
//   flood N         writes N bytes to stdout and N to stderr, interleaved in
//                   4 KiB chunks (byte i of each stream is 'a' + i % 26),
//                   then exits 0
//   flood-forever   writes to stdout until a write fails: exits 4 on EPIPE
//                   (SIGPIPE ignored), else dies of SIGPIPE
//   close-stdio     closes fds 0-2, then blocks until a signal kills it
//   close-stdio-exit N
//                   closes fds 0-2 and exits with N
//   drain           reads stdin until EOF, then exits 0
//   orphan          forks a grandchild that keeps fds 0-2 and reads stdin
//                   until EOF, then exits; writes the grandchild's PID and
//                   a newline to stdout and exits 0 without waiting for it
// Exit codes 100-101 mean the child itself failed.
//

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace {

constexpr int usage_error = 100;
constexpr int io_error = 101;

bool write_all(int fd, const char* data, std::size_t size)
{
  while (size > 0)
  {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

int flood(std::size_t total)
{
  char chunk[4096];
  for (std::size_t done = 0; done < total;)
  {
    const std::size_t n = std::min(sizeof chunk, total - done);
    for (std::size_t i = 0; i < n; ++i)
      chunk[i] = static_cast<char>('a' + (done + i) % 26);
    if (!write_all(1, chunk, n) || !write_all(2, chunk, n))
      return io_error;
    done += n;
  }
  return 0;
}

int flood_forever()
{
  char chunk[4096];
  std::memset(chunk, 'x', sizeof chunk);
  for (;;)
  {
    if (!write_all(1, chunk, sizeof chunk))
      return errno == EPIPE ? 4 : io_error;
  }
}

[[noreturn]] void block()
{
  for (;;)
    ::pause();
}

int drain()
{
  char buf[512];
  for (;;)
  {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n == 0)
      return 0;
    if (n < 0 && errno != EINTR)
      return io_error;
  }
}

int orphan()
{
  const pid_t pid = ::fork();
  if (pid < 0)
    return io_error;
  if (pid == 0)
  {
    // Holds stdout and stderr open until the test closes our stdin.
    char c;
    for (;;)
    {
      ssize_t n = ::read(0, &c, 1);
      if (n == 0 || (n < 0 && errno != EINTR))
        break;
    }
    ::_exit(0);
  }
  const std::string text = std::to_string(pid) + "\n";
  return write_all(1, text.data(), text.size()) ? 0 : io_error;
}

} // namespace

int main(int argc, char** argv)
{
  // Die with the test (the orphan's grandchild instead ends when the test
  // closes its stdin, which a dying test does too).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (argc < 2)
    return usage_error;
  const std::string_view mode = argv[1];
  if (mode == "flood" && argc == 3)
    return flood(std::strtoul(argv[2], nullptr, 10));
  if (mode == "flood-forever" && argc == 2)
    return flood_forever();
  if (mode == "close-stdio" && argc == 2)
  {
    ::close(0);
    ::close(1);
    ::close(2);
    block();
  }
  if (mode == "close-stdio-exit" && argc == 3)
  {
    ::close(0);
    ::close(1);
    ::close(2);
    return std::atoi(argv[2]);
  }
  if (mode == "drain" && argc == 2)
    return drain();
  if (mode == "orphan" && argc == 2)
    return orphan();
  return usage_error;
}
