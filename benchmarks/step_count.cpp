//
// benchmarks/step_count.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// User-space instructions counted by single-stepping, where a VM has no
// hardware counters (`perf stat -e instructions:u` is "not supported"
// here) and valgrind refuses pidfd-asio's clone3:
//
//   bench_steps [--addresses FILE] PROGRAM ARGS...
//
// runs PROGRAM under ptrace, one PTRACE_SINGLESTEP at a time, and prints
// the number of steps: one per user-space instruction of its first thread
// (a system call is one; a rep-prefixed string instruction is one per
// iteration, since the CPU traps after each: the `rep stos` that zeroes a
// 752-byte struct counts 94). Children and other threads are not followed, so
// their instructions are not counted: the spawn+wait loops of
// `pidfd_bench loop` run on one thread. The count of one cycle is the
// difference of two runs that differ only in their number of cycles:
//
//   (bench_steps pidfd_bench loop VARIANT 120 static
//    - bench_steps pidfd_bench loop VARIANT 20 static) / 100
//
// With --addresses, FILE receives "address count" lines, one per
// instruction address stepped, and FILE.maps the program's
// /proc/PID/maps as it exits, to attribute the steps to functions (with
// nm, for instance; x86_64 only). Slow: about 80 us per step on these
// VMs.
//

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <unordered_map>

#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

int fail(const char* what)
{
  std::fprintf(stderr, "bench_steps: %s: %s\n", what, std::strerror(errno));
  return 1;
}

bool copy_file(const std::string& from, const std::string& to)
{
  std::ifstream in(from);
  std::ofstream out(to);
  out << in.rdbuf();
  return static_cast<bool>(out);
}

} // namespace

int main(int argc, char** argv)
{
  int first = 1;
  const char* addresses = nullptr;
  if (argc > 2 && std::strcmp(argv[1], "--addresses") == 0)
  {
    addresses = argv[2];
    first = 3;
  }
#if !defined(__x86_64__)
  if (addresses)
  {
    std::fprintf(stderr, "bench_steps: --addresses: x86_64 only\n");
    return 2;
  }
#endif
  if (argc <= first)
  {
    std::fprintf(
        stderr, "usage: bench_steps [--addresses FILE] PROGRAM ARGS...\n");
    return 2;
  }
  const pid_t pid = ::fork();
  if (pid < 0)
    return fail("fork");
  if (pid == 0)
  {
    ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    ::execv(argv[first], argv + first);
    std::fprintf(
        stderr, "bench_steps: %s: %s\n", argv[first], std::strerror(errno));
    ::_exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid)
    return fail("waitpid");
  if (!WIFSTOPPED(status)) // its execve failed, and it said why
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  // The exit stops it once more while its maps are still there.
  if (::ptrace(PTRACE_SETOPTIONS, pid, nullptr,
          reinterpret_cast<void*>(PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL))
      != 0)
    return fail("PTRACE_SETOPTIONS");
  std::uint64_t steps = 0;
  std::unordered_map<std::uint64_t, std::uint64_t> by_address;
  int signal = 0;
  for (;;)
  {
    if (::ptrace(PTRACE_SINGLESTEP, pid, nullptr,
            reinterpret_cast<void*>(static_cast<long>(signal)))
        != 0)
      return fail("PTRACE_SINGLESTEP");
    signal = 0;
    if (::waitpid(pid, &status, 0) != pid)
      return fail("waitpid");
    if (WIFEXITED(status) || WIFSIGNALED(status))
      break;
    if (status >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8)))
    {
      if (addresses
          && !copy_file("/proc/" + std::to_string(pid) + "/maps",
              std::string(addresses) + ".maps"))
        return fail("copying the maps");
      continue;
    }
    if (WSTOPSIG(status) != SIGTRAP)
    {
      signal = WSTOPSIG(status); // the program's own: delivered
      continue;
    }
    ++steps;
#if defined(__x86_64__)
    if (addresses)
    {
      user_regs_struct regs{};
      if (::ptrace(PTRACE_GETREGS, pid, nullptr, &regs) != 0)
        return fail("PTRACE_GETREGS");
      ++by_address[regs.rip];
    }
#endif
  }
  if (addresses)
  {
    std::FILE* f = std::fopen(addresses, "w");
    if (!f)
      return fail(addresses);
    for (const auto& [address, count] : by_address)
      std::fprintf(f, "%llx %llu\n", static_cast<unsigned long long>(address),
          static_cast<unsigned long long>(count));
    std::fclose(f);
  }
  std::printf("%llu\n", static_cast<unsigned long long>(steps));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
