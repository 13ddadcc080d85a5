//
// test/pty.cpp
// ~~~~~~~~~~~~
// basic_pty and stdio::pty(): a child on a pseudo-terminal, driven
// through the master as an Asio stream.
//

// Test that header file is self-contained.
#include "pidfd/pty.hpp"

#include "pidfd/error.hpp"
#include "pidfd/process.hpp"
#include "pidfd/run.hpp"
#include "pidfd/spawn.hpp"
#include "support/child.hpp"
#include "support/counting_allocator.hpp"
#include "support/fixture.hpp"
#include "support/guards.hpp"

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using boost::system::error_code;
using part = pidfd::spawn_error_info::part;

// What the fds of a process (our own: "self") refer to, for those that
// are a pty's master or terminal side.
std::vector<std::string> pty_links(const std::string& pid)
{
  std::vector<std::string> links;
  const std::string dir = "/proc/" + pid + "/fd";
  for (const auto& entry : std::filesystem::directory_iterator(dir))
  {
    std::error_code ec;
    const std::string target =
        std::filesystem::read_symlink(entry.path(), ec).string();
    if (target == "/dev/ptmx" || target.rfind("/dev/pts/", 0) == 0)
      links.push_back(entry.path().filename().string() + " -> " + target);
  }
  return links;
}

class pty_test : public pidfd_test::fixture
{
protected:
  // Options with all three streams on `term`.
  pidfd::spawn_options on_pty(pidfd::pty& term)
  {
    pidfd::spawn_options o;
    o.in = pidfd::stdio::pty(term);
    o.out = pidfd::stdio::pty(term);
    o.err = pidfd::stdio::pty(term);
    return o;
  }

  // Reads from `term` into out_ until `marker` has been read; returns
  // everything up to and including it, and keeps the rest in out_.
  std::string read_until(pidfd::pty& term, std::string_view marker)
  {
    error_code ec;
    std::size_t n = 0;
    asio::async_read_until(term, asio::dynamic_buffer(out_),
        std::string(marker), [&](error_code e, std::size_t got) {
          ec = e;
          n = got;
        });
    run();
    EXPECT_FALSE(ec) << ec.message() << " waiting for \"" << marker
                     << "\", got \"" << out_ << "\"";
    std::string line = out_.substr(0, n);
    out_.erase(0, n);
    return line;
  }

  // Reads to the end of the stream; returns what was read (after what
  // out_ held) and the error, which must be eof.
  std::string read_to_eof(pidfd::pty& term)
  {
    error_code ec;
    asio::async_read(term, asio::dynamic_buffer(out_),
        [&](error_code e, std::size_t) { ec = e; });
    run();
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
    return std::exchange(out_, {});
  }

  void write(pidfd::pty& term, std::string_view text)
  {
    error_code ec;
    asio::async_write(
        term, asio::buffer(text), [&](error_code e, std::size_t) { ec = e; });
    run();
    EXPECT_FALSE(ec) << ec.message();
  }

  // Runs ctx until done() holds. No test may hang: past the deadline the
  // test fails, and closing `term` aborts its pending operations.
  void run_until(pidfd::pty& term, const std::function<bool()>& done)
  {
    asio::steady_timer deadline(ctx, std::chrono::seconds(10));
    bool deadline_done = false;
    deadline.async_wait([&](error_code ec) {
      deadline_done = true;
      if (ec)
        return;
      ADD_FAILURE() << "deadline passed";
      term.close();
    });
    while (!done() && ctx.run_one() > 0)
    {
    }
    deadline.cancel();
    while (!deadline_done && ctx.run_one() > 0)
    {
    }
    ctx.restart();
  }

  // Runs f on a thread of its own; past the deadline the test fails, and
  // a signal whose handler does nothing interrupts (EINTR) the blocking
  // system call f is stuck in until f returns.
  static void within_deadline(const std::function<void()>& f)
  {
    pidfd_test::disposition_guard interrupt(SIGUSR2, [](int) {});
    std::packaged_task<void()> task(f);
    std::future<void> done = task.get_future();
    std::thread thread(std::move(task));
    if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
    {
      ADD_FAILURE() << "deadline passed";
      do
        ::pthread_kill(thread.native_handle(), SIGUSR2);
      while (done.wait_for(std::chrono::milliseconds(100))
          != std::future_status::ready);
    }
    thread.join();
  }

  // True if the master would take input now.
  static bool writable(pidfd::pty& term)
  {
    pollfd p{term.native_handle(), POLLOUT, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
  }

  std::string out_;
};

TEST_F(pty_test, default_options)
{
  const pidfd::pty_options o;
  EXPECT_EQ(o.rows, 24);
  EXPECT_EQ(o.cols, 80);
  EXPECT_TRUE(o.echo);
  EXPECT_FALSE(o.raw);
  EXPECT_EQ(o.multiplexer, "/dev/ptmx");
  EXPECT_EQ(pidfd::stdio::pty(*std::make_unique<pidfd::pty>(ctx)).type(),
      pidfd::stdio::kind::pty);
}

TEST_F(pty_test, default_size_and_cooked_modes)
{
  pidfd::pty term(ctx);
  auto p =
      pidfd::spawn(ctx, "/bin/sh", {"-c", "stty size; stty -a"}, on_pty(term));
  const std::string out = read_to_eof(term);
  EXPECT_EQ(out.rfind("24 80\r\n", 0), 0u) << out;
  // Canonical mode, echo, signals: a terminal as a login gets it.
  std::set<std::string> words;
  std::istringstream in(out);
  for (std::string w; in >> w;)
    words.insert(w);
  for (const char* mode : {"icanon", "echo", "isig", "icrnl", "onlcr"})
    EXPECT_TRUE(words.count(mode)) << mode << " in " << out;
  EXPECT_TRUE(p.wait().success());
}

TEST_F(pty_test, child_sees_its_controlling_terminal)
{
  pidfd::pty term(ctx);
  auto p = pidfd::spawn(ctx, "/bin/sh",
      {"-c",
          "test -t 0 -a -t 1 -a -t 2 && echo terminal; tty;"
          // Opening /dev/tty fails (ENXIO) without a controlling terminal.
          ": </dev/tty && echo controlling"},
      on_pty(term));
  ASSERT_TRUE(term.is_open());
  const std::string out = read_to_eof(term);
  EXPECT_NE(out.find("terminal\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("/dev/pts/"), std::string::npos) << out;
  EXPECT_NE(out.find("controlling\r\n"), std::string::npos) << out;
  EXPECT_TRUE(p.wait().success());
}

TEST_F(pty_test, child_leads_a_session_in_the_terminals_foreground)
{
  pidfd::pty term(ctx);
  // Blocks on its terminal until a line is written.
  auto p = pidfd::spawn(ctx, "/bin/sh", {"-c", "read x"}, on_pty(term));
  EXPECT_EQ(::getsid(p.id()), p.id());
  EXPECT_EQ(::tcgetpgrp(term.native_handle()), p.id());
  write(term, "\n");
  EXPECT_TRUE(p.wait().success());
}

TEST_F(pty_test, only_some_streams_on_the_terminal)
{
  pidfd::pty term(ctx);
  pidfd::spawn_options o;
  o.out = pidfd::stdio::pty(term);
  o.in = pidfd::stdio::null();
  auto p = pidfd::spawn(
      ctx, "/bin/sh", {"-c", "test -t 1 && ! test -t 0 && echo out-only"}, o);
  EXPECT_EQ(read_to_eof(term), "out-only\r\n");
  EXPECT_TRUE(p.wait().success());
}

TEST_F(pty_test, initial_window_size_and_resize)
{
  pidfd::pty term(ctx);
  pidfd::spawn_options o = on_pty(term);
  o.terminal.rows = 30;
  o.terminal.cols = 100;
  o.terminal.echo = false;
  auto p =
      pidfd::spawn(ctx, "/bin/sh", {"-c", "stty size; read x; stty size"}, o);
  EXPECT_EQ(read_until(term, "\n"), "30 100\r\n");
  term.resize(40, 120);
  write(term, "\n");
  EXPECT_EQ(read_to_eof(term), "40 120\r\n");
  EXPECT_TRUE(p.wait().success());
}

TEST_F(pty_test, resize_sends_sigwinch_to_the_foreground_group)
{
  pidfd::pty term(ctx);
  // A trapped signal interrupts the wait builtin (POSIX), so the trap
  // runs as soon as the signal comes.
  auto p = pidfd::spawn(ctx, "/bin/sh",
      {"-c",
          "trap 'echo WINCH; kill $!; exit 0' WINCH; sleep 100 & "
          "echo ready; wait"},
      on_pty(term));
  read_until(term, "ready\r\n");
  term.resize(50, 60);
  EXPECT_EQ(read_to_eof(term), "WINCH\r\n");
  EXPECT_TRUE(p.wait().success());
}

TEST_F(pty_test, drives_an_interactive_shell)
{
  pidfd::pty term(ctx);
  pidfd::spawn_options o = on_pty(term);
  o.env.set("PS1", "prompt> ");
  o.env.set("ENV", "/dev/null");
  auto p = pidfd::spawn(ctx, "/bin/sh", {"-i"}, o);
  read_until(term, "prompt> ");
  write(term, "echo $((6 * 7))\n");
  // The echo of the command line, then its output.
  EXPECT_EQ(read_until(term, "\r\n"), "echo $((6 * 7))\r\n");
  EXPECT_EQ(read_until(term, "\r\n"), "42\r\n");
  read_until(term, "prompt> ");
  write(term, "exit 3\n");
  read_to_eof(term);
  pidfd::exit_status s = p.wait();
  EXPECT_TRUE(s.exited()) << s;
  EXPECT_EQ(s.code(), 3);
}

TEST_F(pty_test, ctrl_c_sends_sigint_to_the_foreground_group)
{
  // The child inherits an ignored SIGINT; this test's runner may ignore it.
  pidfd_test::disposition_guard dfl(SIGINT, SIG_DFL);
  pidfd::pty term(ctx);
  auto p = pidfd::spawn(ctx, "sleep", {"100"}, on_pty(term));
  pidfd::exit_status status;
  p.async_wait([&](error_code ec, pidfd::exit_status s) {
    EXPECT_FALSE(ec);
    status = s;
  });
  write(term, "\x03");
  // The terminal echoes ^C, then hangs up when sleep dies.
  EXPECT_EQ(read_to_eof(term), "^C");
  run();
  EXPECT_TRUE(status.signaled()) << status;
  EXPECT_EQ(status.signal(), SIGINT);
}

TEST_F(pty_test, closing_the_master_hangs_up_the_session)
{
  // As for SIGINT: the runner (nohup) may ignore SIGHUP.
  pidfd_test::disposition_guard dfl(SIGHUP, SIG_DFL);
  pidfd::pty term(ctx);
  auto p = pidfd::spawn(ctx, "sleep", {"100"}, on_pty(term));
  term.close();
  pidfd::exit_status s = p.wait();
  EXPECT_TRUE(s.signaled()) << s;
  EXPECT_EQ(s.signal(), SIGHUP);
}

TEST_F(pty_test, raw_mode_passes_bytes_unchanged)
{
  pidfd::pty term(ctx);
  pidfd::spawn_options o = on_pty(term);
  o.terminal.raw = true;
  // ^C is a byte like any other in raw mode, and "\n" stays "\n".
  auto p = pidfd::spawn(ctx, "head", {"-c", "4"}, o);
  write(term, "a\x03\nb");
  EXPECT_EQ(read_to_eof(term), "a\x03\nb");
  EXPECT_TRUE(p.wait().success());
}

TEST_F(pty_test, all_output_is_read_before_eof)
{
  pidfd::pty term(ctx);
  pidfd::spawn_options o = on_pty(term);
  o.terminal.raw = true; // no "\r" added: the bytes are the child's
  // 1 MiB in 16-byte lines, and a final burst written just before exit.
  auto p = pidfd::spawn(ctx, "/bin/sh",
      {"-c", "yes 0123456789abcde | head -c 1048576; printf END"}, o);
  std::string expected;
  for (int i = 0; i < 65536; ++i)
    expected += "0123456789abcde\n";
  expected += "END";
  pidfd::exit_status status;
  p.async_wait([&](error_code, pidfd::exit_status s) { status = s; });
  const std::string out = read_to_eof(term);
  EXPECT_EQ(out.size(), expected.size());
  EXPECT_TRUE(out == expected);
  run();
  EXPECT_TRUE(status.success()) << status;
}

TEST_F(pty_test, final_output_of_an_exited_child_is_still_read)
{
  pidfd::pty term(ctx);
  auto p =
      pidfd::spawn(ctx, "/bin/sh", {"-c", "echo last words"}, on_pty(term));
  // Nothing was read while the child ran and exited.
  EXPECT_TRUE(p.wait().success());
  EXPECT_EQ(read_to_eof(term), "last words\r\n");
}

TEST_F(pty_test, sync_reads_end_with_eof)
{
  pidfd::pty term(ctx);
  auto p = pidfd::spawn(ctx, "/bin/sh", {"-c", "echo sync"}, on_pty(term));
  std::string out;
  error_code ec;
  char buf[64];
  while (!ec)
    out.append(buf, term.read_some(asio::buffer(buf), ec));
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_EQ(out, "sync\r\n");
  EXPECT_THROW(term.read_some(asio::buffer(buf)), boost::system::system_error);
  EXPECT_TRUE(p.wait().success());
}

TEST_F(pty_test, parent_keeps_only_the_master_and_no_child_inherits_it)
{
  pidfd::pty term(ctx);
  // Blocks reading its terminal until a line is written.
  auto p = pidfd::spawn(ctx, "/bin/sh", {"-c", "read x"}, on_pty(term));
  const std::vector<std::string> own = pty_links("self");
  ASSERT_EQ(own.size(), 1u);
  EXPECT_EQ(own[0], std::to_string(term.native_handle()) + " -> /dev/ptmx");

  // The child has the terminal side on 0-2 and nothing else of the pty.
  const std::vector<std::string> child = pty_links(std::to_string(p.id()));
  ASSERT_EQ(child.size(), 3u);
  for (const std::string& link : child)
    EXPECT_NE(link.find("-> /dev/pts/"), std::string::npos) << link;

  // A sibling spawned while the master is open gets none of it.
  auto sibling = pidfd::spawn(ctx, "sleep", {"100"});
  EXPECT_TRUE(pty_links(std::to_string(sibling.id())).empty());
  sibling.signal(SIGKILL);
  sibling.wait();

  write(term, "\n");
  EXPECT_TRUE(p.wait().success());
  read_to_eof(term);
  term.close();
  EXPECT_TRUE(pty_links("self").empty());
}

TEST_F(pty_test, async_terminate_a_child_on_a_pty)
{
  pidfd::pty term(ctx);
  auto p = pidfd::spawn(ctx, "sleep", {"100"}, on_pty(term));
  pidfd::exit_status status;
  p.async_terminate(
      std::chrono::seconds(10), [&](error_code ec, pidfd::exit_status s) {
        EXPECT_FALSE(ec);
        status = s;
      });
  run();
  EXPECT_TRUE(status.signaled()) << status;
  EXPECT_EQ(status.signal(), SIGTERM);
  read_to_eof(term);
}

TEST_F(pty_test, kill_on_destroy_ends_the_stream)
{
  pidfd::pty term(ctx);
  pidfd::spawn_options o = on_pty(term);
  o.kill_on_destroy = true;
  {
    auto p = pidfd::spawn(ctx, "cat", {}, o);
  }
  // SIGKILLed, so the terminal side is closed: eof, nothing read.
  EXPECT_EQ(read_to_eof(term), "");
  run(); // the library reaps the destroyed process's child
  EXPECT_FALSE(pidfd_test::children_left());
}

TEST_F(pty_test, group_signal_reaches_the_whole_session)
{
  pidfd::pty term(ctx);
  pidfd_test::subreaper_guard subreaper;
  // The background sleep shares the terminal side: the stream ends only
  // once it has gone too.
  auto p = pidfd::spawn(
      ctx, "/bin/sh", {"-c", "sleep 100 & echo started; wait"}, on_pty(term));
  read_until(term, "started\r\n");
  p.signal_group(SIGKILL);
  EXPECT_EQ(read_to_eof(term), "");
  pidfd::exit_status s = p.wait();
  EXPECT_TRUE(s.signaled()) << s;
  // The orphaned sleep came to us, the subreaper.
  EXPECT_EQ(pidfd_test::kill_and_reap_children().size(), 1u);
}

TEST_F(pty_test, reads_honour_the_handlers_slot_allocator_and_token)
{
  pidfd::pty term(ctx);
  pidfd::spawn_options o = on_pty(term);
  o.terminal.echo = false;
  // Silent until it has read a line: the first read stays pending.
  auto p = pidfd::spawn(ctx, "/bin/sh", {"-c", "read x; echo \"$x\""}, o);
  asio::cancellation_signal cancel;
  pidfd_test::allocation_counts counts;
  error_code ec;
  char buf[64];
  term.async_read_some(asio::buffer(buf),
      asio::bind_cancellation_slot(cancel.slot(),
          asio::bind_allocator(pidfd_test::counting_allocator<void>(counts),
              [&](error_code e, std::size_t) { ec = e; })));
  cancel.emit(asio::cancellation_type::total);
  run();
  EXPECT_EQ(ec, asio::error::operation_aborted);
  // The read's operation came from the handler's allocator, and went back.
  EXPECT_GT(counts.allocations, 0);
  EXPECT_EQ(counts.outstanding, 0);

  // The stream is intact; a deferred write, a future read.
  const std::string line = "typed\n";
  term.async_write_some(asio::buffer(line), asio::deferred)(
      [&](error_code e, std::size_t) { ec = e; });
  run();
  EXPECT_FALSE(ec) << ec.message();
  std::string out;
  for (;;)
  {
    std::future<std::size_t> n =
        term.async_read_some(asio::buffer(buf), asio::use_future);
    run();
    try
    {
      out.append(buf, n.get());
    }
    catch (const boost::system::system_error& e)
    {
      EXPECT_EQ(e.code(), asio::error::eof);
      break;
    }
  }
  EXPECT_EQ(out, "typed\r\n");
  EXPECT_TRUE(p.wait().success());
}

TEST_F(pty_test, typed_executor_and_converting_move)
{
  using typed_pty = pidfd::basic_pty<asio::io_context::executor_type>;
  static_assert(
      std::is_same_v<typed_pty::rebind_executor<asio::any_io_executor>::other,
          pidfd::pty>);
  typed_pty typed(ctx.get_executor());
  pidfd::spawn_options o;
  o.out = pidfd::stdio::pty(typed);
  auto p = pidfd::spawn(ctx, "/bin/sh", {"-c", "echo moved"}, o);
  pidfd::pty term(std::move(typed));
  EXPECT_FALSE(typed.is_open());
  EXPECT_EQ(read_to_eof(term), "moved\r\n");
  EXPECT_TRUE(p.wait().success());
}

// ---- writes once the terminal side is gone ---------------------------------
//
// Linux keeps a master writable after the last holder of the terminal side
// has closed it: small writes vanish into a buffer nobody reads, large
// ones block for ever. The pty reports broken_pipe instead, and a master
// raises no SIGPIPE (the default disposition would kill the test).

TEST_F(pty_test, async_writes_after_the_hang_up_fail_with_broken_pipe)
{
  pidfd_test::disposition_guard dfl(SIGPIPE, SIG_DFL);
  pidfd::pty term(ctx);
  pidfd::spawn_options o = on_pty(term);
  // Raw: in canonical mode a line too long for the buffer is cut, and
  // the rest discarded, so that writes would not block.
  o.terminal.raw = true;
  auto p = pidfd::spawn(ctx, "/bin/sh", {"-c", "echo bye"}, o);
  EXPECT_EQ(read_to_eof(term), "bye\n");
  for (std::size_t size : {std::size_t{3}, std::size_t{1} << 20})
  {
    const std::string data(size, 'x');
    std::optional<error_code> ec;
    std::size_t n = 0;
    asio::async_write(
        term, asio::buffer(data), [&](error_code e, std::size_t m) {
          ec = e;
          n = m;
        });
    run_until(term, [&] { return ec.has_value(); });
    EXPECT_EQ(ec, asio::error::broken_pipe) << size;
    EXPECT_EQ(n, 0u) << size;
  }
  EXPECT_TRUE(p.wait().success());
}

TEST_F(pty_test, sync_writes_after_the_hang_up_fail_with_broken_pipe)
{
  pidfd_test::disposition_guard dfl(SIGPIPE, SIG_DFL);
  pidfd::pty term(ctx);
  pidfd::spawn_options o = on_pty(term);
  o.terminal.raw = true;
  auto p = pidfd::spawn(ctx, "true", {}, o);
  read_to_eof(term);
  EXPECT_TRUE(p.wait().success());
  for (std::size_t size : {std::size_t{3}, std::size_t{1} << 20})
  {
    const std::string data(size, 'x');
    within_deadline([&] {
      error_code ec;
      EXPECT_EQ(term.write_some(asio::buffer(data), ec), 0u);
      EXPECT_EQ(ec, asio::error::broken_pipe) << size << ": " << ec.message();
      EXPECT_EQ(ec, errc::broken_pipe);
      EXPECT_EQ(asio::write(term, asio::buffer(data), ec), 0u);
      EXPECT_EQ(ec, asio::error::broken_pipe) << size << ": " << ec.message();
      try
      {
        term.write_some(asio::buffer(data));
        ADD_FAILURE() << "no exception";
      }
      catch (const boost::system::system_error& e)
      {
        EXPECT_EQ(e.code(), asio::error::broken_pipe);
      }
    });
  }
}

// The write that never sleeps puts the master's mode back: reads that
// block (Asio's io_uring backend reads the master in the kernel) keep
// blocking, and a master the user made non-blocking stays so.
TEST_F(pty_test, writes_leave_the_masters_blocking_mode_as_it_was)
{
  pidfd::pty term(ctx);
  pidfd::spawn_options o = on_pty(term);
  o.terminal.echo = false;
  auto p =
      pidfd::spawn(ctx, "/bin/sh", {"-c", "read a; read b; echo \"$a$b\""}, o);
  const auto non_blocking = [&] {
    return (::fcntl(term.native_handle(), F_GETFL) & O_NONBLOCK) != 0;
  };
  ASSERT_FALSE(non_blocking());
  EXPECT_EQ(term.write_some(asio::buffer("a\n", 2)), 2u);
  EXPECT_FALSE(non_blocking());
  ASSERT_EQ(::fcntl(term.native_handle(), F_SETFL,
                ::fcntl(term.native_handle(), F_GETFL) | O_NONBLOCK),
      0);
  EXPECT_EQ(term.write_some(asio::buffer("b\n", 2)), 2u);
  EXPECT_TRUE(non_blocking());
  EXPECT_EQ(read_to_eof(term), "ab\r\n");
  EXPECT_TRUE(p.wait().success());
}

class pty_pending_test : public pty_test
{
protected:
  // A child with only its stdout on the terminal, so that nobody reads
  // the terminal's input (raw: a full buffer blocks the writer); it exits
  // when `in` is closed.
  pidfd::process spawn_silent_reader(pidfd::pty& term, asio::writable_pipe& in)
  {
    pidfd::spawn_options o;
    o.in = pidfd::stdio::pipe(in);
    o.out = pidfd::stdio::pty(term);
    o.terminal.raw = true;
    return pidfd::spawn(ctx, pidfd_test::child_program, {"linger"}, o);
  }

  // Runs ctx until the write is pending on a full terminal buffer.
  void fill(pidfd::pty& term, const std::optional<error_code>& write_done)
  {
    run_until(term, [&] { return write_done || !writable(term); });
    ASSERT_FALSE(write_done) << write_done->message();
  }

  const std::string data_ = std::string(std::size_t{1} << 20, 'x');
};

TEST_F(pty_pending_test, a_blocked_async_write_fails_when_the_child_exits)
{
  asio::writable_pipe in(ctx);
  pidfd::pty term(ctx);
  pidfd::process p = spawn_silent_reader(term, in);
  pidfd_test::allocation_counts counts;
  std::optional<error_code> ec;
  std::size_t n = 0;
  asio::async_write(term, asio::buffer(data_),
      asio::bind_allocator(pidfd_test::counting_allocator<void>(counts),
          [&](error_code e, std::size_t m) {
            ec = e;
            n = m;
          }));
  fill(term, ec);
  in.close();
  run_until(term, [&] { return ec.has_value(); });
  EXPECT_EQ(ec, asio::error::broken_pipe);
  EXPECT_GT(n, 0u); // what filled the buffer
  EXPECT_LT(n, data_.size());
  EXPECT_GT(counts.allocations, 0);
  EXPECT_EQ(counts.outstanding, 0);
  EXPECT_TRUE(p.wait().success());
}

TEST_F(pty_pending_test, a_blocked_sync_write_fails_when_the_child_exits)
{
  asio::writable_pipe in(ctx);
  pidfd::pty term(ctx);
  pidfd::process p = spawn_silent_reader(term, in);
  // Fill the buffer, then stop the async write through its slot.
  std::optional<error_code> ec;
  asio::cancellation_signal cancel;
  asio::async_write(term, asio::buffer(data_),
      asio::bind_cancellation_slot(
          cancel.slot(), [&](error_code e, std::size_t) { ec = e; }));
  fill(term, ec);
  cancel.emit(asio::cancellation_type::terminal);
  run_until(term, [&] { return ec.has_value(); });
  EXPECT_EQ(ec, asio::error::operation_aborted);
  // The sync writes take what room the terminal makes, then block (or,
  // if the child is quicker, find the terminal gone): broken_pipe either
  // way.
  within_deadline([&] {
    std::thread closer([&] { in.close(); });
    error_code e;
    while (!e)
      term.write_some(asio::buffer(data_), e);
    EXPECT_EQ(e, asio::error::broken_pipe) << e.message();
    closer.join();
  });
  EXPECT_TRUE(p.wait().success());
}

TEST_F(pty_pending_test, pending_read_and_write_both_end_when_the_child_exits)
{
  asio::writable_pipe in(ctx);
  pidfd::pty term(ctx);
  pidfd::process p = spawn_silent_reader(term, in);
  std::optional<error_code> read_ec;
  std::optional<error_code> write_ec;
  char buf[64];
  term.async_read_some(
      asio::buffer(buf), [&](error_code e, std::size_t) { read_ec = e; });
  asio::async_write(term, asio::buffer(data_),
      [&](error_code e, std::size_t) { write_ec = e; });
  fill(term, write_ec);
  EXPECT_FALSE(read_ec);
  in.close();
  run_until(term, [&] { return read_ec && write_ec; });
  EXPECT_EQ(read_ec, asio::error::eof);
  EXPECT_EQ(write_ec, asio::error::broken_pipe);
  EXPECT_TRUE(p.wait().success());
}

// Many at once, many times: four terminals at a time, each with a read and
// a write pending on a full buffer, whose children all exit together; 50
// rounds. Every read ends with eof and every write with broken_pipe; the
// fixture checks that no fd and no child is left.
TEST_F(
    pty_pending_test, hundreds_of_pending_writes_end_when_their_children_exit)
{
  constexpr int rounds = 50;
  constexpr int at_once = 4;
  for (int round = 0; round < rounds && !HasFailure(); ++round)
  {
    struct session
    {
      explicit session(asio::io_context& ctx) : in(ctx), term(ctx), child(ctx)
      {
      }
      asio::writable_pipe in;
      pidfd::pty term;
      pidfd::process child;
      std::optional<error_code> read_ec;
      std::optional<error_code> write_ec;
      char buf[64];
    };
    std::vector<std::unique_ptr<session>> sessions;
    for (int i = 0; i < at_once; ++i)
    {
      auto& s = *sessions.emplace_back(std::make_unique<session>(ctx));
      s.child = spawn_silent_reader(s.term, s.in);
      s.term.async_read_some(asio::buffer(s.buf),
          [&s](error_code e, std::size_t) { s.read_ec = e; });
      asio::async_write(s.term, asio::buffer(data_),
          [&s](error_code e, std::size_t) { s.write_ec = e; });
      fill(s.term, s.write_ec);
    }
    for (auto& s : sessions)
      s->in.close();
    for (auto& s : sessions)
    {
      run_until(s->term, [&] { return s->read_ec && s->write_ec; });
      EXPECT_EQ(s->read_ec, asio::error::eof) << "round " << round;
      EXPECT_EQ(s->write_ec, asio::error::broken_pipe) << "round " << round;
      EXPECT_TRUE(s->child.wait().success()) << "round " << round;
    }
  }
}

// ---- async_run -------------------------------------------------------------

class pty_run_test : public pty_test
{
protected:
  pidfd::run_result run_on_pty(std::string_view program,
      const pidfd::argument_list& args, pidfd::run_options options)
  {
    options.on_pty = true;
    error_code ec;
    pidfd::run_result result;
    bool done = false;
    pidfd::async_run(ctx, program, args, std::move(options),
        [&](error_code e, pidfd::run_result r) {
          ec = e;
          result = std::move(r);
          done = true;
        });
    run();
    EXPECT_TRUE(done);
    EXPECT_FALSE(ec) << ec.message();
    return result;
  }
};

TEST_F(pty_run_test, output_captured_and_input_typed)
{
  pidfd::run_options o;
  o.input = "hello\n";
  pidfd::run_result r = run_on_pty("/bin/sh",
      {"-c", "test -t 0 -a -t 1 -a -t 2 && read x && echo \"got $x\" >&2"},
      std::move(o));
  EXPECT_TRUE(r.status.success()) << r.status;
  // The terminal's echo of the input, then the child's stderr.
  EXPECT_EQ(r.out, "hello\r\ngot hello\r\n");
  EXPECT_EQ(r.err, "");
  EXPECT_FALSE(r.output_cut);
}

TEST_F(pty_run_test, echo_off_and_size)
{
  pidfd::run_options o;
  o.spawn.terminal.echo = false;
  o.spawn.terminal.rows = 12;
  o.spawn.terminal.cols = 34;
  o.input = "secret\n";
  pidfd::run_result r = run_on_pty(
      "/bin/sh", {"-c", "read x; stty size; echo ${#x}"}, std::move(o));
  EXPECT_EQ(r.out, "12 34\r\n6\r\n");
}

TEST_F(pty_run_test, end_of_input_is_ctrl_d)
{
  pidfd::run_options o;
  o.input = "b\na\n\x04";
  o.spawn.terminal.echo = false;
  pidfd::run_result r = run_on_pty("sort", {}, std::move(o));
  EXPECT_TRUE(r.status.success()) << r.status;
  EXPECT_EQ(r.out, "a\r\nb\r\n");
}

TEST_F(pty_run_test, timeout_stops_a_child_on_a_pty)
{
  pidfd::run_options o;
  o.timeout = std::chrono::milliseconds(100);
  pidfd::run_result r = run_on_pty("sleep", {"100"}, std::move(o));
  EXPECT_TRUE(r.timed_out);
  EXPECT_TRUE(r.status.signaled()) << r.status;
  EXPECT_EQ(r.status.signal(), SIGTERM);
}

TEST_F(pty_run_test, tree_scope_stops_the_whole_session)
{
  pidfd_test::subreaper_guard subreaper;
  pidfd::run_options o;
  o.timeout = std::chrono::milliseconds(100);
  o.stop_scope = pidfd::terminate_scope::tree;
  // Without the group signal the background sleep would hold the
  // terminal, and the run, for 100 s.
  pidfd::run_result r =
      run_on_pty("/bin/sh", {"-c", "sleep 100 & wait"}, std::move(o));
  EXPECT_TRUE(r.timed_out);
  EXPECT_TRUE(r.status.signaled()) << r.status;
  // The orphaned sleep came to us, the subreaper, and was stopped with
  // the shell (were it not, this wait would outlast the test's timeout).
  int status = 0;
  EXPECT_GT(::waitpid(-1, &status, 0), 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
}

TEST_F(pty_run_test, input_the_child_never_reads_ends_with_it)
{
  pidfd::run_options o;
  o.input = std::string(std::size_t{1} << 20, 'x');
  o.spawn.terminal.raw = true; // else the terminal discards what overflows
  o.timeout = std::chrono::seconds(10); // fails the test, not the run
  pidfd::run_result r = run_on_pty("true", {}, std::move(o));
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(r.status.success()) << r.status;
}

// ---- errors ----------------------------------------------------------------

TEST_F(pty_test, zero_rows_or_cols_is_refused_before_any_child)
{
  for (auto [rows, cols] : {std::pair<int, int>{0, 80}, {24, 0}})
  {
    pidfd::pty term(ctx);
    pidfd::spawn_options o = on_pty(term);
    o.terminal.rows = static_cast<unsigned short>(rows);
    o.terminal.cols = static_cast<unsigned short>(cols);
    error_code ec;
    pidfd::spawn_error_info info;
    auto p = pidfd::spawn(ctx, "true", {}, o, ec, info);
    EXPECT_EQ(ec, pidfd::error::invalid_window_size);
    EXPECT_EQ(ec, errc::invalid_argument);
    EXPECT_EQ(info.failed, part::terminal);
    EXPECT_EQ(info.child_fd, 0);
    EXPECT_NE(info.detail.find("window size " + std::to_string(rows) + "x"
                  + std::to_string(cols)),
        std::string::npos)
        << info.detail;
    EXPECT_FALSE(term.is_open());
    EXPECT_FALSE(pidfd_test::has_children());
  }
  pidfd::pty term(ctx);
  pidfd::spawn_options o = on_pty(term);
  o.terminal.cols = 0;
  try
  {
    pidfd::spawn(ctx, "true", {}, o);
    ADD_FAILURE() << "no exception";
  }
  catch (const boost::system::system_error& e)
  {
    EXPECT_EQ(e.code(), pidfd::error::invalid_window_size);
    EXPECT_NE(std::string(e.what()).find("window size 24x0"), std::string::npos)
        << e.what();
  }
}

TEST_F(pty_test, missing_multiplexer_names_it)
{
  pidfd::pty term(ctx);
  pidfd::spawn_options o = on_pty(term);
  o.terminal.multiplexer = temp_path("no-ptmx");
  error_code ec;
  pidfd::spawn_error_info info;
  pidfd::spawn(ctx, "true", {}, o, ec, info);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  EXPECT_EQ(info.failed, part::terminal);
  EXPECT_NE(info.detail.find("multiplexer \"" + o.terminal.multiplexer),
      std::string::npos)
      << info.detail;
  EXPECT_FALSE(term.is_open());
  EXPECT_FALSE(pidfd_test::has_children());
}

TEST_F(pty_test, a_file_that_is_no_multiplexer_leaks_nothing)
{
  pidfd::pty term(ctx);
  pidfd::spawn_options o = on_pty(term);
  o.terminal.multiplexer = "/dev/null"; // opens, but is no pty
  error_code ec;
  pidfd::spawn_error_info info;
  pidfd::spawn(ctx, "true", {}, o, ec, info);
  EXPECT_EQ(ec, errc::inappropriate_io_control_operation) << ec.message();
  EXPECT_EQ(info.failed, part::terminal);
  EXPECT_NE(info.detail.find("unlockpt"), std::string::npos) << info.detail;
  EXPECT_FALSE(term.is_open());
  // The fixture's TearDown checks that the fd it opened was closed.
}

TEST_F(pty_test, out_of_fds_for_the_master)
{
  pidfd::pty term(ctx);
  pidfd::spawn_options o = on_pty(term);
  // Every fd below the limit is in use: the lowest free one is the limit.
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  const int lowest_free = ::dup(0);
  ASSERT_GE(lowest_free, 0);
  ::close(lowest_free);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(lowest_free);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  error_code ec;
  pidfd::spawn_error_info info;
  pidfd::spawn(ctx, "true", {}, o, ec, info);
  ::setrlimit(RLIMIT_NOFILE, &old);
  EXPECT_EQ(ec, errc::too_many_files_open) << ec.message();
  EXPECT_EQ(info.failed, part::terminal);
  EXPECT_NE(info.detail.find("/dev/ptmx"), std::string::npos) << info.detail;
  EXPECT_FALSE(term.is_open());
}

TEST_F(pty_test, one_terminal_per_child)
{
  pidfd::pty a(ctx);
  pidfd::pty b(ctx);
  pidfd::spawn_options o;
  o.in = pidfd::stdio::pty(a);
  o.out = pidfd::stdio::pty(b);
  error_code ec;
  pidfd::spawn_error_info info;
  pidfd::spawn(ctx, "true", {}, o, ec, info);
  EXPECT_EQ(ec, pidfd::error::invalid_option);
  EXPECT_EQ(info.failed, part::stdio);
  EXPECT_EQ(info.child_fd, 1);
  EXPECT_NE(info.detail.find("a second pty object"), std::string::npos)
      << info.detail;
  EXPECT_FALSE(a.is_open());
  EXPECT_FALSE(b.is_open());
}

TEST_F(pty_test, an_open_pty_object_is_refused)
{
  pidfd::pty term(ctx);
  auto first = pidfd::spawn(ctx, "true", {}, on_pty(term));
  error_code ec;
  pidfd::spawn_error_info info;
  pidfd::spawn(ctx, "true", {}, on_pty(term), ec, info);
  EXPECT_EQ(ec, asio::error::already_open);
  EXPECT_EQ(info.failed, part::stdio);
  EXPECT_NE(
      info.detail.find("the pty object is already open"), std::string::npos)
      << info.detail;
  EXPECT_TRUE(first.wait().success());
}

TEST_F(pty_test, bad_resize)
{
  pidfd::pty term(ctx);
  error_code ec;
  term.resize(24, 80, ec);
  EXPECT_EQ(ec, errc::bad_file_descriptor) << ec.message();
  auto p = pidfd::spawn(ctx, "true", {}, on_pty(term));
  term.resize(0, 80, ec);
  EXPECT_EQ(ec, pidfd::error::invalid_window_size);
  try
  {
    term.resize(10, 0);
    ADD_FAILURE() << "no exception";
  }
  catch (const boost::system::system_error& e)
  {
    EXPECT_EQ(e.code(), pidfd::error::invalid_window_size);
    EXPECT_NE(std::string(e.what()).find("resize"), std::string::npos);
  }
  term.resize(10, 20, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(p.wait().success());
}

} // namespace
