//
// benchmarks/bench.hpp
// ~~~~~~~~~~~~~~~~~~~
// What the scenario driver (pidfd_bench.cpp) and the spawners
// (spawners.cpp) share: clocks, statistics, /proc probes, the command to
// run and the spawner interface.
//

#ifndef PIDFD_BENCH_BENCH_HPP
#define PIDFD_BENCH_BENCH_HPP

#include "pidfd/spawn.hpp"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

// The programs the benchmarks start, in the build tree. Defined in
// paths.cpp, the one file compiled with their paths, so that the others do
// not depend on where the tree is (a compiler cache then serves a clone in
// another folder).
extern const char* const child_program; // bench_child
extern const char* const counter_program; // bench_counter

// CLOCK_MONOTONIC in nanoseconds: the clock the S4 child stamps with.
std::int64_t now_ns() noexcept;

// Throws std::system_error(errno, what) unless `ok`.
void check_errno(bool ok, const char* what);

// snprintf into a std::string.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// ---- statistics -----------------------------------------------------------

double median(std::vector<double> v);

// Nearest-rank percentile, q in [0, 1].
double percentile(std::vector<double> v, double q);

double min_of(const std::vector<double>& v);
double max_of(const std::vector<double>& v);

// Element-wise a[i] / b[i]: the ratio taken round by round.
std::vector<double> ratios(
    const std::vector<double>& a, const std::vector<double>& b);

// A Markdown table, printed with its columns padded.
class table
{
public:
  explicit table(std::vector<std::string> header);
  void add(std::vector<std::string> row);
  void print(std::FILE* out) const;

private:
  std::vector<std::vector<std::string>> rows_;
};

// ---- the process we run in ------------------------------------------------

// Raises the RLIMIT_NOFILE soft limit to the hard limit; returns it.
long raise_nofile_limit();

// Threads of this process (/proc/self/status "Threads:").
int count_threads();

// Open fds of this process (/proc/self/fd, minus the one reading it).
int count_fds();

// Peak resident set of this process in KiB (/proc/self/status "VmHWM:").
long peak_rss_kib();
// Children of the calling thread not yet reaped (running or zombie), from
// /proc/self/task/TID/children (CONFIG_PROC_CHILDREN); -1 if unavailable.
int count_live_children();

// ---- what the children run ------------------------------------------------

// A program and its arguments in the forms the various spawners take. It
// holds views into itself: neither copyable nor movable.
class command
{
public:
  command(std::string program, std::vector<std::string> args);
  command(const command&) = delete;
  command& operator=(const command&) = delete;

  const std::string& program() const noexcept { return program_; }
  const std::filesystem::path& path() const noexcept { return path_; }
  const std::vector<std::string>& args() const noexcept { return args_; }
  const pidfd::argument_list& pidfd_args() const noexcept
  {
    return pidfd_args_;
  }
  // argv[0..], null-terminated, for execve and posix_spawn.
  char* const* argv() const noexcept { return argv_.data(); }

private:
  std::string program_;
  std::filesystem::path path_;
  std::vector<std::string> args_;
  pidfd::argument_list pidfd_args_;
  std::vector<char*> argv_;
};

// ---- spawners -------------------------------------------------------------

// What a fan-out (S3) observed.
struct fanout_result
{
  std::int64_t spawn_ns = 0; // until the last spawn returned
  std::int64_t total_ns = 0; // until the last exit was collected
  int threads = 0; // at the end of the spawn phase
  int fds = 0; // at the end of the spawn phase
  int live_children = -1; // unreaped children then (-1: unknown)
};

// The spawn phase's figures, read as it ends: its time since `start`, and
// this process's threads, fds and unreaped children.
fanout_result spawn_phase_done(std::int64_t start);

// One way of starting children and learning that they have exited. Every
// spawner checks that each child exited with status 0 and throws
// std::runtime_error otherwise.
class spawner
{
public:
  virtual ~spawner() = default;

  // Starts cmd n times, each child waited for before the next starts. If
  // done is not null, done[i] receives now_ns() as read first thing where
  // the i-th exit is reported (the completion handler, or right after the
  // blocking wait returns).
  virtual void run_sequential(
      const command& cmd, int n, std::int64_t* done) = 0;

  // Starts cmd n times at once, then waits for all of them.
  virtual fanout_result run_fanout(const command& cmd, int n) = 0;

  // False for spawners that can only wait for one child at a time.
  virtual bool can_fanout() const { return true; }
};

struct variant
{
  const char* id; // command-line and CSV name
  const char* label; // report name
  // Run only when named with --variants (it needs root and cgroup2, or
  // measures one option alone).
  bool on_request = false;
};

// Every variant, pidfd-asio's first; the floor is "raw_vfork".
const std::vector<variant>& all_variants();

// The id of the floor variant every ratio is taken against.
inline constexpr std::string_view floor_id = "raw_vfork";

// Throws std::invalid_argument for an unknown id.
std::unique_ptr<spawner> make_spawner(std::string_view id);

// ---- counting (pidfd_bench counts) ---------------------------------------

// The counted program (counter.cpp) marks the start of phase k with
// getppid(count_marker, k): arguments getppid ignores and the tracer
// recognises.
inline constexpr unsigned long count_marker = 0x636f756e74; // "count"

// What a traced program did.
struct trace_result
{
  bool traced = false; // false: ptrace was refused, nothing was counted
  std::string out; // its stdout
  int wait_status = 0; // as waitpid reports it
  // System calls (number -> calls, every thread) per phase: phase k runs
  // from marker k to marker k + 1, phase 0 from the start.
  std::vector<std::map<long, long>> phases;
};

// Runs path (argv and envp null-terminated) under ptrace, following its
// threads but none of its children, and counts the system calls each
// thread enters. If ptrace is refused (a tracer already attached, a
// policy), the program runs untraced. Call it with no other child of this
// process alive: it waits for any.
trace_result trace_syscalls(
    const std::string& path, char* const* argv, char* const* envp);

// The name of a system call of this architecture ("clone3"), or "#435".
std::string syscall_name(long nr);

} // namespace bench

#endif // PIDFD_BENCH_BENCH_HPP
