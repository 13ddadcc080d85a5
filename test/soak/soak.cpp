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
// cancellation type) right after its child started. As root with a cgroup2
// mount, one cycle in 512 is a tree (sh starting two helper children in
// the background) spawned into a cgroup of its own, created in a soak-wide
// parent cgroup, then: kill_tree; async_terminate of the tree; signal_tree
// SIGKILL and async_wait_tree; async_wait_tree cancelled, then kill_tree;
// async_run with a tree scope stopped by a timeout, by its output limit,
// or (the child exited) by its wait delay. Each checks that the tree's
// cgroup is gone; at the end the parent must have no cgroup and no process
// left. The children are the helper child (test/support/child.cpp). Prints
// the figures; exit status 0 if every check passed.
//

#include <pidfd/asio.hpp>

#include "detail/blocking_pool.hpp"
#include "support/cgroup_fs.hpp"
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
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
using pidfd_test::cgroup2_mount;
using pidfd_test::child_program;
using pidfd_test::path_exists;
using pidfd_test::subdirectories;
const std::vector<std::string> exit_0{"exit", "0"};
const std::vector<std::string> pause_long{"pause"};
const std::vector<std::string> exit_7{"exit", "7"};
const std::vector<std::string> print_both{"write", "out\n", "err\n"};

// The tree cycles' soak-wide parent cgroup (empty: no tree cycles) and
// the cgroup2 mount it is in.
std::string cgroup_mount;
std::string tree_parent;

// The processes in a cgroup (not its descendants).
int cgroup_processes(const std::string& path)
{
  std::ifstream in(path + "/cgroup.procs");
  std::string line;
  int n = 0;
  while (std::getline(in, line))
    n += !line.empty();
  return n;
}

// The cgroup directory of a live process; empty if it cannot be read.
std::string cgroup_dir_of(pid_t pid)
{
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0)
      return cgroup_mount + line.substr(3);
  return {};
}

// Kills what is in a cgroup and its descendants and removes them; false
// if it is still there. For the soak's parent at the end, and for what a
// failed cycle may have left.
bool remove_cgroup(const std::string& path)
{
  for (const std::string& sub : subdirectories(path))
    remove_cgroup(path + "/" + sub);
  if (::rmdir(path.c_str()) == 0)
    return true;
  if (FILE* f = std::fopen((path + "/cgroup.kill").c_str(), "w"))
  {
    std::fputs("1", f);
    std::fclose(f);
  }
  // The killed processes leave the cgroup as they exit: no event to wait
  // for from here but the rmdir itself.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (::rmdir(path.c_str()) != 0)
  {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::yield();
  }
  return true;
}

// Creates the soak-wide parent cgroup, or says why tree cycles are
// skipped.
void set_up_tree_parent()
{
  if (::geteuid() != 0)
  {
    std::printf("tree cycles skipped: creating cgroups needs root\n");
    return;
  }
  std::optional<std::string> mount = cgroup2_mount();
  if (!mount)
  {
    std::printf("tree cycles skipped: no cgroup2 mount in "
                "/proc/self/mountinfo\n");
    return;
  }
  const std::string parent =
      *mount + "/pidfd-soak-" + std::to_string(::getpid());
  if (::mkdir(parent.c_str(), 0755) != 0)
  {
    std::printf("tree cycles skipped: cannot create %s: %s\n", parent.c_str(),
        std::strerror(errno));
    return;
  }
  cgroup_mount = *mount;
  tree_parent = parent;
  std::printf("tree cycles in %s\n", tree_parent.c_str());
}

// Removes the parent; fails the soak if the library left a cgroup or a
// process in it.
void tear_down_tree_parent()
{
  if (tree_parent.empty())
    return;
  const std::vector<std::string> left = subdirectories(tree_parent);
  for (const std::string& sub : left)
    std::fprintf(stderr, "left behind: cgroup %s/%s\n", tree_parent.c_str(),
        sub.c_str());
  check(left.empty(), "the library leaves no cgroup behind");
  check(cgroup_processes(tree_parent) == 0,
      "no process is left in the soak's parent cgroup");
  check(remove_cgroup(tree_parent), "the soak's parent cgroup is removed");
}

// The tree: sh starts two helper children in the background and waits;
// the tree stays until it is signalled (the helpers also die with sh, by
// their parent-death signal; their pause has an alarm as a guard).
std::vector<std::string> tree_args()
{
  const std::string c = child_program;
  return {"-c", c + " pause & " + c + " pause & wait"};
}

// For the async_run cycles: a tree that writes more than a limit of four
// bytes; one whose child exits while a background process holds stdout.
// That one is not the helper child, which dies with its parent (its
// parent-death signal), but a sleep that never ends by itself: only the
// run's kill of the tree ends it.
std::vector<std::string> tree_flood_args()
{
  const std::string c = child_program;
  return {"-c", c + " pause & echo 0123456789; wait"};
}
const std::vector<std::string> tree_exit_args{
    "-c", "sleep infinity & echo done"};

pidfd::spawn_options in_new_cgroup()
{
  pidfd::spawn_options options;
  options.cgroup = pidfd::cgroup_placement::create_in(tree_parent);
  return options;
}

constexpr int tree_scenarios = 5;
constexpr int tree_one_in = 512;
std::atomic<int> tree_cycles{0};

asio::awaitable<void> tree_cycle(int scenario, unsigned variant)
{
  ++tree_cycles;
  auto ex = co_await asio::this_coro::executor;
  error_code ec;
  std::string dir;
  if (scenario < 4)
  {
    pidfd::process p =
        pidfd::spawn(ex, "/bin/sh", tree_args(), in_new_cgroup());
    dir = cgroup_dir_of(p.id());
    check(dir.rfind(tree_parent + "/", 0) == 0,
        "a tree child starts in a cgroup under the soak's parent");
    switch (scenario)
    {
    case 0: // kill_tree, then the child's status
    {
      p.kill_tree(ec);
      check(!ec, "kill_tree succeeds");
      check(!path_exists(dir), "kill_tree removes the created cgroup");
      pidfd::exit_status s = co_await p.async_wait(asio::use_awaitable);
      check(s.signaled() && s.signal() == SIGKILL,
          "kill_tree kills the child with SIGKILL");
      break;
    }
    case 1: // async_terminate of the tree, SIGTERM (pause dies of it)
    {
      auto [e, s] = co_await p.async_terminate(pidfd::terminate_scope::tree,
          20ms, asio::as_tuple(asio::use_awaitable));
      check(!e, "async_terminate(tree) succeeds");
      check(s.signaled(), "async_terminate(tree) ends the child by a signal");
      check(!path_exists(dir), "async_terminate(tree) removes the cgroup");
      break;
    }
    case 2: // signal_tree(SIGKILL), then async_wait_tree and async_wait
    {
      p.signal_tree(SIGKILL, ec);
      check(!ec, "signal_tree(SIGKILL) succeeds");
      auto [e] =
          co_await p.async_wait_tree(asio::as_tuple(asio::use_awaitable));
      check(!e, "async_wait_tree completes once the tree is killed");
      check(!path_exists(dir), "async_wait_tree removes the cgroup");
      pidfd::exit_status s = co_await p.async_wait(asio::use_awaitable);
      check(s.signaled() && s.signal() == SIGKILL,
          "signal_tree(SIGKILL) kills the child");
      break;
    }
    default: // async_wait_tree cancelled; the tree still runs
    {
      constexpr asio::cancellation_type types[] = {
          asio::cancellation_type::terminal, asio::cancellation_type::partial,
          asio::cancellation_type::total};
      // The handler owns the signal and what it reports; it runs on this
      // strand (the process's executor) and wakes the coroutine through
      // a timer that never expires by itself.
      auto cancel = std::make_shared<asio::cancellation_signal>();
      auto aborted = std::make_shared<std::optional<error_code>>();
      auto done = std::make_shared<asio::steady_timer>(
          ex, asio::steady_timer::time_point::max());
      p.async_wait_tree(asio::bind_cancellation_slot(
          cancel->slot(), [cancel, aborted, done](error_code e) {
            *aborted = e;
            done->cancel();
          }));
      cancel->emit(types[variant % 3]);
      p.signal_tree(0, ec);
      check(!ec, "the tree still runs after a cancelled async_wait_tree");
      check(path_exists(dir), "a cancelled async_wait_tree keeps the cgroup");
      p.kill_tree(ec);
      check(!ec, "kill_tree after a cancelled async_wait_tree succeeds");
      pidfd::exit_status s = co_await p.async_wait(asio::use_awaitable);
      check(s.signaled() && s.signal() == SIGKILL,
          "kill_tree after a cancelled wait kills the child");
      if (!aborted->has_value())
        co_await done->async_wait(asio::as_tuple(asio::use_awaitable));
      check(aborted->has_value() && **aborted == asio::error::operation_aborted,
          "a cancelled async_wait_tree reports operation_aborted");
      check(!path_exists(dir), "kill_tree removes the created cgroup");
      break;
    }
    }
    if (!dir.empty() && path_exists(dir))
      remove_cgroup(dir);
    co_return;
  }

  // async_run with a tree scope.
  pidfd::run_options options;
  options.spawn = in_new_cgroup();
  options.stop_scope = pidfd::terminate_scope::tree;
  options.grace = 20ms;
  options.on_spawn = [&dir](const pidfd::run_child& c) {
    dir = cgroup_dir_of(c.id());
  };
  std::vector<std::string> args;
  switch (variant % 3)
  {
  case 0:
    args = tree_args();
    options.timeout = 2ms;
    break;
  case 1:
    args = tree_flood_args();
    options.output_limit = 4;
    options.on_overflow = pidfd::run_options::overflow::stop;
    break;
  default:
    args = tree_exit_args;
    options.wait_delay = 2ms;
    break;
  }
  auto [e, r] = co_await pidfd::async_run(ex, "/bin/sh", args,
      std::move(options), asio::as_tuple(asio::use_awaitable));
  check(!e, "a tree run succeeds");
  check(dir.rfind(tree_parent + "/", 0) == 0,
      "a tree run's child starts in a cgroup under the soak's parent");
  switch (variant % 3)
  {
  case 0:
    check(r.timed_out && r.status.signaled(),
        "a tree run's timeout stops the tree");
    break;
  case 1:
    check(!r.timed_out && r.status.signaled() && r.out == "0123"
            && r.out_truncated,
        "a tree run's output limit stops the tree");
    break;
  default:
    check(r.status.success() && r.output_cut
            && std::string("done\n").rfind(r.out, 0) == 0,
        "a tree run's wait delay ends the output of the tree");
    break;
  }
  check(!path_exists(dir), "a tree run removes its cgroup");
  if (!dir.empty() && path_exists(dir))
    remove_cgroup(dir);
}

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
  const bool empty = pidfd::detail::blocking_pool::wait_until_empty(deadline);
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
      // One cycle in 512 a tree, when there are tree cycles: one costs
      // as much as some 60 others (three processes, a cgroup made and removed),
      // and the soak's run time should grow by a fifth at most.
      const int draw = static_cast<int>(rng() % (tree_one_in * tree_scenarios));
      if (!tree_parent.empty() && draw < tree_scenarios)
        co_await tree_cycle(draw, static_cast<unsigned>(rng()));
      else
        co_await cycle(draw % 8, static_cast<unsigned>(rng()));
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
  pidfd::detail::blocking_pool::set_idle_timeout(100ms);
  std::printf(
      "%s\nseed %u\n", pidfd::kernel_support().to_string().c_str(), seed);
  set_up_tree_parent();

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
  if (!tree_parent.empty())
    std::printf("tree cycles %d\n", tree_cycles.load());
  std::printf("fds %d -> %d, threads %d -> %d, zombies/children left: %s\n",
      fds_before, fds_after, threads_before, threads_after,
      has_children() ? "yes" : "none");
  std::printf("rss %ld KiB -> %ld KiB, peak rss %ld KiB\n", rss_before,
      rss_after, usage.ru_maxrss);

  tear_down_tree_parent();
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
