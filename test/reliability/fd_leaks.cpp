//
// test/reliability/fd_leaks.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// No fd of the parent reaches a child except 0, 1, 2 and those inherited
// on purpose: not fds opened without O_CLOEXEC, not fds other threads open
// while the spawn runs, not the library's own pidfds, eventfds and pipes,
// and not the pipe ends of a sibling spawned at the same moment.
//

#include "pidfd/asio.hpp"
#include "reliability.hpp"
#include "support/child.hpp"
#include "support/fixture.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/writable_pipe.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using pidfd::exit_status;
using pidfd_test::child_program;
using pidfd_test::unique_fd;

class fd_leaks_test : public pidfd_test::fixture
{
};

// Threads that open and close fds without O_CLOEXEC in a loop, each
// keeping a few open at a time (at low and high numbers), until destroyed.
class fd_churn
{
public:
  explicit fd_churn(int threads)
  {
    for (int t = 0; t < threads; ++t)
      threads_.emplace_back([this, t] { churn(t); });
  }
  fd_churn(const fd_churn&) = delete;
  ~fd_churn()
  {
    stop_ = true;
    for (auto& t : threads_)
      t.join();
  }

  long opened() const { return opened_.load(); }

private:
  void churn(int seed)
  {
    std::vector<int> held;
    for (unsigned i = static_cast<unsigned>(seed); !stop_; ++i)
    {
      int fds[2] = {-1, -1};
      switch (i % 6)
      {
      case 0:
        fds[0] = ::open("/dev/null", O_RDONLY);
        break;
      case 1:
        if (::pipe(fds) != 0)
          fds[0] = fds[1] = -1;
        break;
      case 2:
        if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
          fds[0] = fds[1] = -1;
        break;
      case 3:
        fds[0] = ::eventfd(0, 0);
        break;
      case 4:
        fds[0] = ::fcntl(0, F_DUPFD, 500); // F_DUPFD clears FD_CLOEXEC
        break;
      default:
        fds[0] = ::dup(2);
        break;
      }
      for (int fd : fds)
      {
        if (fd >= 0)
        {
          held.push_back(fd);
          ++opened_;
        }
      }
      while (held.size() > 4)
      {
        ::close(held.front());
        held.erase(held.begin());
      }
    }
    for (int fd : held)
      ::close(fd);
  }

  std::atomic<bool> stop_{false};
  std::atomic<long> opened_{0};
  std::vector<std::thread> threads_;
};

TEST_F(fd_leaks_test, none_while_other_threads_open_fds_without_cloexec)
{
  // Hundreds of children, each reporting how many fds it has besides 0-2
  // (count-fds: its exit code), spawned in batches from two threads with
  // every kind of stdio, while three threads churn fds.
  constexpr int batches = 12;
  constexpr int per_batch = 12;
  std::atomic<int> leaks{0}, errors{0}, spawned{0};
  std::vector<std::string> reports;
  std::mutex reports_mutex;

  auto spawner = [&](int seed) {
    asio::io_context local;
    for (int b = 0; b < batches; ++b)
    {
      std::vector<asio::readable_pipe> outs;
      outs.reserve(per_batch);
      std::vector<pidfd::process> children;
      std::vector<int> expected;
      unique_fd inherited(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      for (int i = 0; i < per_batch; ++i)
      {
        pidfd::spawn_options options;
        int extra = 0;
        switch ((seed + i) % 4)
        {
        case 0:
          break;
        case 1:
          outs.emplace_back(local);
          options.out = pidfd::stdio::pipe(outs.back());
          options.err = pidfd::stdio::merge_with_stdout();
          options.in = pidfd::stdio::null();
          break;
        case 2:
          options.inherit_fd(9, inherited.get());
          extra = 1;
          break;
        default:
          options.working_directory = "/";
          options.out = pidfd::stdio::fd(2);
          break;
        }
        error_code ec;
        auto p = pidfd::spawn(local, child_program, {"count-fds"}, options, ec);
        if (ec)
        {
          ++errors;
          continue;
        }
        ++spawned;
        children.push_back(std::move(p));
        expected.push_back(extra);
      }
      for (std::size_t i = 0; i < children.size(); ++i)
      {
        children[i].async_wait([&, i](error_code e, exit_status s) {
          if (e || !s.exited())
          {
            ++errors;
            return;
          }
          if (s.code() != expected[i])
          {
            ++leaks;
            std::lock_guard lock(reports_mutex);
            reports.push_back(std::to_string(s.code()) + " fds, expected "
                + std::to_string(expected[i]));
          }
        });
      }
      local.run();
      local.restart();
    }
  };
  {
    fd_churn churn(3);
    std::thread second(spawner, 1);
    spawner(0);
    second.join();
    EXPECT_GT(churn.opened(), 0);
  }
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(spawned.load(), 2 * batches * per_batch);
  EXPECT_EQ(leaks.load(), 0);
  for (std::size_t i = 0; i < reports.size() && i < 10; ++i)
    ADD_FAILURE() << "a child had " << reports[i];
}

TEST_F(fd_leaks_test, exactly_the_inherited_fds)
{
  // Sources with and without O_CLOEXEC, low and high, mapped to low, high
  // and to their own numbers.
  unique_fd plain(::open("/dev/null", O_RDONLY));
  unique_fd cloexec(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  unique_fd high(::fcntl(plain.get(), F_DUPFD_CLOEXEC, 700));
  ASSERT_GE(plain.get(), 0);
  ASSERT_GE(cloexec.get(), 0);
  ASSERT_GE(high.get(), 700);
  pidfd::spawn_options options;
  options.inherit_fd(3, high.get())
      .inherit_fd(7, cloexec.get())
      .inherit_fd(300, plain.get())
      .inherit_fd(high.get(), high.get());
  const std::string list = temp_path("fds");
  auto p = pidfd::spawn(ctx, child_program, {"write-fds", list}, options);
  ASSERT_TRUE(p.wait().success());
  EXPECT_EQ(pidfd_test::read_lines(list),
      (std::vector<std::string>{"3", "7", "300", std::to_string(high.get())}));
  // The parent's fds keep their flags.
  EXPECT_EQ(::fcntl(plain.get(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(cloexec.get(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(high.get(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST_F(fd_leaks_test, inherited_fd_numbered_just_below_rlimit_nofile)
{
  // A parent near its fd limit has high-numbered fds; the highest one
  // allowed (RLIMIT_NOFILE - 1) must still be passable to a child: as
  // stdio, inherited at a low number, and inherited at its own number
  // (where no copy above it can be made). The limit is lowered for the
  // test so that the number stays small.
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(*pidfd_test::open_fds().rbegin()) + 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  const int top = static_cast<int>(low.rlim_cur) - 1;
  unique_fd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  unique_fd high(::fcntl(null.get(), F_DUPFD_CLOEXEC, top));
  struct attempt
  {
    std::string what;
    pidfd::spawn_options options;
    std::vector<std::string> expected;
    error_code ec{};
    std::vector<std::string> seen{};
  };
  std::vector<attempt> attempts;
  const bool got_top = high.get() == top;
  if (got_top)
  {
    attempts.push_back({"inherit_fd(3, top)", {}, {"3"}});
    attempts.back().options.inherit_fd(3, top);
    attempts.push_back({"inherit_fd(top, top)", {}, {std::to_string(top)}});
    attempts.back().options.inherit_fd(top, top);
    attempts.push_back(
        {"stdio::fd(top) as stdin", {.in = pidfd::stdio::fd(top)}, {}});
    for (attempt& a : attempts)
    {
      // Nothing may report while the limit is low: gtest may need an fd.
      const std::string list = temp_path("fds");
      auto p = pidfd::spawn(
          ctx, child_program, {"write-fds", list}, a.options, a.ec);
      if (!a.ec && p.wait().success())
        a.seen = pidfd_test::read_lines(list);
      else if (!a.ec)
        a.seen = {"(failed)"};
    }
  }
  high.reset();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  ASSERT_TRUE(got_top);
  for (const attempt& a : attempts)
  {
    SCOPED_TRACE(a.what + ", top " + std::to_string(top));
    EXPECT_FALSE(a.ec) << a.ec.message();
    EXPECT_EQ(a.seen, a.expected);
  }
}

TEST_F(fd_leaks_test, none_of_the_library_fds)
{
  // Live process objects (pidfds, or eventfds in the fallback) registered
  // with the reactor, a pending async_run's pipes, and the reactor's own
  // fds: a new child sees none of them.
  std::vector<decltype(pidfd::spawn(ctx, child_program))> running;
  for (int i = 0; i < 8; ++i)
  {
    running.push_back(pidfd::spawn(ctx, child_program, {"pause"}));
    running.back().async_wait([](error_code, exit_status) {});
  }
  // The run's child reads its stdin until we close the other end.
  int lifeline[2];
  ASSERT_EQ(::pipe2(lifeline, O_CLOEXEC), 0);
  unique_fd lifeline_read(lifeline[0]), lifeline_write(lifeline[1]);
  pidfd::run_options options;
  options.spawn.in = pidfd::stdio::fd(lifeline_read.get());
  std::optional<pidfd::run_result> pending;
  pidfd::async_run(ctx, child_program, {"linger"}, options,
      [&](error_code, pidfd::run_result r) { pending = std::move(r); });
  ctx.poll(); // the run has spawned its child
  ctx.restart();
  ASSERT_FALSE(pending);

  auto p = pidfd::spawn(ctx, child_program, {"count-fds"});
  EXPECT_EQ(p.wait().code(), 0);
  for (auto& r : running)
    r.signal(SIGKILL);
  lifeline_write.reset();
  lifeline_read.reset();
  run();
  ASSERT_TRUE(pending);
  EXPECT_TRUE(pending->status.success()) << pending->status;
}

TEST_F(fd_leaks_test, parent_with_its_stdio_closed)
{
  // With 0-2 closed, the library's own fds (pipe ends, pidfds) take those
  // numbers. They must still end up where the options say, and a stream
  // left to inherit must not hand the child one of them.
  struct result
  {
    error_code ec;
    exit_status status;
    std::string out;
    int inherited_fds = -1;
    bool settled = false;
  } r;
  {
    // The reactor's fds must not take 0-2 either.
    pidfd_rel::open_fds_with_reactor(ctx);
    unique_fd saved[3];
    for (int fd = 0; fd < 3; ++fd)
      saved[fd].reset(::fcntl(fd, F_DUPFD_CLOEXEC, 10));
    for (int fd = 0; fd < 3; ++fd)
      ::close(fd);
    const std::set<int> before = pidfd_test::open_fds();
    // Nothing may report here: gtest writes to fd 1.
    {
      asio::readable_pipe out(ctx);
      auto p = pidfd::spawn(ctx, child_program, {"flood", "10"},
          {.in = pidfd::stdio::null(),
              .out = pidfd::stdio::pipe(out),
              .err = pidfd::stdio::merge_with_stdout()},
          r.ec);
      if (!r.ec)
      {
        asio::read(out, asio::dynamic_buffer(r.out), r.ec);
        if (r.ec == asio::error::eof)
          r.ec.clear();
        r.status = p.wait();
      }
      // All three left to inherit: the child gets nothing at 0-2 (the
      // library's fds there are close-on-exec) and nothing elsewhere.
      auto q = pidfd::spawn(ctx, child_program, {"count-fds"}, {}, r.ec);
      if (!r.ec)
        r.inherited_fds = q.wait().code();
    }
    // Restoring 0-2 with dup2 would close a library fd still there.
    r.settled = pidfd_test::open_fds() == before;
    for (int fd = 0; fd < 3; ++fd)
      ::dup2(saved[fd].get(), fd);
  }
  EXPECT_TRUE(r.settled) << "the library kept an fd at 0-2";
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_TRUE(r.status.success()) << r.status;
  // Ten bytes of flood on stdout, then ten on stderr: the same pipe.
  std::string flooded;
  for (int stream = 0; stream < 2; ++stream)
    for (std::size_t i = 0; i < 10; ++i)
      flooded += pidfd_test::flood_pattern(i, stream);
  EXPECT_EQ(r.out, flooded);
  EXPECT_EQ(r.inherited_fds, 0);
}

} // namespace
