//
// benchmarks/pidfd_bench.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// The scenarios S1-S4, every variant in one run, round-robin with the order
// rotated each round, and the report in Markdown (stdout) plus raw data
// (--csv). Progress goes to stderr. See usage().
//

#include "bench.hpp"

#include "pidfd/kernel_support.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

namespace bench {
namespace {

// ---- configuration ---------------------------------------------------------

struct config
{
  int s1_rounds = 40;
  int s1_batch = 50;
  int s2_rounds = 12;
  int s2_batch = 60;
  long s2_mib = 2048;
  int s2_fds = 5000;
  int s3_rounds = 2;
  std::vector<int> s3_ns = {1000, 5000, 10000};
  std::string s3_sleep = "1";
  double s3_cap_ms = 20000;
  int s4_rounds = 10;
  int s4_per_round = 300;
  int warmup = 20;
  int count_n1 = 1000;
  int count_n2 = 2000;
  int count_fanout = 1000; // children in the counted fan-out
  std::vector<std::string> variants; // empty: all
  std::string csv_path;
};

config cfg;
std::FILE* csv = nullptr;

void progress(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

void progress(const char* fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fflush(stderr);
}

void record(const char* scenario, const std::string& condition,
    const std::string& variant, int round, const char* metric, double value)
{
  if (csv)
    std::fprintf(csv, "%s,%s,%s,%d,%s,%.6g\n", scenario, condition.c_str(),
        variant.c_str(), round, metric, value);
}

const char* label_of(const std::string& id)
{
  for (const variant& v : all_variants())
    if (id == v.id)
      return v.label;
  return id.c_str();
}

std::vector<std::string> selected(bool fanout_only = false)
{
  std::vector<std::string> ids;
  for (const variant& v : all_variants())
  {
    if (!cfg.variants.empty()
        && std::find(cfg.variants.begin(), cfg.variants.end(), v.id)
            == cfg.variants.end()
        && v.id != floor_id)
      continue;
    if (fanout_only && std::string_view(v.id) == "asio_sync")
      continue;
    if (v.on_request && cfg.variants.empty())
      continue;
    ids.push_back(v.id);
  }
  return ids;
}

std::size_t index_of(const std::vector<std::string>& ids, std::string_view id)
{
  auto it = std::find(ids.begin(), ids.end(), id);
  return it == ids.end() ? ids.size() : it - ids.begin();
}

// "12.3 (11.9-13.0)"
std::string med_range(const std::vector<double>& v, const char* f = "%.1f")
{
  std::string fmt = std::string(f) + " (" + f + "-" + f + ")";
  return format(fmt.c_str(), median(v), min_of(v), max_of(v));
}

std::string times(double r)
{
  return std::isnan(r) ? "-" : format("%.3f", r);
}

// ---- targets ---------------------------------------------------------------

struct target
{
  std::string what;
  std::string measured;
  bool met;
};

std::vector<target> targets;

void add_target(
    std::string what, double value, double limit, const char* unit = "x")
{
  bool met = value <= limit;
  targets.push_back({std::move(what),
      format("%.3f%s (limit %.4g%s)", value, unit, limit, unit), met});
}

// ---- the round-robin driver ------------------------------------------------

// The variants of one scenario, each with its own spawner (and io_context).
struct contestants
{
  explicit contestants(std::vector<std::string> i) : ids(std::move(i))
  {
    for (const std::string& id : ids)
      spawners.push_back(make_spawner(id));
  }

  std::vector<std::string> ids;
  std::vector<std::unique_ptr<spawner>> spawners;
};

// Runs body(variant, round) for every variant in every round, the order
// rotated by one each round so that no variant always runs right after the
// same neighbour (or first, on a cold cache).
void round_robin(std::size_t variants, int round,
    const std::function<void(std::size_t)>& body)
{
  for (std::size_t k = 0; k < variants; ++k)
    body((k + static_cast<std::size_t>(round)) % variants);
}

// Parent (RUSAGE_SELF: every thread) CPU time in microseconds.
double cpu_us()
{
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6
      + static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

struct batch_cost
{
  double wall_us; // per spawn+wait
  double cpu_us; // the parent's CPU per spawn+wait
};

// The cost of n sequential spawn+waits.
batch_cost time_batch(spawner& s, const command& cmd, int n)
{
  const double cpu0 = cpu_us();
  const std::int64_t start = now_ns();
  s.run_sequential(cmd, n, nullptr);
  const double wall = static_cast<double>(now_ns() - start) / 1e3;
  return {wall / n, (cpu_us() - cpu0) / n};
}

// A batch size that keeps one variant's batch near budget_ms, within
// [min_n, max_n]: fork in a 2 GiB parent costs 100x a vfork.
int batch_for(
    spawner& s, const command& cmd, double budget_ms, int min_n, int max_n)
{
  double us = time_batch(s, cmd, 5).wall_us;
  int n = static_cast<int>(budget_ms * 1e3 / us);
  return std::clamp(n, min_n, max_n);
}

std::vector<std::string> split(const std::string& s);

// ---- subprocesses
// ------------------------------------------------------------

constexpr const char* fallback_env = "PIDFD_ASIO_FORCE_FALLBACK";

std::string self_exe()
{
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n < 0)
    throw std::system_error(errno, std::generic_category(), "readlink");
  return std::string(buf, static_cast<std::size_t>(n));
}

constexpr const char* mechanism_env = "PIDFD_ASIO_MECHANISM";

// True if the environment entry `e` sets `name`.
bool sets(const char* e, const char* name)
{
  return std::strncmp(e, name, std::strlen(name)) == 0
      && e[std::strlen(name)] == '=';
}

// Our environment for a subprocess: with fallback,
// PIDFD_ASIO_FORCE_FALLBACK=1 is in it, so that pidfd-asio runs its wait4
// fallback there (the mode is per process); without, the variable is not,
// and PIDFD_ASIO_MECHANISM says which pidfd mechanism runs: io_uring with
// `uring`, else epoll (the rows of every variant but the io_uring ones).
std::vector<std::string> child_environment(bool fallback, bool uring = false)
{
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (!sets(*e, fallback_env) && !sets(*e, mechanism_env))
      env.emplace_back(*e);
  if (fallback)
    env.push_back(std::string(fallback_env) + "=1");
  else
    env.push_back(
        std::string(mechanism_env) + (uring ? "=io_uring" : "=epoll"));
  return env;
}

// Pointers to the strings, null-terminated, for execve.
std::vector<char*> pointers(std::vector<std::string>& strings)
{
  std::vector<char*> out;
  for (std::string& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Runs this program with args (after argv[0]) and returns its stdout, in
// the environment child_environment(fallback) makes.
std::string run_self(std::vector<std::string> args, bool fallback)
{
  const std::string exe = self_exe();
  args.insert(args.begin(), exe);
  std::vector<char*> argv = pointers(args);
  std::vector<std::string> env = child_environment(fallback);
  std::vector<char*> envp = pointers(env);

  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    throw std::system_error(errno, std::generic_category(), "pipe2");
  posix_spawn_file_actions_t fa;
  ::posix_spawn_file_actions_init(&fa);
  ::posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  pid_t pid = 0;
  int err =
      ::posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&fa);
  ::close(p[1]);
  if (err != 0)
  {
    ::close(p[0]);
    throw std::system_error(err, std::generic_category(), "posix_spawn");
  }
  std::string out;
  char buf[512];
  ssize_t k;
  while ((k = ::read(p[0], buf, sizeof buf)) > 0 || (k < 0 && errno == EINTR))
    if (k > 0)
      out.append(buf, static_cast<std::size_t>(k));
  ::close(p[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR)
  {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(args[1] + " subprocess failed: " + out);
  return out;
}

// In a subprocess started with the variable set: make sure the library
// really is in its fallback.
void check_mode()
{
  const char* v = std::getenv(fallback_env);
  if (v && std::strcmp(v, "1") == 0 && !pidfd::kernel_support().forced_fallback)
    throw std::runtime_error("PIDFD_ASIO_FORCE_FALLBACK=1 had no effect");
}

// ---- S1 and the quick mode -------------------------------------------------

// [variant][round] microseconds per spawn.
using per_round = std::vector<std::vector<double>>;

struct s1_result
{
  per_round wall;
  per_round cpu;
};

s1_result run_s1_child(contestants& c, const command& cmd,
    const std::string& condition, int rounds, int batch)
{
  progress("S1 %s: warm-up\n", condition.c_str());
  for (auto& s : c.spawners)
    s->run_sequential(cmd, cfg.warmup, nullptr);
  s1_result res{per_round(c.ids.size()), per_round(c.ids.size())};
  for (int r = 0; r < rounds; ++r)
  {
    if (r % 10 == 0)
      progress("S1 %s: round %d/%d\n", condition.c_str(), r + 1, rounds);
    round_robin(c.ids.size(), r, [&](std::size_t v) {
      batch_cost b = time_batch(*c.spawners[v], cmd, batch);
      res.wall[v].push_back(b.wall_us);
      res.cpu[v].push_back(b.cpu_us);
      record("s1", condition, c.ids[v], r, "us_per_spawn", b.wall_us);
      record("s1", condition, c.ids[v], r, "parent_cpu_us", b.cpu_us);
    });
  }
  return res;
}

void print_s1_table(const contestants& c, const s1_result& res)
{
  const std::size_t fl = index_of(c.ids, floor_id);
  table t({"variant", "us/spawn median (min-max)", "spawns/s",
      "x floor (median of rounds)", "x floor p10-p90", "parent CPU us/spawn",
      "CPU x floor"});
  for (std::size_t v = 0; v < c.ids.size(); ++v)
  {
    std::vector<double> rr = ratios(res.wall[v], res.wall[fl]);
    t.add({label_of(c.ids[v]), med_range(res.wall[v]),
        format("%.0f", 1e6 / median(res.wall[v])), times(median(rr)),
        format("%.2f-%.2f", percentile(rr, 0.1), percentile(rr, 0.9)),
        format("%.1f", median(res.cpu[v])),
        times(median(ratios(res.cpu[v], res.cpu[fl])))});
  }
  t.print(stdout);
}

// S1 with the static child in pidfd-asio's wait4 fallback. The mode is per
// process, so this runs in a subprocess with PIDFD_ASIO_FORCE_FALLBACK=1
// ("s1-one"), after the native S1: the fallback variants and the floor
// round-robin there; "x native" columns compare with the native run above
// (another process, earlier: not interleaved).
void s1_fallback(const contestants& native, const s1_result& native_res)
{
  std::vector<std::string> ids;
  for (const std::string& id : native.ids)
    if (id == "asio_cb" || id == "asio_sync")
      ids.push_back(id);
  if (ids.empty())
    return;
  ids.emplace_back(floor_id);
  std::string list;
  for (const std::string& id : ids)
    list += (list.empty() ? "" : ",") + id;
  progress("S1 static, wait4 fallback (subprocess)\n");
  const std::string out = run_self(
      {"s1-one", list, std::to_string(cfg.s1_rounds),
          std::to_string(cfg.s1_batch), "--warmup", std::to_string(cfg.warmup)},
      true);
  s1_result res{per_round(ids.size()), per_round(ids.size())};
  const char* p = out.c_str();
  char id[64];
  int round = 0;
  double us = 0;
  double cpu = 0;
  int used = 0;
  while (std::sscanf(p, "%63s %d %lf %lf%n", id, &round, &us, &cpu, &used) == 4)
  {
    p += used;
    const std::size_t v = index_of(ids, id);
    if (v == ids.size())
      throw std::runtime_error("s1-one: unexpected output: " + out);
    res.wall[v].push_back(us);
    res.cpu[v].push_back(cpu);
    record("s1", "static_fallback", id, round, "us_per_spawn", us);
    record("s1", "static_fallback", id, round, "parent_cpu_us", cpu);
  }
  for (const auto& w : res.wall)
    if (static_cast<int>(w.size()) != cfg.s1_rounds)
      throw std::runtime_error("s1-one: missing rounds: " + out);

  std::printf("### S1, child: static, pidfd-asio in its wait4 fallback\n\n");
  std::printf(
      "A separate process started with PIDFD_ASIO_FORCE_FALLBACK=1 "
      "(`pidfd_bench s1-one %s %d %d`), right after the native S1 above: "
      "the fallback variants and the floor (which does not use the "
      "library) round-robin there, %d rounds x %d spawns, and \"x floor\" "
      "is against that floor, round by round. The \"x native\" columns "
      "compare medians with the native table above (the same script run "
      "but another process, not interleaved).\n\n",
      list.c_str(), cfg.s1_rounds, cfg.s1_batch, cfg.s1_rounds, cfg.s1_batch);
  const std::size_t fl = index_of(ids, floor_id);
  const std::size_t nfl = index_of(native.ids, floor_id);
  table t({"variant", "us/spawn median (min-max)", "spawns/s",
      "x floor (median of rounds)", "x floor p10-p90", "parent CPU us/spawn",
      "CPU x floor", "x native floor", "x same variant native"});
  for (std::size_t v = 0; v < ids.size(); ++v)
  {
    std::vector<double> rr = ratios(res.wall[v], res.wall[fl]);
    const std::size_t nv = index_of(native.ids, ids[v]);
    const bool ours = v != fl;
    t.add({std::string(label_of(ids[v])) + (ours ? " [wait4 fallback]" : ""),
        med_range(res.wall[v]), format("%.0f", 1e6 / median(res.wall[v])),
        times(median(rr)),
        format("%.2f-%.2f", percentile(rr, 0.1), percentile(rr, 0.9)),
        format("%.1f", median(res.cpu[v])),
        times(median(ratios(res.cpu[v], res.cpu[fl]))),
        times(median(res.wall[v]) / median(native_res.wall[nfl])),
        times(median(res.wall[v]) / median(native_res.wall[nv]))});
  }
  t.print(stdout);
}

void s1(const std::string& child)
{
  std::printf("## S1: sequential spawn+wait throughput\n\n");
  std::printf(
      "%d rounds x %d spawns per variant (N = %d per variant), "
      "after %d warm-up spawns each; the per-round ratio is taken against "
      "the floor's batch of the same round. Parent CPU is getrusage("
      "RUSAGE_SELF) user+system over the batch (all threads).\n\n",
      cfg.s1_rounds, cfg.s1_batch, cfg.s1_rounds * cfg.s1_batch, cfg.warmup);
  contestants c(selected());
  const command static_true(child, {});
  const command bin_true("/bin/true", {});
  struct kind
  {
    const command& cmd;
    const char* name;
    const char* title;
  };
  s1_result static_res;
  for (const kind& k :
      {kind{static_true, "static",
           "static no-libc child (benchmarks/bench_child.cpp)"},
          kind{bin_true, "bin_true", "/bin/true (dynamically linked)"}})
  {
    s1_result res = run_s1_child(c, k.cmd, k.name, cfg.s1_rounds, cfg.s1_batch);
    std::printf("### S1, child: %s\n\n", k.title);
    print_s1_table(c, res);
    if (std::string_view(k.name) == "static")
      static_res = std::move(res);
  }
  const per_round& static_us = static_res.wall;
  s1_fallback(c, static_res);

  const std::size_t fl = index_of(c.ids, floor_id);
  const std::size_t bp = index_of(c.ids, "bp2_default");
  for (const char* ours : {"asio_cb", "asio_coro"})
  {
    const std::size_t o = index_of(c.ids, ours);
    if (o == c.ids.size())
      continue;
    add_target(format("S1 static: %s per spawn vs floor", ours),
        median(ratios(static_us[o], static_us[fl])), 1.05);
    if (bp < c.ids.size())
      add_target(format("S1 static: %s vs Boost.Process v2 default", ours),
          median(ratios(static_us[o], static_us[bp])), 0.5);
  }
}

// ---- counts: heap allocations and system calls per cycle --------------------

// Per spawn+wait cycle; NaN where not counted.
struct cycle_counts
{
  double allocations = NAN;
  double syscalls = NAN;
  std::map<std::string, double> by_call;
};

// One variant in bench_counter, traced: the second batch less the first,
// per cycle of the difference.
cycle_counts count_variant(
    const std::string& id, bool fallback, bool uring = false, int fanout = 0)
{
  const int n1 = fanout ? 0 : cfg.count_n1;
  const int n2 = fanout ? fanout : cfg.count_n2;
  std::vector<std::string> args = {bench::counter_program, id,
      std::to_string(cfg.warmup), std::to_string(n1), std::to_string(n2)};
  if (fanout)
    args.push_back("fanout");
  std::vector<std::string> env = child_environment(fallback, uring);
  std::vector<char*> argv = pointers(args);
  std::vector<char*> envp = pointers(env);
  const trace_result t =
      trace_syscalls(bench::counter_program, argv.data(), envp.data());
  if (!WIFEXITED(t.wait_status) || WEXITSTATUS(t.wait_status) != 0)
    throw std::runtime_error("bench_counter " + id + " failed: " + t.out);
  const double cycles = n2 - n1;
  cycle_counts c;
  long a1 = 0;
  long a2 = 0;
  if (std::sscanf(t.out.c_str(), "allocations %ld %ld", &a1, &a2) == 2)
    c.allocations = static_cast<double>(a2 - a1) / cycles;
  if (t.traced && t.phases.size() > 2)
  {
    std::map<long, long> diff;
    for (const auto& [nr, k] : t.phases[2])
      diff[nr] += k;
    for (const auto& [nr, k] : t.phases[1])
      diff[nr] -= k;
    long total = 0;
    for (const auto& [nr, k] : diff)
    {
      total += k;
      if (k != 0)
        c.by_call[syscall_name(nr)] = static_cast<double>(k) / cycles;
    }
    c.syscalls = static_cast<double>(total) / cycles;
  }
  return c;
}

// "8", or "0.50" for a count that is not a whole number per cycle.
std::string count_cell(double v)
{
  if (std::isnan(v))
    return "-";
  return std::fabs(v - std::round(v)) < 0.005 ? format("%.0f", v)
                                              : format("%.2f", v);
}

// "clone3 1, epoll_ctl 3, ...": the most frequent first.
std::string breakdown(const std::map<std::string, double>& by_call)
{
  std::vector<std::pair<std::string, double>> calls;
  for (const auto& [name, k] : by_call)
    if (std::fabs(k) >= 0.005)
      calls.emplace_back(name, k);
  std::stable_sort(calls.begin(), calls.end(),
      [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  for (const auto& [name, k] : calls)
    out += (out.empty() ? "" : ", ") + name + " " + count_cell(k);
  return out.empty() ? "-" : out;
}

// One row of the counts: a variant and the mechanism it runs with.
struct count_row
{
  std::string id;
  bool fallback = false;
  bool uring = false;

  std::string name() const
  {
    return id + (fallback ? "_fallback" : uring ? "_uring" : "");
  }

  std::string label() const
  {
    return std::string(label_of(id))
        + (fallback     ? " [wait4 fallback]"
                : uring ? " [io_uring]"
                        : "");
  }
};

// The rows: every variant selected (pidfd-asio's on epoll), pidfd-asio's
// asynchronous variants on io_uring, and its callback on the wait4
// fallback.
std::vector<count_row> count_rows(const std::vector<std::string>& ids)
{
  std::vector<count_row> rows;
  for (const std::string& id : ids)
    rows.push_back({id});
  for (const char* id :
      {"asio_cb", "asio_coro", "asio_cb_bare", "asio_coro_bare"})
    if (index_of(ids, id) < ids.size())
      rows.push_back({id, false, true});
  if (index_of(ids, "asio_cb") < ids.size())
    rows.push_back({"asio_cb", true});
  return rows;
}

void counts_table(const char* unit, const std::vector<count_row>& rows,
    const std::vector<cycle_counts>& counted, const cycle_counts& floor)
{
  table t({"variant", std::string("allocations/") + unit,
      std::string("system calls/") + unit, "x floor",
      std::string("system calls per ") + unit});
  for (std::size_t v = 0; v < rows.size(); ++v)
  {
    const cycle_counts& c = counted[v];
    t.add({rows[v].label(), count_cell(c.allocations), count_cell(c.syscalls),
        times(c.syscalls / floor.syscalls), breakdown(c.by_call)});
  }
  t.print(stdout);
}

void counts()
{
  std::printf("## Counts: heap allocations and system calls per cycle\n\n");
  std::printf(
      "Each variant in a process of its own (`bench_counter VARIANT %d %d "
      "%d`) that this one traces with ptrace, counting the system calls "
      "of every thread of it and none of its children's: %d warm-up "
      "spawn+waits of the static child, then a batch of %d and a batch of "
      "%d. A count per cycle is (second batch - first) / %d, so that what "
      "a batch costs once (an io_context run, a coroutine) drops out. "
      "Allocations are calls to malloc, calloc, realloc, aligned_alloc, "
      "memalign and posix_memalign (operator new calls malloc). pidfd-asio "
      "runs with PIDFD_ASIO_MECHANISM=epoll (each pidfd in the reactor) "
      "but in the [io_uring] rows (PIDFD_ASIO_MECHANISM=io_uring: one ring "
      "per io_context polls the pidfds). The wait4 "
      "fallback row is the same with PIDFD_ASIO_FORCE_FALLBACK=1, its pool "
      "thread's system calls included. Counts only: tracing slows every "
      "system call down, so no time is taken here.\n\n",
      cfg.warmup, cfg.count_n1, cfg.count_n2, cfg.warmup, cfg.count_n1,
      cfg.count_n2, cfg.count_n2 - cfg.count_n1);
  std::vector<std::string> ids = selected();
  const std::vector<count_row> rows = count_rows(ids);
  std::vector<cycle_counts> counted;
  for (const count_row& row : rows)
  {
    progress("Counts: %s\n", row.label().c_str());
    counted.push_back(count_variant(row.id, row.fallback, row.uring));
    const std::string name = row.name();
    const cycle_counts& c = counted.back();
    record("counts", "per_cycle", name, 0, "allocations", c.allocations);
    record("counts", "per_cycle", name, 0, "syscalls", c.syscalls);
    for (const auto& [call, k] : c.by_call)
      record("counts", "per_cycle", name, 0, ("syscall_" + call).c_str(), k);
  }
  const std::size_t fl = index_of(ids, floor_id);
  if (std::isnan(counted[fl].syscalls))
    std::printf("ptrace was refused (a tracer attached already, or a "
                "policy): system calls are not counted.\n\n");
  counts_table("cycle", rows, counted, counted[fl]);
  for (std::size_t v = 0; v < rows.size(); ++v)
  {
    const count_row& row = rows[v];
    const cycle_counts& c = counted[v];
    if (!row.fallback && !std::isnan(c.syscalls)
        && (row.id == "asio_cb" || row.id == "asio_coro"
            || row.id == "asio_sync"))
      add_target(format("Counts: %s system calls per cycle vs the floor's",
                     row.name().c_str()),
          c.syscalls, counted[fl].syscalls, "");
    // Issue #28: 5 with the rusage; 4 where the ring reaps
    // (IORING_OP_WAITID: no rusage asked for).
    const bool bare = row.id.ends_with("_bare");
    if (row.uring && !std::isnan(c.syscalls))
      add_target(
          format(bare ? "Counts: %s system calls per cycle (the ring "
                        "reaps, no rusage)"
                      : "Counts: %s system calls per cycle (with rusage)",
              row.name().c_str()),
          c.syscalls, bare ? 4 : 5, "");
    if (row.uring && !std::isnan(c.allocations))
      add_target(
          format("Counts: %s heap allocations per cycle", row.name().c_str()),
          c.allocations, 1, "");
  }

  // Fan-out: N children spawned, then all awaited, per child.
  const int n = cfg.count_fanout;
  std::printf("\n### Fan-out: system calls per child at N = %d\n\n", n);
  std::printf("`bench_counter VARIANT %d 0 %d fanout`: a warm-up fan-out of "
              "%d children, then one of %d (all spawned, then all awaited: "
              "the variant's S3 fan-out); its count / %d. The process "
              "objects live until the fan-out is over, as in S3.\n\n",
      cfg.warmup, n, cfg.warmup, n, n);
  std::vector<count_row> fan_rows;
  for (const count_row& row : rows)
    if (!row.fallback
        && (row.id == floor_id || row.id.starts_with("asio_cb")
            || row.id.starts_with("asio_coro")))
      fan_rows.push_back(row);
  std::vector<cycle_counts> fanned;
  std::size_t fan_floor = 0;
  for (std::size_t v = 0; v < fan_rows.size(); ++v)
  {
    const count_row& row = fan_rows[v];
    if (row.id == floor_id)
      fan_floor = v;
    progress("Counts, fan-out: %s\n", row.label().c_str());
    fanned.push_back(count_variant(row.id, false, row.uring, n));
    record("counts", "fanout_per_child", row.name(), 0, "syscalls",
        fanned.back().syscalls);
  }
  if (!fan_rows.empty())
    counts_table("child", fan_rows, fanned, fanned[fan_floor]);
  for (std::size_t v = 0; v < fan_rows.size(); ++v)
    if (fan_rows[v].uring && !std::isnan(fanned[v].syscalls))
      add_target(format("Counts: %s fan-out system calls per child",
                     fan_rows[v].name().c_str()),
          fanned[v].syscalls, 2.5, "");
}

void quick()
{
  std::printf("## Quick: spawn+wait of /bin/true per second\n\n");
  std::printf(
      "%d rounds x %d spawns, round-robin.\n\n", cfg.s1_rounds, cfg.s1_batch);
  contestants c({"asio_cb", "posix_spawn"});
  const command bin_true("/bin/true", {});
  per_round us =
      run_s1_child(c, bin_true, "bin_true", cfg.s1_rounds, cfg.s1_batch).wall;
  table t({"variant", "spawns/s (median)", "min-max spawns/s", "us/spawn",
      "x posix_spawn (median of rounds)"});
  for (std::size_t v = 0; v < c.ids.size(); ++v)
  {
    t.add({label_of(c.ids[v]), format("%.0f", 1e6 / median(us[v])),
        format("%.0f-%.0f", 1e6 / max_of(us[v]), 1e6 / min_of(us[v])),
        format("%.1f", median(us[v])), times(median(ratios(us[v], us[1])))});
  }
  t.print(stdout);
}

// ---- S2: a big parent ------------------------------------------------------

// Private anonymous memory with every 4 KiB page written: for 2 GiB, fork
// must copy 4 MiB of page tables and take 512 Ki page references, and the
// child's exit or exec must drop them again.
class ballast
{
public:
  explicit ballast(long mib) : size_(static_cast<std::size_t>(mib) << 20)
  {
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      throw std::system_error(errno, std::generic_category(), "mmap");
    // Small pages, as most heaps have: a huge page would make the page
    // tables, and fork, 512 times cheaper. MADV_POPULATE_WRITE (Linux
    // 5.14) faults every page in at once, far faster than touching each.
    ::madvise(p, size_, MADV_NOHUGEPAGE);
    data_ = static_cast<char*>(p);
    if (::madvise(p, size_, 23 /* MADV_POPULATE_WRITE */) != 0)
      for (std::size_t i = 0; i < size_; i += 4096)
        data_[i] = 1;
  }
  ballast(const ballast&) = delete;
  ballast& operator=(const ballast&) = delete;
  ~ballast() { ::munmap(data_, size_); }

private:
  std::size_t size_;
  char* data_;
};

// Extra descriptors, close-on-exec as well-behaved code opens them.
class open_files
{
public:
  explicit open_files(int n)
  {
    for (int i = 0; i < n; ++i)
    {
      int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        throw std::system_error(errno, std::generic_category(), "open");
      fds_.push_back(fd);
    }
  }
  open_files(const open_files&) = delete;
  open_files& operator=(const open_files&) = delete;
  ~open_files()
  {
    for (int fd : fds_)
      ::close(fd);
  }

private:
  std::vector<int> fds_;
};

void s2(const std::string& child)
{
  std::printf("## S2: spawn with a big parent\n\n");
  std::printf(
      "Child: the static no-libc child. Per round: a small parent; "
      "then %ld MiB of private anonymous memory mapped with every 4 KiB "
      "page faulted in for writing (MADV_NOHUGEPAGE, MADV_POPULATE_WRITE), "
      "spawns, unmapped; then %d extra O_CLOEXEC fds "
      "open, spawns, closed. %d rounds; batch per variant and condition "
      "sized in round 1 to ~60 ms (5 to %d spawns).\n\n",
      cfg.s2_mib, cfg.s2_fds, cfg.s2_rounds, cfg.s2_batch);
  contestants c(selected());
  const command cmd(child, {});
  for (auto& s : c.spawners)
    s->run_sequential(cmd, cfg.warmup, nullptr);

  const char* conds[] = {"small", "big_memory", "many_fds"};
  const std::size_t nv = c.ids.size();
  std::vector<per_round> us(3, per_round(nv));
  std::vector<std::vector<int>> batch(3, std::vector<int>(nv, 0));
  std::vector<double> touch_s;
  for (int r = 0; r < cfg.s2_rounds; ++r)
  {
    for (int k = 0; k < 3; ++k)
    {
      progress("S2: round %d/%d, %s\n", r + 1, cfg.s2_rounds, conds[k]);
      std::unique_ptr<ballast> mem;
      std::unique_ptr<open_files> files;
      if (k == 1)
      {
        const std::int64_t t0 = now_ns();
        mem = std::make_unique<ballast>(cfg.s2_mib);
        touch_s.push_back(static_cast<double>(now_ns() - t0) / 1e9);
      }
      if (k == 2)
        files = std::make_unique<open_files>(cfg.s2_fds);
      round_robin(nv, r, [&](std::size_t v) {
        if (batch[k][v] == 0)
          batch[k][v] = batch_for(*c.spawners[v], cmd, 60, 5, cfg.s2_batch);
        us[k][v].push_back(
            time_batch(*c.spawners[v], cmd, batch[k][v]).wall_us);
        record("s2", conds[k], c.ids[v], r, "us_per_spawn", us[k][v].back());
      });
    }
  }
  std::printf("Populating the memory took %.2f s per round (median).\n\n",
      median(touch_s));

  const std::size_t fl = index_of(c.ids, floor_id);
  table t({"variant", "small: us/spawn",
      std::to_string(cfg.s2_mib) + " MiB: us/spawn", "x small",
      std::to_string(cfg.s2_fds) + " fds: us/spawn", "x no fds",
      "2 GiB x floor", "fds x floor", "batch (small/mem/fds)"});
  for (std::size_t v = 0; v < nv; ++v)
  {
    t.add({label_of(c.ids[v]), med_range(us[0][v]), med_range(us[1][v]),
        times(median(ratios(us[1][v], us[0][v]))), med_range(us[2][v]),
        times(median(ratios(us[2][v], us[0][v]))),
        times(median(ratios(us[1][v], us[1][fl]))),
        times(median(ratios(us[2][v], us[2][fl]))),
        format("%d/%d/%d", batch[0][v], batch[1][v], batch[2][v])});
  }
  std::printf(
      "Ratios are medians of per-round ratios; \"x small\" and "
      "\"x no fds\" compare a variant with itself in the same round.\n\n");
  t.print(stdout);

  for (const char* ours : {"asio_cb", "asio_coro"})
  {
    const std::size_t o = index_of(c.ids, ours);
    if (o == nv)
      continue;
    // The floor's own ratio shows how much of it the machine caused.
    add_target(format("S2: %s with %ld MiB vs small parent (floor: %.2fx)",
                   ours, cfg.s2_mib, median(ratios(us[1][fl], us[0][fl]))),
        median(ratios(us[1][o], us[0][o])), 1.1);
    add_target(format("S2: %s with %d fds vs none (floor: %.2fx)", ours,
                   cfg.s2_fds, median(ratios(us[2][fl], us[0][fl]))),
        median(ratios(us[2][o], us[0][o])), 1.1);
  }
}

// ---- S3: many children at once ---------------------------------------------

struct fanout_sample
{
  double total_ms;
  double spawn_ms;
  int threads;
  int fds;
  double rss_kib;
  int live_children; // unreaped children at the end of the spawn phase
  int peak_threads; // sampled every 2 ms (fallback only; else = threads)
};

// One fan-out in a fresh process ("s3-one"), so that its peak RSS, threads
// and fds are its own; with fallback, in the library's wait4 fallback.
fanout_sample run_fanout_process(const std::string& id, int n, bool fallback)
{
  const std::string out = run_self(
      {"s3-one", id, std::to_string(n), "--s3-sleep", cfg.s3_sleep}, fallback);
  fanout_sample s{};
  if (std::sscanf(out.c_str(), "%lf %lf %d %d %lf %d %d", &s.total_ms,
          &s.spawn_ms, &s.threads, &s.fds, &s.rss_kib, &s.live_children,
          &s.peak_threads)
      != 7)
    throw std::runtime_error("s3-one " + id + " failed: " + out);
  return s;
}

// One variant alone, n sequential spawns of the static child (or of
// /bin/true), optionally with MIB of ballast, for strace -c and perf:
// "pidfd_bench loop VARIANT N [static|true [MIB]]".
int loop(const std::string& id, int n, bool bin_true, long mib)
{
  const command cmd(bin_true ? "/bin/true" : bench::child_program, {});
  std::unique_ptr<ballast> mem;
  if (mib > 0)
    mem = std::make_unique<ballast>(mib);
  std::unique_ptr<spawner> s = make_spawner(id);
  s->run_sequential(cmd, 10, nullptr);
  // User and system time, us; the kernel splits its precise total between
  // them by its tick samples, so the split is an estimate.
  struct cpu_time
  {
    double user;
    double system;
  };
  auto cpu_us = [](int who) {
    rusage u{};
    ::getrusage(who, &u);
    auto us = [](const timeval& t) {
      return static_cast<double>(t.tv_sec) * 1e6
          + static_cast<double>(t.tv_usec);
    };
    return cpu_time{us(u.ru_utime), us(u.ru_stime)};
  };
  const cpu_time self0 = cpu_us(RUSAGE_SELF);
  const cpu_time children0 = cpu_us(RUSAGE_CHILDREN);
  const std::int64_t start = now_ns();
  s->run_sequential(cmd, n, nullptr);
  const double wall = static_cast<double>(now_ns() - start) / 1e3;
  const cpu_time self = cpu_us(RUSAGE_SELF);
  const cpu_time children = cpu_us(RUSAGE_CHILDREN);
  const double user = (self.user - self0.user) / n;
  const double system = (self.system - self0.system) / n;
  std::printf("%s: %.1f us/spawn wall, CPU/spawn: parent %.1f us (user "
              "%.1f, system %.1f), children %.1f us\n",
      id.c_str(), wall / n, user + system, user, system,
      (children.user + children.system - children0.user - children0.system)
          / n);
  return 0;
}

int s3_one(const std::string& id, int n)
{
  check_mode();
  raise_nofile_limit();
  const command cmd("/bin/sleep", {cfg.s3_sleep});
  std::unique_ptr<spawner> s = make_spawner(id);
  // In the fallback the library blocks a thread in wait4 per child: sample
  // the thread count (less this sampler) every 2 ms for its peak.
  const bool fallback = pidfd::kernel_support().forced_fallback;
  std::atomic<bool> stop{false};
  std::atomic<int> peak{0};
  std::thread sampler;
  if (fallback)
    sampler = std::thread([&] {
      while (!stop.load(std::memory_order_relaxed))
      {
        peak.store(std::max(peak.load(), count_threads() - 1));
        ::usleep(2000);
      }
    });
  fanout_result r = s->run_fanout(cmd, n);
  if (fallback)
  {
    stop = true;
    sampler.join();
    r.threads -= 1; // the sampler
  }
  std::printf("%.3f %.3f %d %d %ld %d %d\n",
      static_cast<double>(r.total_ns) / 1e6,
      static_cast<double>(r.spawn_ns) / 1e6, r.threads, r.fds, peak_rss_kib(),
      r.live_children, fallback ? std::max(peak.load(), r.threads) : r.threads);
  return 0;
}

// S1 (static child) for the given variants alone, round-robin, in this
// process: "pidfd_bench s1-one VARIANTS ROUNDS BATCH", run with
// PIDFD_ASIO_FORCE_FALLBACK=1 by s1(). Prints "VARIANT ROUND US CPU_US"
// per variant and round.
int s1_one(const std::string& variants, int rounds, int batch)
{
  check_mode();
  contestants c(split(variants));
  const command cmd(bench::child_program, {});
  s1_result res = run_s1_child(c, cmd, "static, wait4 fallback", rounds, batch);
  for (std::size_t v = 0; v < c.ids.size(); ++v)
    for (std::size_t r = 0; r < res.wall[v].size(); ++r)
      std::printf("%s %zu %.3f %.3f\n", c.ids[v].c_str(), r, res.wall[v][r],
          res.cpu[v][r]);
  return 0;
}

// The S3 rows of pidfd-asio (callbacks) in its wait4 fallback: one thread
// blocked in wait4 per child being waited for.
void s3_fallback_table(int n, const std::vector<fanout_sample>& fb,
    const std::vector<double>& floor_total,
    const std::vector<double>& floor_rss)
{
  std::vector<double> total, spawn, tail, threads, live, peak, fds, rss,
      per_thread, ratio;
  const double sleep_ms = std::strtod(cfg.s3_sleep.c_str(), nullptr) * 1e3;
  for (std::size_t r = 0; r < fb.size(); ++r)
  {
    const fanout_sample& s = fb[r];
    total.push_back(s.total_ms);
    spawn.push_back(s.spawn_ms);
    // Time from the last spawn to the last exit collected, beyond the
    // last child's own sleep: starvation would show here.
    tail.push_back(s.total_ms - s.spawn_ms - sleep_ms);
    threads.push_back(s.threads);
    live.push_back(s.live_children);
    peak.push_back(s.peak_threads);
    fds.push_back(s.fds);
    rss.push_back(s.rss_kib);
    // Peak RSS above the native floor's in the same round, per waiting
    // thread (the peak thread count less the main thread).
    per_thread.push_back(
        (s.rss_kib - floor_rss[r]) / std::max(1, s.peak_threads - 1));
    // Threads at the end of the spawn phase (less the main thread) per
    // child not yet reaped then.
    ratio.push_back(s.live_children > 0
            ? (s.threads - 1) / static_cast<double>(s.live_children)
            : std::nan(""));
  }
  std::printf("#### S3, N = %d: pidfd-asio, callback, in its wait4 "
              "fallback\n\n",
      n);
  std::printf(
      "Each sample a fresh `pidfd_bench s3-one asio_cb %d` with "
      "PIDFD_ASIO_FORCE_FALLBACK=1, in the same rotation as the rows above. "
      "\"after last spawn\" = total - spawn phase - the %.0f ms sleep "
      "(collection delay of the last children). Threads and unreaped "
      "children (/proc/self/task/TID/children) are sampled when the last "
      "spawn returned; peak threads every 2 ms by an extra thread (not "
      "counted). \"KiB/waiting thread\" = (peak RSS - the native floor's "
      "peak RSS in the same round) / (peak threads - 1).\n\n",
      n, sleep_ms);
  table t({"variant", "total ms median (min-max)", "x floor", "spawn phase ms",
      "after last spawn ms", "threads", "unreaped children",
      "threads-1 / children", "peak threads", "fds", "peak RSS MiB",
      "KiB/waiting thread"});
  std::string total_cell = med_range(total, "%.0f");
  if (static_cast<int>(total.size()) < cfg.s3_rounds)
    total_cell +=
        format(" [%zu round%s]", total.size(), total.size() == 1 ? "" : "s");
  t.add({"pidfd-asio, callback [wait4 fallback]", total_cell,
      times(median(ratios(total, floor_total))), med_range(spawn, "%.0f"),
      med_range(tail, "%.0f"), format("%.0f", median(threads)),
      format("%.0f", median(live)), times(median(ratio)),
      format("%.0f", max_of(peak)), format("%.0f", max_of(fds)),
      format("%.1f", median(rss) / 1024), format("%.1f", median(per_thread))});
  t.print(stdout);
  if (n != cfg.s3_ns.back())
    return;
  // The targets for the fallback.
  add_target(format("S3 N=%d fallback: completes; last exit collected "
                    "after last spawn beyond the sleep (worst round)",
                 n),
      max_of(tail), 1000, " ms");
  const double rq = median(ratio);
  targets.push_back(
      {format("S3 N=%d fallback: threads (less main) per "
              "unreaped child at end of spawn phase, within 0.9-1.1",
           n),
          format("%.3f (%.0f threads, %.0f children)", rq, median(threads),
              median(live)),
          rq >= 0.9 && rq <= 1.1});
  add_target(format("S3 N=%d fallback: peak RSS above native floor per "
                    "waiting thread",
                 n),
      median(per_thread), 16, " KiB");
}

// The fds a fan-out needs besides one per child: stdio, the reactor's.
constexpr int s3_spare_fds = 64;

// The memory per child above the floor's that the targets allow at N, or 0
// for no targets at that N: 1 KiB at N = 10,000 (issue #13), the 2 KiB S3
// has reported at N = 5,000 before, and that at the last N of a run with
// other sizes.
double s3_memory_target(int n)
{
  if (n == 10000)
    return 1024;
  if (n == 5000 || n == cfg.s3_ns.back())
    return 2048;
  return 0;
}

void s3()
{
  std::printf("## S3: many children at once\n\n");
  std::printf(
      "N children of `/bin/sleep %s` spawned back to back, then all "
      "waited for asynchronously (one thread, except thread-per-child). "
      "Each sample is a fresh process (`pidfd_bench s3-one VARIANT N`) so "
      "that peak RSS (VmHWM), threads and fds (sampled when the last spawn "
      "returned) are its own. %d rounds per N, order rotated. \"B/child "
      "above floor\" = (peak RSS - the floor's peak RSS in the same "
      "round) / N. A variant whose first sample at some N takes more than "
      "%.0f s is not repeated at that N (marked [1 round]), nor run at the "
      "larger N that follow, unless it is the floor or pidfd-asio.\n\n",
      cfg.s3_sleep.c_str(), cfg.s3_rounds, cfg.s3_cap_ms / 1000);
  // Most variants hold an fd per child: every process of the benchmark
  // raises its RLIMIT_NOFILE soft limit to the hard limit.
  const long nofile = raise_nofile_limit();
  std::printf("RLIMIT_NOFILE: the soft limit raised to the hard limit, "
              "%ld.\n\n",
      nofile);
  const std::vector<std::string> ids = selected(true);
  const std::size_t fl = index_of(ids, floor_id);
  const bool with_fallback = index_of(ids, "asio_cb") < ids.size();
  // Slot ids.size(), if any: pidfd-asio callbacks in the wait4 fallback,
  // a process started with PIDFD_ASIO_FORCE_FALLBACK=1, in the rotation.
  const std::size_t nslots = ids.size() + (with_fallback ? 1 : 0);
  // Why a slot is no longer run, once it took longer than s3_cap_ms at a
  // smaller N: Boost.Process v2's spawns grow with the children already
  // running (25 s at N = 5,000 when this was written), so its sample at
  // N = 10,000 would take minutes.
  std::vector<std::string> dropped(nslots);
  for (int n : cfg.s3_ns)
  {
    const std::string cond = "N=" + std::to_string(n);
    if (nofile < n + s3_spare_fds)
    {
      std::printf("### S3, N = %d\n\nNot run: the RLIMIT_NOFILE hard "
                  "limit, %ld, is below N + %d fds. Raise it (as root: "
                  "`ulimit -Hn %d`) to run this N.\n\n",
          n, nofile, s3_spare_fds, n + s3_spare_fds);
      progress("S3 N=%d: skipped, RLIMIT_NOFILE hard limit %ld\n", n, nofile);
      continue;
    }
    std::vector<std::vector<fanout_sample>> samples(nslots);
    for (int r = 0; r < cfg.s3_rounds; ++r)
    {
      progress("S3 N=%d: round %d/%d\n", n, r + 1, cfg.s3_rounds);
      round_robin(nslots, r, [&](std::size_t v) {
        // Keep the run within its time budget: a variant that took more
        // than s3_cap_ms once is not run again at this N.
        if (!dropped[v].empty()
            || (!samples[v].empty() && samples[v][0].total_ms > cfg.s3_cap_ms))
          return;
        const bool fallback = v == ids.size();
        const std::string id = fallback ? "asio_cb" : ids[v];
        const std::string name = fallback ? "asio_cb_fallback" : id;
        fanout_sample s = run_fanout_process(id, n, fallback);
        samples[v].push_back(s);
        record("s3", cond, name, r, "total_ms", s.total_ms);
        record("s3", cond, name, r, "spawn_ms", s.spawn_ms);
        record("s3", cond, name, r, "threads", s.threads);
        record("s3", cond, name, r, "fds", s.fds);
        record("s3", cond, name, r, "peak_rss_kib", s.rss_kib);
        if (fallback)
        {
          record("s3", cond, name, r, "live_children", s.live_children);
          record("s3", cond, name, r, "peak_threads", s.peak_threads);
        }
      });
    }
    for (std::size_t v = 0; v < nslots; ++v)
    {
      const bool ours = v == ids.size() || ids[v].rfind("asio_", 0) == 0;
      if (dropped[v].empty() && v != fl && !ours && !samples[v].empty()
          && samples[v][0].total_ms > cfg.s3_cap_ms)
        dropped[v] = format(
            "not run: took %.1f s at N = %d", samples[v][0].total_ms / 1000, n);
    }
    auto column = [&](std::size_t v, auto member) {
      std::vector<double> out;
      for (const fanout_sample& s : samples[v])
        out.push_back(static_cast<double>(s.*member));
      return out;
    };
    std::printf("### S3, N = %d\n\n", n);
    table t(
        {"variant", "total ms median (min-max)", "x floor", "spawn phase ms",
            "threads", "fds", "peak RSS MiB", "B/child above floor"});
    std::vector<double> floor_total = column(fl, &fanout_sample::total_ms);
    std::vector<double> floor_rss = column(fl, &fanout_sample::rss_kib);
    std::vector<double> asio_extra;
    for (std::size_t v = 0; v < ids.size(); ++v)
    {
      if (samples[v].empty())
      {
        t.add({label_of(ids[v]), dropped[v]});
        continue;
      }
      std::vector<double> total = column(v, &fanout_sample::total_ms);
      std::vector<double> rss = column(v, &fanout_sample::rss_kib);
      std::vector<double> extra;
      for (std::size_t r = 0; r < rss.size(); ++r)
        extra.push_back((rss[r] - floor_rss[r]) * 1024 / n);
      std::string total_cell = med_range(total, "%.0f");
      if (static_cast<int>(total.size()) < cfg.s3_rounds)
        total_cell += format(
            " [%zu round%s]", total.size(), total.size() == 1 ? "" : "s");
      t.add({label_of(ids[v]), total_cell,
          times(median(ratios(total, floor_total))),
          med_range(column(v, &fanout_sample::spawn_ms), "%.0f"),
          format("%.0f", max_of(column(v, &fanout_sample::threads))),
          format("%.0f", max_of(column(v, &fanout_sample::fds))),
          format("%.1f", median(rss) / 1024), format("%.0f", median(extra))});
      const double memory_target = s3_memory_target(n);
      if (memory_target > 0 && (ids[v] == "asio_cb" || ids[v] == "asio_coro"))
      {
        add_target(format("S3 N=%d: %s total vs floor", n, ids[v].c_str()),
            median(ratios(total, floor_total)), 1.1);
        add_target(format("S3 N=%d: %s threads", n, ids[v].c_str()),
            max_of(column(v, &fanout_sample::threads)), 1, "");
        add_target(format("S3 N=%d: %s parent memory/child above floor", n,
                       ids[v].c_str()),
            median(extra), memory_target, " B");
      }
    }
    t.print(stdout);
    if (with_fallback && !samples[ids.size()].empty())
      s3_fallback_table(n, samples[ids.size()], floor_total, floor_rss);
  }
}

// ---- S4: exit-notification latency -----------------------------------------

void s4(const std::string& child)
{
  std::printf("## S4: exit-notification latency\n\n");
  std::printf(
      "One child at a time: the static child maps a /dev/shm file "
      "MAP_SHARED and has clock_gettime(CLOCK_MONOTONIC) write into it as "
      "its last system call before exit_group; the parent reads "
      "CLOCK_MONOTONIC first thing in the completion handler (or right "
      "after the blocking wait returns). %d rounds x %d children per "
      "variant (N = %d per variant); within a round the variants take "
      "turns child by child, the order rotated at every turn.\n\n",
      cfg.s4_rounds, cfg.s4_per_round, cfg.s4_rounds * cfg.s4_per_round);
  const std::string path =
      format("/dev/shm/pidfd-bench-%d.stamp", static_cast<int>(::getpid()));
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::ftruncate(fd, 4096) != 0)
    throw std::system_error(errno, std::generic_category(), path);
  void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (page == MAP_FAILED)
    throw std::system_error(errno, std::generic_category(), "mmap");
  auto* stamp = static_cast<volatile std::int64_t*>(page);

  contestants c(selected());
  const command cmd(child, {path});
  auto one = [&](spawner& s) {
    stamp[0] = 0;
    stamp[1] = 0;
    std::int64_t done = 0;
    s.run_sequential(cmd, 1, &done);
    const std::int64_t t = stamp[0] * 1'000'000'000 + stamp[1];
    if (t == 0)
      throw std::runtime_error("S4: the child left no stamp");
    return static_cast<double>(done - t) / 1e3;
  };
  for (auto& s : c.spawners)
    for (int i = 0; i < cfg.warmup; ++i)
      one(*s);

  const std::size_t nv = c.ids.size();
  // [variant][round] -> samples in microseconds.
  std::vector<std::vector<std::vector<double>>> lat(nv);
  for (int r = 0; r < cfg.s4_rounds; ++r)
  {
    progress("S4: round %d/%d\n", r + 1, cfg.s4_rounds);
    // Within a round the variants take turns child by child (the order
    // rotated each turn), so that a burst of load from elsewhere on the
    // machine hits them all alike.
    for (auto& l : lat)
      l.emplace_back();
    for (int i = 0; i < cfg.s4_per_round; ++i)
      round_robin(nv, r * cfg.s4_per_round + i, [&](std::size_t v) {
        lat[v].back().push_back(one(*c.spawners[v]));
        record("s4", "sample", c.ids[v], r, "latency_us", lat[v].back().back());
      });
  }
  ::munmap(page, 4096);
  ::unlink(path.c_str());

  auto pooled = [&](std::size_t v) {
    std::vector<double> all;
    for (const auto& round : lat[v])
      all.insert(all.end(), round.begin(), round.end());
    return all;
  };
  auto per_round_stat = [&](std::size_t v, double q) {
    std::vector<double> out;
    for (const auto& round : lat[v])
      out.push_back(percentile(round, q));
    return out;
  };
  const std::size_t fl = index_of(c.ids, floor_id);
  const std::vector<double> floor_all = pooled(fl);
  table t({"variant", "median us", "p90 us", "p99 us", "max us",
      "x floor median (rounds)", "x floor p99 (rounds)",
      "x floor p99 (pooled)"});
  for (std::size_t v = 0; v < nv; ++v)
  {
    const std::vector<double> all = pooled(v);
    const double med_ratio =
        median(ratios(per_round_stat(v, 0.5), per_round_stat(fl, 0.5)));
    const double p99_ratio =
        median(ratios(per_round_stat(v, 0.99), per_round_stat(fl, 0.99)));
    t.add({label_of(c.ids[v]), format("%.1f", percentile(all, 0.5)),
        format("%.1f", percentile(all, 0.9)),
        format("%.1f", percentile(all, 0.99)), format("%.1f", max_of(all)),
        times(med_ratio), times(p99_ratio),
        times(percentile(all, 0.99) / percentile(floor_all, 0.99))});
    if (c.ids[v] == "asio_cb" || c.ids[v] == "asio_coro")
    {
      add_target(format("S4: %s median latency vs floor", c.ids[v].c_str()),
          med_ratio, 1.1);
      add_target(format("S4: %s p99 latency vs floor", c.ids[v].c_str()),
          p99_ratio, 1.25);
    }
  }
  std::printf("Percentiles are nearest-rank over all samples; \"(rounds)\" "
              "ratios are medians of per-round ratios of that round's "
              "percentile.\n\n");
  t.print(stdout);
}

// ---- main ------------------------------------------------------------------

void print_targets()
{
  if (targets.empty())
    return;
  std::printf("## Targets\n\n");
  table t({"target", "measured", "met"});
  for (const target& x : targets)
    t.add({x.what, x.measured, x.met ? "yes" : "**no**"});
  t.print(stdout);
}

[[noreturn]] void usage()
{
  std::fprintf(stderr,
      "usage: pidfd_bench SCENARIO [options]\n"
      "  SCENARIO: all | s1 | counts | s2 | s3 | s4 | quick | smoke\n"
      "            loop VARIANT N [static|true [MIB]]: one variant alone\n"
      "            (s3-one VARIANT N: one S3 fan-out, and\n"
      "            s1-one VARIANT,... ROUNDS BATCH: S1 static alone,\n"
      "            used internally; run them with PIDFD_ASIO_FORCE_FALLBACK=1\n"
      "            for the library's wait4 fallback)\n"
      "  --csv FILE          raw data, one row per measurement\n"
      "  --variants a,b,...  run these (and the floor) only\n"
      "  --s1 ROUNDS,BATCH   --s2 ROUNDS,BATCH,MIB,FDS\n"
      "  --s3 ROUNDS,N1,N2,... --s3-sleep SECONDS --s3-cap SECONDS\n"
      "  --s4 ROUNDS,PER_ROUND   --warmup N\n"
      "  --counts N1,N2      counts: batches of N1 and N2 cycles\n"
      "variants:");
  for (const variant& v : all_variants())
    std::fprintf(stderr, " %s", v.id);
  std::fprintf(stderr, "\n");
  std::exit(2);
}

std::vector<std::string> split(const std::string& s)
{
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;)
  {
    std::size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma - start));
    if (comma == std::string::npos)
      return out;
    start = comma + 1;
  }
}

std::vector<long> numbers(const std::string& s, std::size_t min_count)
{
  std::vector<long> out;
  for (const std::string& part : split(s))
  {
    char* end = nullptr;
    long v = std::strtol(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || v <= 0)
      usage();
    out.push_back(v);
  }
  if (out.size() < min_count)
    usage();
  return out;
}

void smoke_config()
{
  cfg.s1_rounds = 2;
  cfg.s1_batch = 3;
  cfg.s2_rounds = 1;
  cfg.s2_batch = 3;
  cfg.s2_mib = 16;
  cfg.s2_fds = 50;
  cfg.s3_rounds = 1;
  cfg.s3_ns = {5};
  cfg.s3_sleep = "0.01";
  cfg.s4_rounds = 1;
  cfg.s4_per_round = 3;
  cfg.warmup = 1;
  cfg.count_n1 = 3;
  cfg.count_n2 = 6;
  cfg.count_fanout = 4;
}

int run(int argc, char** argv)
{
  if (argc < 2)
    usage();
  // pidfd-asio's rows are its epoll mechanism's unless the caller chose
  // (the [io_uring] rows choose in their own subprocess), so that they
  // stay comparable with earlier results.
  ::setenv(mechanism_env, "epoll", 0);
  const std::string scenario = argv[1];
  int first_option = 2;
  if (scenario == "s1-one")
  {
    if (argc < 5)
      usage();
    first_option = 5;
  }
  if (scenario == "s3-one" || scenario == "loop")
  {
    if (argc < 4)
      usage();
    if (scenario == "loop")
      return loop(argv[2], static_cast<int>(numbers(argv[3], 1)[0]),
          argc > 4 && std::string_view(argv[4]) == "true",
          argc > 5 ? std::strtol(argv[5], nullptr, 10) : 0);
    first_option = 4;
  }
  if (scenario == "smoke")
    smoke_config();
  for (int i = first_option; i < argc; ++i)
  {
    const std::string opt = argv[i];
    if (i + 1 >= argc)
      usage();
    const std::string val = argv[++i];
    if (opt == "--csv")
      cfg.csv_path = val;
    else if (opt == "--variants")
      cfg.variants = split(val);
    else if (opt == "--s1")
    {
      auto v = numbers(val, 2);
      cfg.s1_rounds = static_cast<int>(v[0]);
      cfg.s1_batch = static_cast<int>(v[1]);
    }
    else if (opt == "--s2")
    {
      auto v = numbers(val, 4);
      cfg.s2_rounds = static_cast<int>(v[0]);
      cfg.s2_batch = static_cast<int>(v[1]);
      cfg.s2_mib = v[2];
      cfg.s2_fds = static_cast<int>(v[3]);
    }
    else if (opt == "--s3")
    {
      auto v = numbers(val, 2);
      cfg.s3_rounds = static_cast<int>(v[0]);
      cfg.s3_ns.assign(v.begin() + 1, v.end());
    }
    else if (opt == "--s3-sleep")
      cfg.s3_sleep = val;
    else if (opt == "--s3-cap")
      cfg.s3_cap_ms = static_cast<double>(numbers(val, 1)[0]) * 1000;
    else if (opt == "--s4")
    {
      auto v = numbers(val, 2);
      cfg.s4_rounds = static_cast<int>(v[0]);
      cfg.s4_per_round = static_cast<int>(v[1]);
    }
    else if (opt == "--counts")
    {
      auto v = numbers(val, 2);
      if (v[1] <= v[0])
        usage();
      cfg.count_n1 = static_cast<int>(v[0]);
      cfg.count_n2 = static_cast<int>(v[1]);
    }
    else if (opt == "--warmup")
      cfg.warmup = static_cast<int>(numbers(val, 1)[0]);
    else
      usage();
  }

  if (scenario == "s1-one")
    return s1_one(argv[2], static_cast<int>(numbers(argv[3], 1)[0]),
        static_cast<int>(numbers(argv[4], 1)[0]));
  if (scenario == "s3-one")
    return s3_one(argv[2], static_cast<int>(numbers(argv[3], 1)[0]));

  raise_nofile_limit();
  if (!cfg.csv_path.empty())
  {
    csv = std::fopen(cfg.csv_path.c_str(), "we");
    if (!csv)
      throw std::system_error(errno, std::generic_category(), cfg.csv_path);
    std::fprintf(csv, "scenario,condition,variant,round,metric,value\n");
  }
  const std::string child = bench::child_program;
  std::printf("pidfd-asio mechanisms: %s\n\n",
      pidfd::kernel_support().to_string().c_str());
  const bool all = scenario == "all" || scenario == "smoke";
  bool known = all;
  if (all || scenario == "s1")
    s1(child), known = true;
  if (all || scenario == "counts")
    counts(), known = true;
  if (all || scenario == "s4")
    s4(child), known = true;
  if (all || scenario == "s2")
    s2(child), known = true;
  if (all || scenario == "s3")
    s3(), known = true;
  if (scenario == "quick")
    quick(), known = true;
  if (!known)
    usage();
  print_targets();
  if (csv)
    std::fclose(csv);
  return 0;
}

} // namespace
} // namespace bench

int main(int argc, char** argv)
{
  try
  {
    return bench::run(argc, argv);
  }
  catch (const std::exception& e)
  {
    std::fprintf(stderr, "pidfd_bench: %s\n", e.what());
    return 1;
  }
}
