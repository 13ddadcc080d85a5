//
// examples/supervisor.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// Keeps K copies of a program running, with completion handlers only (no
// coroutines). A worker that exits is logged and restarted after a delay
// that doubles with each quick exit, so a crashing worker cannot make the
// supervisor spin. SIGINT or SIGTERM stops every worker politely (SIGTERM,
// then SIGKILL after a grace period) and the supervisor exits with 0.
//
//   supervisor [-n K] [-b BACKOFF_MS] [-m MAX_BACKOFF_MS] [-g GRACE_MS]
//              [-s STATE_FILE] PROGRAM [ARG...]
//
//   supervisor -n 3 sh -c 'echo "worker $WORKER_ID"; exec sleep 5'
//
// Each worker gets its number in the environment variable WORKER_ID.
//
// With -s the supervisor survives its own restart (an upgrade, a crash):
// it keeps each running worker's handle (basic_process::export_handle) in
// STATE_FILE, and a new supervisor started with the same file re-attaches
// to the workers that still run (open_handle), exactly those processes,
// whatever PIDs the kernel has recycled meanwhile, and starts the others
// again. SIGHUP then makes it exit at once and leave the workers running
// for the next one; its workers get no parent-death signal.
//

#include <pidfd/asio.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace asio = boost::asio;
using boost::system::error_code;
using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;

struct settings
{
  int workers = 2;
  milliseconds backoff{100}; // the first restart delay
  milliseconds max_backoff{10000}; // the delay stops doubling here
  milliseconds grace{5000}; // SIGTERM to SIGKILL when stopping
  std::string state_file; // -s: the workers' handles, across restarts
  std::vector<std::string> command;
};

class supervisor
{
public:
  supervisor(asio::io_context& ctx, settings s)
    : ctx_(ctx), settings_(std::move(s)), signals_(ctx, SIGINT, SIGTERM)
  {
    if (!settings_.state_file.empty())
      signals_.add(SIGHUP);
    for (int i = 0; i < settings_.workers; ++i)
      workers_.push_back(std::make_unique<worker>(i, ctx, settings_.backoff));
  }

  // True once SIGHUP has made it leave its workers running.
  bool left_running() const { return left_running_; }

  void start()
  {
    signals_.async_wait([this](error_code ec, int sig) { stop(ec, sig); });
    const std::vector<std::string> handles = load_state();
    for (auto& w : workers_)
    {
      const std::size_t i = static_cast<std::size_t>(w->id);
      if (i < handles.size() && !handles[i].empty())
        reattach(*w, handles[i]);
      else
        spawn(*w);
    }
    save_state();
  }

private:
  struct worker
  {
    worker(int n, asio::io_context& ctx, milliseconds backoff)
      : id(n), process(ctx), restart_timer(ctx), backoff(backoff)
    {
    }

    int id;
    pidfd::process process;
    asio::steady_timer restart_timer;
    milliseconds backoff; // the delay before the next restart
    clock_type::time_point started;
    bool running = false;
  };

  // A worker the previous supervisor left running: the process its handle
  // names, or none if it has gone meanwhile (then it starts again).
  void reattach(worker& w, const std::string& handle)
  {
    error_code ec;
    w.process = pidfd::process::open_handle(ctx_.get_executor(), handle, ec);
    if (ec)
    {
      std::printf("worker %d: not re-attached (%s); starting it\n", w.id,
          ec.message().c_str());
      spawn(w);
      return;
    }
    w.started = clock_type::now();
    w.running = true;
    std::printf("worker %d: re-attached, pid %d\n", w.id, w.process.id());
    watch(w);
  }

  // One line per worker: its number and its handle, or its number alone.
  std::vector<std::string> load_state() const
  {
    std::vector<std::string> handles;
    std::ifstream in(settings_.state_file);
    std::string line;
    while (in && std::getline(in, line))
    {
      std::istringstream fields(line);
      std::size_t id = 0;
      std::string handle;
      if (!(fields >> id) || !std::getline(fields >> std::ws, handle))
        continue;
      if (id >= handles.size())
        handles.resize(id + 1);
      handles[id] = handle;
    }
    return handles;
  }

  // Written to a new file that then replaces the old one, so that a
  // supervisor killed meanwhile leaves a whole file behind.
  void save_state() const
  {
    if (settings_.state_file.empty())
      return;
    const std::string temp = settings_.state_file + ".new";
    {
      std::ofstream out(temp, std::ios::trunc);
      for (const auto& w : workers_)
      {
        error_code ec;
        const std::string handle =
            w->running ? w->process.export_handle(ec) : "";
        out << w->id << ' ' << handle << '\n';
      }
    }
    std::rename(temp.c_str(), settings_.state_file.c_str());
  }

  void spawn(worker& w)
  {
    // A new process group per worker: Ctrl-C in a terminal then reaches
    // the supervisor only, which stops the workers in order. The death
    // signal keeps workers from outliving a supervisor that is killed,
    // unless they are to outlive its restart (-s).
    const std::vector<std::string> args(
        settings_.command.begin() + 1, settings_.command.end());
    error_code ec;
    w.process = pidfd::spawn(ctx_, settings_.command[0], args,
        {.in = pidfd::stdio::null(),
            .env = pidfd::environment().set("WORKER_ID", std::to_string(w.id)),
            .parent_death_signal = settings_.state_file.empty() ? SIGTERM : 0,
            .process_group = pidfd::process_group_mode::new_group},
        ec);
    if (ec)
    {
      std::printf("worker %d: cannot start: %s\n", w.id, ec.message().c_str());
      schedule_restart(w);
      return;
    }
    w.started = clock_type::now();
    w.running = true;
    std::printf("worker %d: started, pid %d\n", w.id, w.process.id());
    watch(w);
    save_state();
  }

  void watch(worker& w)
  {
    w.process.async_wait([this, &w](error_code ec, pidfd::exit_status st) {
      on_exit(w, ec, st);
    });
  }

  void on_exit(worker& w, error_code ec, const pidfd::exit_status& st)
  {
    w.running = false;
    if (!stopping_)
      save_state();
    const auto uptime =
        std::chrono::duration_cast<milliseconds>(clock_type::now() - w.started);
    const std::string what =
        ec ? "wait failed: " + ec.message() : st.to_string();
    if (stopping_)
    {
      std::printf("worker %d: pid %d %s; not restarted\n", w.id, w.process.id(),
          what.c_str());
      return;
    }
    // A worker that ran for a while was healthy: its next failure starts
    // the backoff sequence again.
    if (uptime >= healthy_after)
      w.backoff = settings_.backoff;
    std::printf("worker %d: pid %d %s after %lld ms; restarting in %lld ms\n",
        w.id, w.process.id(), what.c_str(),
        static_cast<long long>(uptime.count()),
        static_cast<long long>(w.backoff.count()));
    schedule_restart(w);
  }

  void schedule_restart(worker& w)
  {
    w.restart_timer.expires_after(w.backoff);
    w.backoff = std::min(w.backoff * 2, settings_.max_backoff);
    w.restart_timer.async_wait([this, &w](error_code ec) {
      if (!ec && !stopping_)
        spawn(w);
    });
  }

  void stop(error_code ec, int sig)
  {
    if (ec)
      return;
    if (sig == SIGHUP)
    {
      // Leave at once: the process objects are destroyed without killing
      // (no kill_on_destroy), and the state file names every worker.
      std::printf("supervisor: got SIGHUP, leaving the workers running for "
                  "the next supervisor\n");
      left_running_ = true;
      ctx_.stop();
      return;
    }
    std::printf("supervisor: got %s, stopping the workers\n",
        sig == SIGINT ? "SIGINT" : "SIGTERM");
    stopping_ = true;
    // The signal wait is not started again, so once the workers' waits
    // and the cancelled timers have completed, ctx.run() returns. Later
    // signals are still caught (and ignored): the grace period bounds the
    // time left.
    for (auto& w : workers_)
    {
      w->restart_timer.cancel();
      // The outstanding async_wait in spawn() gets the final status too,
      // and logs it; this handler only reports a failure to stop.
      if (w->running)
        w->process.async_terminate(settings_.grace,
            [id = w->id](error_code ec, const pidfd::exit_status&) {
              if (ec)
                std::printf("worker %d: terminate failed: %s\n", id,
                    ec.message().c_str());
            });
    }
  }

  static constexpr milliseconds healthy_after{10000};

  asio::io_context& ctx_;
  settings settings_;
  asio::signal_set signals_;
  std::vector<std::unique_ptr<worker>> workers_; // stable addresses
  bool stopping_ = false;
  bool left_running_ = false;
};

int main(int argc, char* argv[])
{
  settings s;
  int i = 1;
  for (; i + 1 < argc && argv[i][0] == '-'; i += 2)
  {
    const std::string opt = argv[i];
    const long value = std::strtol(argv[i + 1], nullptr, 10);
    if (opt == "-n")
      s.workers = static_cast<int>(value);
    else if (opt == "-b")
      s.backoff = milliseconds(value);
    else if (opt == "-m")
      s.max_backoff = milliseconds(value);
    else if (opt == "-g")
      s.grace = milliseconds(value);
    else if (opt == "-s")
      s.state_file = argv[i + 1];
    else
      break;
  }
  s.command.assign(argv + i, argv + argc);
  if (s.command.empty() || s.command[0].starts_with("-") || s.workers < 1
      || s.backoff.count() < 1 || s.max_backoff < s.backoff)
  {
    std::fprintf(stderr,
        "usage: supervisor [-n K] [-b BACKOFF_MS] "
        "[-m MAX_BACKOFF_MS] [-g GRACE_MS] [-s STATE_FILE] PROGRAM "
        "[ARG...]\n");
    return 2;
  }

  // Line-buffered even into a pipe, so each log line leaves at once and
  // lines do not interleave with the workers' own output.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::printf("supervisor: pid %d, %d workers, backoff %lld to %lld ms\n",
      static_cast<int>(::getpid()), s.workers,
      static_cast<long long>(s.backoff.count()),
      static_cast<long long>(s.max_backoff.count()));

  asio::io_context ctx;
  const std::string state_file = s.state_file;
  supervisor sup(ctx, std::move(s));
  sup.start();
  ctx.run();
  if (sup.left_running())
    return 0;
  // Nothing is left to re-attach to.
  if (!state_file.empty())
    std::remove(state_file.c_str());
  std::printf("supervisor: all workers stopped\n");
  return 0;
}
