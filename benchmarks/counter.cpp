//
// benchmarks/counter.cpp
// ~~~~~~~~~~~~~~~~~~~~~~
// The program `pidfd_bench counts` runs under its system-call tracer
// (syscall_trace.cpp), once per variant:
//
//   bench_counter VARIANT WARMUP N1 N2 [fanout]
//
// WARMUP sequential spawn+waits of the static child, then N1, then N2,
// each batch begun with a marker system call (phases 1, 2; phase 3 after
// the last), and prints "allocations A1 A2": the heap allocations of the
// two batches ("-" where not counted). The difference of the two batches
// divided by N2 - N1 is the cost of one cycle, free of what a batch costs
// once (an io_context run, a coroutine frame). With "fanout", each batch
// is a fan-out instead (the variant's run_fanout: N children spawned, then
// all awaited), the warm-up one of WARMUP children.
//
// Allocations are counted by replacing malloc, calloc, realloc and the
// aligned allocators (Asio's recycling allocator takes aligned_alloc) with
// wrappers around glibc's own. operator new goes through malloc, so C++
// allocations count once. A realloc counts as one allocation.
//

#include "bench.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string_view>

#include <sys/syscall.h>
#include <unistd.h>

#if PIDFD_BENCH_COUNT_ALLOCATIONS

namespace {

std::atomic<long> allocations{0};

void count() noexcept
{
  allocations.fetch_add(1, std::memory_order_relaxed);
}

bool power_of_two(std::size_t n)
{
  return n != 0 && (n & (n - 1)) == 0;
}

} // namespace

// glibc's allocator under its other names (GLIBC_2.2.5 / 2.17 symbols).
extern "C" void* __libc_malloc(std::size_t);
extern "C" void* __libc_calloc(std::size_t, std::size_t);
extern "C" void* __libc_realloc(void*, std::size_t);
extern "C" void* __libc_memalign(std::size_t, std::size_t);

extern "C" void* malloc(std::size_t n) noexcept
{
  count();
  return __libc_malloc(n);
}

extern "C" void* calloc(std::size_t n, std::size_t size) noexcept
{
  count();
  return __libc_calloc(n, size);
}

extern "C" void* realloc(void* p, std::size_t n) noexcept
{
  count();
  return __libc_realloc(p, n);
}

extern "C" void* aligned_alloc(std::size_t align, std::size_t n) noexcept
{
  count();
  return __libc_memalign(align, n);
}

extern "C" void* memalign(std::size_t align, std::size_t n) noexcept
{
  count();
  return __libc_memalign(align, n);
}

extern "C" int posix_memalign(
    void** out, std::size_t align, std::size_t n) noexcept
{
  if (!power_of_two(align) || align % sizeof(void*) != 0)
    return EINVAL;
  count();
  void* p = __libc_memalign(align, n);
  if (!p)
    return ENOMEM;
  *out = p;
  return 0;
}

namespace {

long allocations_now()
{
  return allocations.load(std::memory_order_relaxed);
}

} // namespace

#else

namespace {

// Not counted.
long allocations_now()
{
  return -1;
}

} // namespace

#endif

namespace {

void mark(long phase)
{
  ::syscall(SYS_getppid, bench::count_marker, phase);
}

int run(int argc, char** argv)
{
  const bool fanout = argc == 6 && std::string_view(argv[5]) == "fanout";
  if (argc != 5 && !fanout)
  {
    std::fprintf(
        stderr, "usage: bench_counter VARIANT WARMUP N1 N2 [fanout]\n");
    return 2;
  }
  const int warmup = std::atoi(argv[2]);
  const int n1 = std::atoi(argv[3]);
  const int n2 = std::atoi(argv[4]);
  const bench::command cmd(bench::child_program, {});
  std::unique_ptr<bench::spawner> s = bench::make_spawner(argv[1]);
  auto batch = [&](int n) {
    if (fanout)
      s->run_fanout(cmd, n);
    else
      s->run_sequential(cmd, n, nullptr);
  };
  batch(warmup);
  mark(1);
  const long a0 = allocations_now();
  batch(n1);
  const long a1 = allocations_now();
  mark(2);
  batch(n2);
  const long a2 = allocations_now();
  mark(3);
  if (a0 < 0)
    std::printf("allocations - -\n");
  else
    std::printf("allocations %ld %ld\n", a1 - a0, a2 - a1);
  return 0;
}

} // namespace

int main(int argc, char** argv)
{
  try
  {
    return run(argc, argv);
  }
  catch (const std::exception& e)
  {
    std::fprintf(stderr, "bench_counter: %s\n", e.what());
    return 1;
  }
}
