//
// benchmarks/spawners.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// The variants compared in every scenario: pidfd-asio (callbacks,
// co_await, blocking wait), the raw-syscall floors, Boost.Process v2 and
// thread-per-child waitpid.
//

#include "bench.hpp"
#include "bp2.hpp"
#include "floors.hpp"

#include "pidfd/asio.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <deque>
#include <exception>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <spawn.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace bench {
namespace {

namespace asio = boost::asio;
namespace bp2 = boost::process::v2;
using boost::system::error_code;

[[noreturn]] void fail(const char* what, int err)
{
  throw std::system_error(err, std::generic_category(), what);
}

void check_status(const char* who, int wait_status)
{
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0)
    throw std::runtime_error(
        format("%s: child failed, wait status %#x", who, wait_status));
}

void check_status(const char* who, error_code ec, const pidfd::exit_status& s)
{
  if (ec)
    throw std::runtime_error(format("%s: %s", who, ec.message().c_str()));
  if (!s.success())
    throw std::runtime_error(
        format("%s: child failed: %s", who, s.to_string().c_str()));
}

void check_code(const char* who, error_code ec, int code)
{
  if (ec)
    throw std::runtime_error(format("%s: %s", who, ec.message().c_str()));
  if (code != 0)
    throw std::runtime_error(format("%s: child exit code %d", who, code));
}

pid_t waitpid_retry(pid_t pid, int& status)
{
  pid_t r;
  while ((r = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR)
  {
  }
  check_errno(r > 0, "waitpid");
  return r;
}

// ---- pidfd-asio -----------------------------------------------------------

// Callbacks: each completion handler starts the next child, as an
// event-driven program would. With a cgroup placement in the options: the
// cost of spawning into a cgroup (the cgroup variants).
class asio_callbacks final : public spawner
{
public:
  explicit asio_callbacks(pidfd::spawn_options options = {})
    : options_(std::move(options))
  {
  }

  void run_sequential(const command& cmd, int n, std::int64_t* done) override
  {
    chain c{ctx_, cmd, options_, n, done};
    c.next();
    ctx_.run();
    ctx_.restart();
    if (c.i != n)
      throw std::runtime_error("asio_cb: chain stopped early");
  }

  fanout_result run_fanout(const command& cmd, int n) override
  {
    std::vector<pidfd::process> procs;
    procs.reserve(n);
    int finished = 0;
    const std::int64_t start = now_ns();
    for (int i = 0; i < n; ++i)
    {
      procs.push_back(
          pidfd::spawn(ctx_, cmd.program(), cmd.pidfd_args(), options_));
      procs.back().async_wait([&finished](error_code ec, pidfd::exit_status s) {
        check_status("asio_cb", ec, s);
        ++finished;
      });
    }
    fanout_result r = spawn_phase_done(start);
    ctx_.run();
    ctx_.restart();
    r.total_ns = now_ns() - start;
    if (finished != n)
      throw std::runtime_error("asio_cb: missing completions");
    return r;
  }

private:
  struct chain
  {
    asio::io_context& ctx;
    const command& cmd;
    const pidfd::spawn_options& options;
    int n;
    std::int64_t* done;
    int i = 0;
    pidfd::process proc{ctx};

    void next()
    {
      proc = pidfd::spawn(ctx, cmd.program(), cmd.pidfd_args(), options);
      proc.async_wait([this](error_code ec, pidfd::exit_status s) {
        const std::int64_t t = now_ns();
        check_status("asio_cb", ec, s);
        if (done)
          done[i] = t;
        if (++i < n)
          next();
      });
    }
  };

  pidfd::spawn_options options_;
  asio::io_context ctx_;
};

// A cgroup of the benchmark's own under the cgroup2 mount, removed with it.
class bench_cgroup
{
public:
  bench_cgroup()
  {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line))
      if (line.find(" - cgroup2 ") != std::string::npos)
      {
        std::istringstream fields(line);
        std::string skip;
        fields >> skip >> skip >> skip >> skip >> path_;
        break;
      }
    if (path_.empty())
      throw std::runtime_error("cgroup variants: no cgroup2 mount");
    static int count = 0;
    path_ += "/pidfd-bench-" + std::to_string(::getpid()) + "-"
        + std::to_string(++count);
    if (::mkdir(path_.c_str(), 0755) != 0)
      throw std::system_error(errno, std::generic_category(),
          "cgroup variants: mkdir " + path_ + " (needs root)");
  }
  bench_cgroup(const bench_cgroup&) = delete;
  bench_cgroup& operator=(const bench_cgroup&) = delete;
  // Every child has been waited for by then; a cgroup_new child's cgroup
  // has gone with its process object.
  ~bench_cgroup() { ::rmdir(path_.c_str()); }

  const std::string& path() const { return path_; }

private:
  std::string path_;
};

// asio_callbacks spawning into a cgroup: the benchmark's own (joined), or a
// new one per child, created and removed by the library.
class asio_cgroup final : public spawner
{
public:
  explicit asio_cgroup(bool new_per_child)
    : inner_([&] {
        pidfd::spawn_options o;
        o.cgroup = new_per_child
            ? pidfd::cgroup_placement::create_in(cgroup_.path())
            : pidfd::cgroup_placement::join(cgroup_.path());
        return o;
      }())
  {
  }

  void run_sequential(const command& cmd, int n, std::int64_t* done) override
  {
    inner_.run_sequential(cmd, n, done);
  }

  fanout_result run_fanout(const command& cmd, int n) override
  {
    return inner_.run_fanout(cmd, n);
  }

private:
  bench_cgroup cgroup_; // before inner_, which names it
  asio_callbacks inner_;
};

// C++20 coroutines: one co_await per child.
class asio_coroutine final : public spawner
{
public:
  explicit asio_coroutine(pidfd::spawn_options options = {})
    : options_(std::move(options))
  {
  }

  void run_sequential(const command& cmd, int n, std::int64_t* done) override
  {
    asio::co_spawn(ctx_, sequence(cmd, options_, n, done), rethrow);
    ctx_.run();
    ctx_.restart();
  }

  fanout_result run_fanout(const command& cmd, int n) override
  {
    fanout_state st{cmd, options_, n, 0, 0, 0, {}};
    st.start = now_ns();
    for (int i = 0; i < n; ++i)
      asio::co_spawn(ctx_, one(st), rethrow);
    ctx_.run();
    ctx_.restart();
    st.result.total_ns = now_ns() - st.start;
    if (st.finished != n)
      throw std::runtime_error("asio_coro: missing completions");
    return st.result;
  }

private:
  pidfd::spawn_options options_;

  static void rethrow(std::exception_ptr e)
  {
    if (e)
      std::rethrow_exception(e);
  }

  static asio::awaitable<void> sequence(const command& cmd,
      const pidfd::spawn_options& options, int n, std::int64_t* done)
  {
    auto ex = co_await asio::this_coro::executor;
    for (int i = 0; i < n; ++i)
    {
      pidfd::process p =
          pidfd::spawn(ex, cmd.program(), cmd.pidfd_args(), options);
      pidfd::exit_status s = co_await p.async_wait(asio::use_awaitable);
      const std::int64_t t = now_ns();
      check_status("asio_coro", {}, s);
      if (done)
        done[i] = t;
    }
  }

  struct fanout_state
  {
    const command& cmd;
    const pidfd::spawn_options& options;
    int n;
    int spawned = 0;
    int finished = 0;
    std::int64_t start = 0;
    fanout_result result;
  };

  static asio::awaitable<void> one(fanout_state& st)
  {
    auto ex = co_await asio::this_coro::executor;
    pidfd::process p =
        pidfd::spawn(ex, st.cmd.program(), st.cmd.pidfd_args(), st.options);
    if (++st.spawned == st.n)
      st.result = spawn_phase_done(st.start);
    pidfd::exit_status s = co_await p.async_wait(asio::use_awaitable);
    check_status("asio_coro", {}, s);
    ++st.finished;
  }

  asio::io_context ctx_;
};

// The blocking wait(), for reference: no reactor involved.
class asio_blocking final : public spawner
{
public:
  void run_sequential(const command& cmd, int n, std::int64_t* done) override
  {
    for (int i = 0; i < n; ++i)
    {
      pidfd::process p = pidfd::spawn(ctx_, cmd.program(), cmd.pidfd_args());
      pidfd::exit_status s = p.wait();
      const std::int64_t t = now_ns();
      check_status("asio_sync", {}, s);
      if (done)
        done[i] = t;
    }
  }

  fanout_result run_fanout(const command&, int) override
  {
    throw std::logic_error("asio_sync cannot fan out");
  }

  bool can_fanout() const override { return false; }

private:
  asio::io_context ctx_;
};

// ---- the raw floor: clone(CLONE_PIDFD | CLONE_VM | CLONE_VFORK), epoll --

// The floor: vfork_starter's children, one epoll, waitid.
class raw_vfork final : public spawner
{
public:
  explicit raw_vfork(bool share_files)
    : name_(share_files ? "raw_vfork_files" : "raw_vfork"),
      starter_(share_files), epoll_(::epoll_create1(EPOLL_CLOEXEC))
  {
    check_errno(epoll_ >= 0, "epoll_create1");
  }

  ~raw_vfork() override { ::close(epoll_); }

  void run_sequential(const command& cmd, int n, std::int64_t* done) override
  {
    for (int i = 0; i < n; ++i)
    {
      int pidfd = starter_.start(cmd);
      watch(pidfd);
      epoll_event ev{};
      int r;
      while ((r = ::epoll_wait(epoll_, &ev, 1, -1)) < 0 && errno == EINTR)
      {
      }
      check_errno(r == 1, "epoll_wait");
      int status = reap(ev.data.fd);
      const std::int64_t t = now_ns();
      check_status(name_, status);
      if (done)
        done[i] = t;
    }
  }

  fanout_result run_fanout(const command& cmd, int n) override
  {
    const std::int64_t start = now_ns();
    for (int i = 0; i < n; ++i)
      watch(starter_.start(cmd));
    fanout_result r = spawn_phase_done(start);
    int left = n;
    epoll_event ev[256];
    while (left > 0)
    {
      int k = ::epoll_wait(epoll_, ev, 256, -1);
      if (k < 0 && errno == EINTR)
        continue;
      check_errno(k > 0, "epoll_wait");
      for (int j = 0; j < k; ++j)
        check_status(name_, reap(ev[j].data.fd));
      left -= k;
    }
    r.total_ns = now_ns() - start;
    return r;
  }

private:
  // EPOLLONESHOT: close() removes a pidfd from the set only when no other
  // fd table refers to its file any more, and a child spawned after it
  // holds a copy from clone until execve's close-on-exec pass, which runs
  // after we are woken from the vfork. Reported again after the close, the
  // stale entry would name a closed (or reused) fd.
  void watch(int pidfd)
  {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.fd = pidfd;
    check_errno(
        ::epoll_ctl(epoll_, EPOLL_CTL_ADD, pidfd, &ev) == 0, "epoll_ctl");
  }

  // Collects the status and closes the pidfd (which leaves the epoll set).
  static int reap(int pidfd)
  {
    const int status = collect_status(pidfd);
    ::close(pidfd);
    return status;
  }

  const char* name_;
  vfork_starter starter_;
  int epoll_;
};

// ---- the floor's children, waited for through Asio ------------------------

// The least any Asio binding of a pidfd does: the floor's clone, the pidfd
// in a posix::stream_descriptor, async_wait(wait_read), then waitid and the
// descriptor's close in the handler. Its distance from the floor is what
// Asio's reactor and handler dispatch cost before any library code runs.
class raw_asio final : public spawner
{
public:
  void run_sequential(const command& cmd, int n, std::int64_t* done) override
  {
    chain_.begin(cmd, n, done);
    start_next();
    ctx_.restart();
    ctx_.run();
    chain_.check_all_collected("raw_asio");
  }

  fanout_result run_fanout(const command& cmd, int n) override
  {
    const std::int64_t start = now_ns();
    std::deque<asio::posix::stream_descriptor> pidfds;
    int left = n;
    for (int i = 0; i < n; ++i)
    {
      auto& d = pidfds.emplace_back(ctx_, starter_.start(cmd));
      d.async_wait(
          asio::posix::descriptor_base::wait_read, [&d, &left](error_code ec) {
            collect(ec, d);
            --left;
          });
    }
    fanout_result r = spawn_phase_done(start);
    ctx_.restart();
    ctx_.run();
    if (left != 0)
      throw std::runtime_error("raw_asio: missing completions");
    r.total_ns = now_ns() - start;
    return r;
  }

private:
  // The child behind `pidfd`, whose wait completed with `ec`: its status
  // checked. The descriptor's close() is Asio's: it also leaves the
  // reactor.
  static void collect(error_code ec, asio::posix::stream_descriptor& pidfd)
  {
    check_code("raw_asio", ec, 0);
    const int status = collect_status(pidfd.native_handle());
    pidfd.close();
    check_status("raw_asio", status);
  }

  // Each child is started from the handler that collected the one before.
  void start_next()
  {
    pidfd_.assign(starter_.start(chain_.cmd()));
    pidfd_.async_wait(
        asio::posix::descriptor_base::wait_read, [this](error_code ec) {
          const std::int64_t t = now_ns();
          collect(ec, pidfd_);
          if (chain_.collected(t))
            start_next();
        });
  }

  asio::io_context ctx_;
  asio::posix::stream_descriptor pidfd_{ctx_};
  vfork_starter starter_{false};
  handler_chain chain_;
};

// ---- posix_spawn, fork, thread per child ----------------------------------

pid_t posix_spawn_checked(const command& cmd)
{
  pid_t pid = 0;
  int err = ::posix_spawn(
      &pid, cmd.program().c_str(), nullptr, nullptr, cmd.argv(), environ);
  if (err != 0)
    fail("posix_spawn", err);
  return pid;
}

pid_t fork_exec(const command& cmd)
{
  pid_t pid = ::fork();
  check_errno(pid >= 0, "fork");
  if (pid == 0)
  {
    ::execve(cmd.program().c_str(), cmd.argv(), environ);
    ::_exit(127);
  }
  return pid;
}

// Children started by start(cmd), waited for with waitpid: posix_spawn
// (glibc: clone(CLONE_VM | CLONE_VFORK)) or fork + execve.
template <pid_t (*Start)(const command&)>
class waitpid_spawner final : public spawner
{
public:
  explicit waitpid_spawner(const char* name) : name_(name) {}

  void run_sequential(const command& cmd, int n, std::int64_t* done) override
  {
    for (int i = 0; i < n; ++i)
    {
      pid_t pid = Start(cmd);
      int status = 0;
      waitpid_retry(pid, status);
      const std::int64_t t = now_ns();
      check_status(name_, status);
      if (done)
        done[i] = t;
    }
  }

  fanout_result run_fanout(const command& cmd, int n) override
  {
    const std::int64_t start = now_ns();
    for (int i = 0; i < n; ++i)
      Start(cmd);
    fanout_result r = spawn_phase_done(start);
    for (int i = 0; i < n; ++i)
    {
      int status = 0;
      waitpid_retry(-1, status);
      check_status(name_, status);
    }
    r.total_ns = now_ns() - start;
    return r;
  }

private:
  const char* name_;
};

// posix_spawn, then a thread per child blocked in waitpid: what a
// thread-based fallback cannot beat.
class thread_per_child final : public spawner
{
public:
  void run_sequential(const command& cmd, int n, std::int64_t* done) override
  {
    for (int i = 0; i < n; ++i)
    {
      pid_t pid = posix_spawn_checked(cmd);
      int status = 0;
      std::int64_t t = 0;
      std::thread waiter([&] {
        waitpid_retry(pid, status);
        t = now_ns();
      });
      waiter.join();
      check_status("thread_waitpid", status);
      if (done)
        done[i] = t;
    }
  }

  fanout_result run_fanout(const command& cmd, int n) override
  {
    std::deque<int> statuses(n);
    std::vector<std::thread> waiters;
    waiters.reserve(n);
    // Early waiters finish while later children are still being spawned;
    // count the live ones to report the true peak.
    std::atomic<int> live{1};
    std::atomic<int> peak{1};
    const std::int64_t start = now_ns();
    for (int i = 0; i < n; ++i)
    {
      pid_t pid = posix_spawn_checked(cmd);
      int* status = &statuses[i];
      int now = ++live;
      int old = peak.load();
      while (now > old && !peak.compare_exchange_weak(old, now))
      {
      }
      waiters.emplace_back([pid, status, &live] {
        waitpid_retry(pid, *status);
        --live;
      });
    }
    fanout_result r = spawn_phase_done(start);
    for (std::thread& t : waiters)
      t.join();
    r.total_ns = now_ns() - start;
    r.threads = std::max(r.threads, peak.load());
    for (int s : statuses)
      check_status("thread_waitpid", s);
    return r;
  }
};

// ---- Boost.Process v2 (Boost 1.81) ----------------------------------------

// Launcher is bp2::default_process_launcher (fork, pipe for exec errors)
// or bp2::posix::vfork_launcher.
template <typename Launcher>
class boost_process final : public spawner
{
public:
  explicit boost_process(const char* name) : name_(name) {}

  void run_sequential(const command& cmd, int n, std::int64_t* done) override
  {
    chain c{this, cmd, n, done, 0, std::nullopt};
    c.next();
    ctx_.run();
    ctx_.restart();
    if (c.i != n)
      throw std::runtime_error(format("%s: chain stopped early", name_));
  }

  fanout_result run_fanout(const command& cmd, int n) override
  {
    // async_wait keeps references into the process: no reallocation.
    std::deque<bp2::process> procs;
    int finished = 0;
    const std::int64_t start = now_ns();
    for (int i = 0; i < n; ++i)
    {
      procs.push_back(Launcher()(ctx_.get_executor(), cmd.path(), cmd.args()));
      procs.back().async_wait([this, &finished](error_code ec, int code) {
        check_code(name_, ec, code);
        ++finished;
      });
    }
    fanout_result r = spawn_phase_done(start);
    ctx_.run();
    ctx_.restart();
    r.total_ns = now_ns() - start;
    if (finished != n)
      throw std::runtime_error(format("%s: missing completions", name_));
    return r;
  }

private:
  struct chain
  {
    boost_process* self;
    const command& cmd;
    int n;
    std::int64_t* done;
    int i = 0;
    std::optional<bp2::process> proc;

    void next()
    {
      proc.reset();
      proc.emplace(
          Launcher()(self->ctx_.get_executor(), cmd.path(), cmd.args()));
      proc->async_wait([this](error_code ec, int code) {
        const std::int64_t t = now_ns();
        check_code(self->name_, ec, code);
        if (done)
          done[i] = t;
        if (++i < n)
          next();
      });
    }
  };

  const char* name_;
  asio::io_context ctx_;
  // In Boost 1.81 the vfork launcher's second spawn fails with "assign:
  // Invalid argument" unless the reactor exists before the first spawn (the
  // vfork child runs notify_fork(fork_child), which recreates the reactor's
  // fds in memory it shares with us). A timer creates the reactor up front.
  asio::steady_timer reactor_{ctx_};
};

} // namespace

const std::vector<variant>& all_variants()
{
  static const std::vector<variant> v = {
      {"asio_cb", "pidfd-asio, callback"},
      {"asio_coro", "pidfd-asio, co_await"},
      {"asio_sync", "pidfd-asio, wait()"},
      {"raw_vfork", "floor: clone(PIDFD|VM|VFORK)+epoll+waitid"},
      {"raw_vfork_files", "floor + CLONE_FILES, close_range(UNSHARE)"},
      {"raw_asio", "floor's clone, waited for by an Asio descriptor", true},
      {"raw_uring", "floor's clone, reaped in an io_uring (WAITID)", true},
      {"raw_uring_epoll", "floor's clone, reaped in an io_uring, epoll", true},
      {"raw_uring_asio", "floor's clone, reaped in an io_uring, Asio", true},
      {"posix_spawn", "posix_spawn+waitpid"},
      {"bp2_default", "Boost.Process v2, default_launcher"},
      {"bp2_vfork", "Boost.Process v2, vfork_launcher"},
      {"fork_exec", "fork+execve+waitpid"},
      {"thread_waitpid", "posix_spawn+thread/child waitpid"},
      {"asio_cgroup", "pidfd-asio, callback, into a cgroup", true},
      {"asio_cgroup_new", "pidfd-asio, callback, a new cgroup each", true},
      {"asio_userns", "pidfd-asio, callback, a new user namespace", true},
      {"asio_cb_bare", "pidfd-asio, callback, no resource usage", true},
      {"asio_coro_bare", "pidfd-asio, co_await, no resource usage", true},
  };
  return v;
}

std::unique_ptr<spawner> make_spawner(std::string_view id)
{
  if (id == "asio_cb")
    return std::make_unique<asio_callbacks>();
  if (id == "asio_coro")
    return std::make_unique<asio_coroutine>();
  if (id == "asio_sync")
    return std::make_unique<asio_blocking>();
  if (id == "asio_cb_bare" || id == "asio_coro_bare")
  {
    // spawn_options::resource_usage false: the io_uring mechanism's ring
    // reaps (IORING_OP_WAITID) where the kernel can.
    pidfd::spawn_options o;
    o.resource_usage = false;
    if (id == "asio_cb_bare")
      return std::make_unique<asio_callbacks>(std::move(o));
    return std::make_unique<asio_coroutine>(std::move(o));
  }
  if (id == "asio_cgroup")
    return std::make_unique<asio_cgroup>(false);
  if (id == "asio_cgroup_new")
    return std::make_unique<asio_cgroup>(true);
  if (id == "asio_userns")
  {
    // Our own ids as root of the namespace: what `unshare -r` does, and
    // what needs no privilege.
    pidfd::spawn_options o;
    o.new_namespaces = {.user = true,
        .uid_map = {{0, ::geteuid(), 1}},
        .gid_map = {{0, ::getegid(), 1}}};
    return std::make_unique<asio_callbacks>(std::move(o));
  }
  if (id == "raw_vfork")
    return std::make_unique<raw_vfork>(false);
  if (id == "raw_vfork_files")
    return std::make_unique<raw_vfork>(true);
  if (id == "raw_asio")
    return std::make_unique<raw_asio>();
  if (id == "raw_uring")
    return make_uring_floor(uring_wait::enter);
  if (id == "raw_uring_epoll")
    return make_uring_floor(uring_wait::epoll);
  if (id == "raw_uring_asio")
    return make_uring_floor(uring_wait::asio);
  if (id == "posix_spawn")
    return std::make_unique<waitpid_spawner<posix_spawn_checked>>(
        "posix_spawn");
  if (id == "fork_exec")
    return std::make_unique<waitpid_spawner<fork_exec>>("fork_exec");
  if (id == "thread_waitpid")
    return std::make_unique<thread_per_child>();
  if (id == "bp2_default")
    return std::make_unique<boost_process<bp2::default_process_launcher>>(
        "bp2_default");
  if (id == "bp2_vfork")
    return std::make_unique<boost_process<bp2::posix::vfork_launcher>>(
        "bp2_vfork");
  throw std::invalid_argument("unknown variant: " + std::string(id));
}

} // namespace bench
