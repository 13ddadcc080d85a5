//
// test/soak/soak.cpp
// ~~~~~~~~~~~~~~~~~~
// Many spawn/wait cycles with every way of ending a wait mixed at random,
// on an io_context run by two threads; at the end no fd, no child and no
// thread may be left over, and memory must be flat.
//
//   pidfd_soak CYCLES [SEED]
//
// Each of 16 workers runs CYCLES / 16 cycles, each one scenario drawn at
// random: a plain wait; SIGKILL through async_signal; a wait raced against
// a short timer, then async_terminate; destroying the process object while
// a wait is outstanding (the library reaps the orphan); two concurrent
// waits on one object; a wait cancelled through its cancellation slot,
// then a signal and a second wait; async_run; async_run cancelled (each
// cancellation type) right after its child started. The children are the
// helper child (test/support/child.cpp). Prints the figures; exit status 0
// if every check passed.
//

#include <pidfd/asio.hpp>

#include "detail/wait4_pool.hpp"
#include "support/child.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <sys/resource.h>
#include <sys/wait.h>

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using boost::system::error_code;

namespace {

// The sanitizer runtimes change what can be compared before and after:
// AddressSanitizer's quarantine keeps freed memory; ThreadSanitizer's
// runtime starts a thread of its own during the run and grows its shadow
// memory with every thread and allocation it tracks.
#if defined(__has_feature)
#define PIDFD_SOAK_HAS_FEATURE(x) __has_feature(x)
#else
#define PIDFD_SOAK_HAS_FEATURE(x) 0
#endif

#if defined(__SANITIZE_ADDRESS__) || PIDFD_SOAK_HAS_FEATURE(address_sanitizer)
constexpr bool address_sanitizer = true;
#else
constexpr bool address_sanitizer = false;
#endif

#if defined(__SANITIZE_THREAD__) || PIDFD_SOAK_HAS_FEATURE(thread_sanitizer)
constexpr bool thread_sanitizer = true;
#else
constexpr bool thread_sanitizer = false;
#endif

std::atomic<int> failures{0};

void check(bool ok, const char* what)
{
  if (!ok && failures++ < 20)
    std::fprintf(stderr, "FAILED: %s\n", what);
}

int count_entries(const char* dir)
{
  int n = 0;
  if (DIR* d = ::opendir(dir))
  {
    while (dirent* e = ::readdir(d))
      n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

// Minus the fd opendir itself holds while listing.
int open_fds()
{
  return count_entries("/proc/self/fd") - 1;
}
int threads()
{
  return count_entries("/proc/self/task");
}

long rss_kib()
{
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r"))
  {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2)
      resident = 0;
    std::fclose(f);
  }
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

bool has_children()
{
  siginfo_t info{};
  return ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0;
}

// The helper child's modes. Arguments live outside the coroutine: g++ 12
// rejects the backing array of a braced initializer_list inside one ("array
// used as initializer").
using pidfd_test::child_program;
const std::vector<std::string> exit_0{"exit", "0"};
const std::vector<std::string> pause_long{"pause"};
const std::vector<std::string> exit_7{"exit", "7"};
const std::vector<std::string> print_both{"write", "out\n", "err\n"};

asio::awaitable<void> cycle(int scenario, unsigned variant)
{
  auto ex = co_await asio::this_coro::executor;
  error_code ec;
  switch (scenario)
  {
  case 0: // plain wait
  {
    pidfd::process p = pidfd::spawn(ex, child_program, exit_0);
    pidfd::exit_status s = co_await p.async_wait(asio::use_awaitable);
    check(s.success(), "exit 0 exits with 0");
    break;
  }
  case 1: // signal, then wait
  {
    pidfd::process p = pidfd::spawn(ex, child_program, pause_long);
    co_await p.async_signal(SIGKILL, asio::use_awaitable);
    pidfd::exit_status s = co_await p.async_wait(asio::use_awaitable);
    check(s.signaled() && s.signal() == SIGKILL, "SIGKILL is reported");
    break;
  }
  case 2: // a wait raced against a timer, then graceful termination
  {
    pidfd::process p = pidfd::spawn(ex, child_program, pause_long);
    asio::steady_timer timer(ex, 1ms);
    auto first = co_await (p.async_wait(asio::use_awaitable)
        || timer.async_wait(asio::use_awaitable));
    check(first.index() == 1, "the timer wins against pause");
    pidfd::exit_status s =
        co_await p.async_terminate(50ms, asio::use_awaitable);
    check(s.signaled(), "terminate ends the child by a signal");
    break;
  }
  case 3: // destroy while waiting; the library reaps the orphan
  {
    std::optional<pidfd::process> p;
    pidfd::spawn_options kill_on_destroy;
    kill_on_destroy.kill_on_destroy = true;
    p.emplace(pidfd::spawn(ex, child_program, pause_long, kill_on_destroy));
    p->async_wait([](error_code e, pidfd::exit_status) {
      check(e == asio::error::operation_aborted,
          "destroying the object aborts its wait");
    });
    p.reset();
    break;
  }
  case 4: // two waits on one object
  {
    pidfd::process p = pidfd::spawn(ex, child_program, exit_7);
    auto [a, b] = co_await (
        p.async_wait(asio::use_awaitable) && p.async_wait(asio::use_awaitable));
    check(a.code() == 7 && b.code() == 7, "both waits get exit code 7");
    break;
  }
  case 5: // per-operation cancellation, then a second wait
  {
    pidfd::process p = pidfd::spawn(ex, child_program, pause_long);
    // The handler owns the signal: a slot must outlive its operation.
    auto cancel = std::make_shared<asio::cancellation_signal>();
    p.async_wait(asio::bind_cancellation_slot(
        cancel->slot(), [cancel](error_code e, pidfd::exit_status) {
          check(e == asio::error::operation_aborted,
              "a cancelled wait reports operation_aborted");
        }));
    cancel->emit(asio::cancellation_type::total);
    p.signal(SIGTERM, ec);
    check(!ec, "the child still runs after a cancelled wait");
    pidfd::exit_status s = co_await p.async_wait(asio::use_awaitable);
    check(s.signaled() && s.signal() == SIGTERM, "SIGTERM is reported");
    break;
  }
  case 6: // async_run cancelled while its child runs: the run stops it
  {
    constexpr asio::cancellation_type types[] = {
        asio::cancellation_type::terminal, asio::cancellation_type::partial,
        asio::cancellation_type::total};
    const asio::cancellation_type type = types[variant % 3];
    auto cancel = std::make_shared<asio::cancellation_signal>();
    pidfd::run_options options;
    options.grace = 50ms;
    options.on_spawn = [cancel, type](
                           const pidfd::run_child&) { cancel->emit(type); };
    auto [e, r] = co_await pidfd::async_run(ex, child_program, pause_long,
        std::move(options),
        asio::bind_cancellation_slot(
            cancel->slot(), asio::as_tuple(asio::use_awaitable)));
    check(e == asio::error::operation_aborted,
        "a cancelled run reports operation_aborted");
    check(r.status.signaled()
            && r.status.signal()
                == (type == asio::cancellation_type::terminal ? SIGKILL
                                                              : SIGTERM),
        "a cancelled run stops its child with the right signal");
    break;
  }
  default: // async_run
  {
    pidfd::run_result r = co_await pidfd::async_run(ex, child_program,
        print_both, pidfd::run_options(), asio::use_awaitable);
    check(r.out == "out\n" && r.err == "err\n", "async_run captures");
    break;
  }
  }
}

// Pool threads (wait4 fallback) exit once idle; a thread that has left the
// pool may still be finishing its exit, so look until only this one is
// left. False if the pool did not empty.
bool settle_pool_threads()
{
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  const bool empty = pidfd::detail::wait4_pool::wait_until_empty(deadline);
  while (!thread_sanitizer && threads() > 1
      && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  return empty;
}

asio::awaitable<void> worker(int cycles, unsigned seed)
{
  std::mt19937 rng(seed);
  for (int i = 0; i < cycles; ++i)
  {
    try
    {
      const int scenario = static_cast<int>(rng() % 8);
      co_await cycle(scenario, static_cast<unsigned>(rng()));
    }
    catch (const std::exception& e)
    {
      check(false, e.what());
    }
  }
}

} // namespace

int main(int argc, char* argv[])
{
  const int cycles = argc > 1 ? std::atoi(argv[1]) : 20000;
  const unsigned seed = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2]))
                                 : std::random_device()();
  const int workers = 16;
  pidfd::detail::wait4_pool::set_idle_timeout(100ms);
  std::printf(
      "%s\nseed %u\n", pidfd::kernel_support().to_string().c_str(), seed);

  // A short first round, so that lazily created state (the probe, Asio's
  // services, allocator pools) is part of the baseline.
  {
    asio::io_context ctx;
    for (int w = 0; w < workers; ++w)
      asio::co_spawn(ctx, worker(2, seed + 1000 + w), asio::detached);
    ctx.run();
  }
  settle_pool_threads();
  const int fds_before = open_fds();
  const int threads_before = threads();
  const long rss_before = rss_kib();

  const auto start = std::chrono::steady_clock::now();
  {
    asio::io_context ctx;
    // Each worker on a strand of its own, as Asio requires of a coroutine
    // that runs operations in parallel (awaitable operators, terminate) on
    // a multi-threaded io_context; the workers still run on both threads
    // at once and share the library's state.
    for (int w = 0; w < workers; ++w)
      asio::co_spawn(asio::make_strand(ctx), worker(cycles / workers, seed + w),
          asio::detached);
    std::thread second([&] { ctx.run(); });
    ctx.run();
    second.join();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();

  const bool pool_empty = settle_pool_threads();
  const int fds_after = open_fds();
  const int threads_after = threads();
  const long rss_after = rss_kib();
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);

  std::printf("cycles %d in %.1f s (%.0f/s), 2 io_context threads, "
              "%d workers\n",
      (cycles / workers) * workers, seconds,
      (cycles / workers) * workers / seconds, workers);
  std::printf("fds %d -> %d, threads %d -> %d, zombies/children left: %s\n",
      fds_before, fds_after, threads_before, threads_after,
      has_children() ? "yes" : "none");
  std::printf("rss %ld KiB -> %ld KiB, peak rss %ld KiB\n", rss_before,
      rss_after, usage.ru_maxrss);

  check(fds_after == fds_before, "no fd is leaked");
  check(pool_empty, "the wait4 pool has no thread left");
  if (!thread_sanitizer)
    check(threads_after == threads_before, "no thread is left over");
  check(!has_children(), "no child or zombie is left");
  // Flat memory: the allocator may keep some of what the peak needed.
  // Under the sanitizers the check would measure their runtimes, not us.
  if (!address_sanitizer && !thread_sanitizer)
    check(rss_after <= rss_before + 16 * 1024, "memory stays flat");
  std::printf("%s\n", failures == 0 ? "soak: ok" : "soak: FAILED");
  return failures == 0 ? 0 : 1;
}
