//
// benchmarks/bench_child.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// The benchmarks' own "true": static, without libc or a dynamic loader, so
// that the child's start-up (a few microseconds) does not hide the spawner's
// cost as /bin/true's ld.so and libc set-up (~0.3 ms) would.
//
//   bench_child          exits 0 at once.
//   bench_child <file>   maps <file> MAP_SHARED, stores CLOCK_MONOTONIC in
//                        its first 16 bytes (a struct timespec), exits 0.
//
// The second form measures exit-notification latency (scenario S4): the
// clock is read by the last system call before exit_group, and the parent
// reads the stamp from its own MAP_SHARED mapping of the same file.
//

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

namespace {

#if defined(__x86_64__)

long raw_syscall(long nr, long a = 0, long b = 0, long c = 0, long d = 0,
    long e = 0, long f = 0)
{
  long ret;
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  register long r9 asm("r9") = f;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
               : "rcx", "r11", "memory");
  return ret;
}

#elif defined(__aarch64__)

long raw_syscall(long nr, long a = 0, long b = 0, long c = 0, long d = 0,
    long e = 0, long f = 0)
{
  register long x8 asm("x8") = nr;
  register long x0 asm("x0") = a;
  register long x1 asm("x1") = b;
  register long x2 asm("x2") = c;
  register long x3 asm("x3") = d;
  register long x4 asm("x4") = e;
  register long x5 asm("x5") = f;
  asm volatile("svc 0"
               : "+r"(x0)
               : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
               : "memory");
  return x0;
}

#else
#error "bench_child supports x86_64 and aarch64"
#endif

[[noreturn]] void exit_group(int code)
{
  for (;;)
    raw_syscall(SYS_exit_group, code);
}

} // namespace

// Called by _start with the initial stack pointer: argc, argv[], 0, envp[].
extern "C" [[noreturn]] void bench_child_main(long* sp)
{
  const long argc = sp[0];
  char** argv = reinterpret_cast<char**>(sp + 1);
  if (argc < 2)
    exit_group(0);

  long fd = raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>(argv[1]),
      O_RDWR | O_CLOEXEC);
  if (fd < 0)
    exit_group(2);
  long page =
      raw_syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (page < 0 && page > -4096)
    exit_group(3);
  // The kernel writes the time straight into the shared page; nothing but
  // exit_group follows.
  raw_syscall(SYS_clock_gettime, CLOCK_MONOTONIC, page);
  exit_group(0);
}

#if defined(__x86_64__)
asm(R"(
    .text
    .globl  _start
    .type   _start, @function
_start:
    xor     %ebp, %ebp
    mov     %rsp, %rdi
    and     $-16, %rsp
    call    bench_child_main
    hlt
    .size   _start, .-_start
    .section .note.GNU-stack,"",@progbits
    .text
)");
#elif defined(__aarch64__)
asm(R"(
    .text
    .globl  _start
    .type   _start, %function
_start:
    mov     x29, #0
    mov     x30, #0
    mov     x0, sp
    bl      bench_child_main
    .size   _start, .-_start
    .section .note.GNU-stack,"",@progbits
    .text
)");
#endif
