//
// test/basic_process.cpp
// ~~~~~~~~~~~~~~~~~~~~~~
// The I/O object's shape: types, constructors, moves, accessors, release(),
// and objects that refer to no process. Waits, signals and adoption have
// their own files (basic_process_{wait,signal,adopt}.cpp).
//

// Test that header file is self-contained.
#include "pidfd/basic_process.hpp"

#include "pidfd/process.hpp"
#include "pidfd/spawn.hpp"
#include "support/fixture.hpp"
#include "support/guards.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <csignal>
#include <future>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

//------------------------------------------------------------------------------
// A completion token whose async_result returns an int, as Asio's "lazy"
// archetype: proves that async_* return what the token's async_result says.

namespace basic_process_compile {

struct lazy_token
{
};

struct lazy_handler
{
  template <typename... Args>
  void operator()(Args&&...) const
  {
  }
};

} // namespace basic_process_compile

namespace boost::asio {

template <typename R, typename... Args>
class async_result<basic_process_compile::lazy_token, R(Args...)>
{
public:
  template <typename Initiation, typename... InitArgs>
  static int initiate(Initiation&& initiation,
      basic_process_compile::lazy_token, InitArgs&&... args)
  {
    std::move(initiation)(
        basic_process_compile::lazy_handler(), std::forward<InitArgs>(args)...);
    return 42;
  }
};

} // namespace boost::asio

//------------------------------------------------------------------------------
// Calls every public member with every kind of completion token. It is run
// too, on a child that has exited, so it must not block.

namespace basic_process_compile {

namespace asio = boost::asio;
using boost::system::error_code;
using pidfd::exit_status;

void wait_handler(error_code, exit_status) {}

void signal_handler(error_code) {}

void test(asio::io_context& ioc)
{
  using io_executor = asio::io_context::executor_type;
  using process = pidfd::process;

  static_assert(std::is_same_v<process::executor_type, asio::any_io_executor>);
  static_assert(std::is_same_v<process::native_handle_type, int>);
  static_assert(std::is_same_v<process::rebind_executor<io_executor>::other,
      pidfd::basic_process<io_executor>>);
  static_assert(!std::is_copy_constructible_v<process>);
  static_assert(!std::is_copy_assignable_v<process>);
  static_assert(std::is_nothrow_move_constructible_v<process>);
  static_assert(std::is_nothrow_move_assignable_v<process>);
  static_assert(
      std::is_constructible_v<process, pidfd::basic_process<io_executor>&&>);
  // Only the type-erased executor can hold any other executor.
  static_assert(
      !std::is_constructible_v<pidfd::basic_process<io_executor>, process&&>);

  try
  {
    error_code ec;

    // basic_process constructors.
    process p1(ioc);
    process p2(ioc.get_executor());
    pidfd::basic_process<io_executor> p3(ioc);
    process p4(std::move(p3));
    process p5(std::move(p4));
    p1 = std::move(p5);

    // Factories.
    process a1 = process::adopt(ioc.get_executor(), -1, ec);
    process a2 = process::adopt_pidfd(ioc.get_executor(), -1, ec);
    process a3 = process::adopt(ioc.get_executor(), ::getpid());
    try
    {
      process a4 = process::adopt_pidfd(ioc.get_executor(), -1);
    }
    catch (const boost::system::system_error&)
    {
    }

    // The operations below act on a child that exits at once.
    p1 = pidfd::spawn(
        ioc.get_executor(), pidfd_test::child_program, {"exit", "0"});

    // Observers.
    process::executor_type ex = p1.get_executor();
    (void)ex;
    bool open = p1.is_open();
    (void)open;
    pid_t id = p1.id();
    (void)id;
    process::native_handle_type fd = p1.native_handle();
    (void)fd;

    // Synchronous operations, both overloads.
    exit_status s = p1.wait(ec);
    std::optional<exit_status> o = p1.try_wait(ec);
    p1.signal(SIGTERM, ec);
    p1.cancel();
    try
    {
      s = p1.wait();
    }
    catch (const boost::system::system_error&)
    {
    }
    try
    {
      o = p1.try_wait();
    }
    catch (const boost::system::system_error&)
    {
    }
    try
    {
      p1.signal(0);
    }
    catch (const boost::system::system_error&)
    {
    }
    a3.signal(0, ec);
    a2.cancel();

    // async_wait with each kind of token.
    p1.async_wait(&wait_handler);
    p1.async_wait([](error_code, exit_status) {});
    auto d1 = p1.async_wait(asio::deferred);
    std::move(d1)(&wait_handler);
    std::future<exit_status> f1 = p1.async_wait(asio::use_future);
    asio::awaitable<exit_status> aw1 = p1.async_wait(asio::use_awaitable);
    int i1 = p1.async_wait(lazy_token());
    (void)i1;

    // async_signal with each kind of token.
    p1.async_signal(SIGTERM, &signal_handler);
    p1.async_signal(0, [](error_code) {});
    auto d2 = p1.async_signal(SIGTERM, asio::deferred);
    std::move(d2)(&signal_handler);
    std::future<void> f2 = p1.async_signal(SIGTERM, asio::use_future);
    asio::awaitable<void> aw2 = p1.async_signal(SIGTERM, asio::use_awaitable);
    int i2 = p1.async_signal(SIGTERM, lazy_token());
    (void)i2;

    // Process groups.
    p1.signal_group(SIGTERM, ec);
    try
    {
      p1.signal_group(0);
    }
    catch (const boost::system::system_error&)
    {
    }
    p1.async_signal_group(SIGTERM, &signal_handler);
    auto d3 = p1.async_signal_group(SIGTERM, asio::deferred);
    std::move(d3)(&signal_handler);
    std::future<void> f3 = p1.async_signal_group(SIGTERM, asio::use_future);
    asio::awaitable<void> aw3 =
        p1.async_signal_group(SIGTERM, asio::use_awaitable);
    int i3 = p1.async_signal_group(SIGTERM, lazy_token());
    (void)i3;

    // async_terminate with each kind of token.
    const auto grace = std::chrono::milliseconds(100);
    p1.async_terminate(grace, &wait_handler);
    auto d4 = p1.async_terminate(grace, asio::deferred);
    std::move(d4)(&wait_handler);
    std::future<exit_status> f4 = p1.async_terminate(grace, asio::use_future);
    asio::awaitable<exit_status> aw4 =
        p1.async_terminate(std::chrono::seconds(1), asio::use_awaitable);
    int i4 = p1.async_terminate(grace, lazy_token());
    (void)i4;

    // Another executor type.
    auto strand = asio::make_strand(ioc);
    pidfd::basic_process<decltype(strand)> p6(strand);
    p6 = pidfd::spawn(strand, pidfd_test::child_program, {"exit", "0"});
    p6.async_wait(&wait_handler);
    p6.async_signal(0, &signal_handler);

    ioc.run();
    ioc.restart();
    fd = p1.release();
    ::close(fd);
    try
    {
      f1.get();
    }
    catch (const boost::system::system_error&)
    {
    }
    try
    {
      f2.get();
    }
    catch (const boost::system::system_error&)
    {
    }
    try
    {
      f3.get();
    }
    catch (const boost::system::system_error&)
    {
    }
    f4.get();
  }
  catch (const std::exception&)
  {
  }
}

} // namespace basic_process_compile

//------------------------------------------------------------------------------

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using boost::system::error_code;
using pidfd::exit_status;
using pidfd_test::child_program;

class basic_process_test : public pidfd_test::fixture
{
};

TEST_F(basic_process_test, compile)
{
  basic_process_compile::test(ctx);
}

TEST_F(basic_process_test, token_return_types_pass_through)
{
  pidfd::process p = pidfd::spawn(ctx, child_program, {"exit", "0"});
  ASSERT_TRUE(p.wait().success());
  static_assert(std::is_same_v<decltype(p.async_wait(asio::use_future)),
      std::future<exit_status>>);
  static_assert(std::is_same_v<decltype(p.async_signal(0, asio::use_future)),
      std::future<void>>);
  static_assert(std::is_same_v<decltype(p.async_wait(asio::use_awaitable)),
      asio::awaitable<exit_status>>);
  static_assert(std::is_same_v<decltype(p.async_signal(0, asio::use_awaitable)),
      asio::awaitable<void>>);
  static_assert(std::is_same_v<
      decltype(p.async_wait(basic_process_compile::lazy_token())), int>);
  static_assert(std::is_same_v<decltype(p.async_terminate(
                                   std::chrono::seconds(1), asio::use_future)),
      std::future<exit_status>>);
  static_assert(
      std::is_same_v<decltype(p.async_signal_group(0, asio::use_future)),
          std::future<void>>);
  static_assert(
      std::is_void_v<decltype(p.async_wait([](error_code, exit_status) {}))>);
  EXPECT_EQ(p.async_wait(basic_process_compile::lazy_token()), 42);
  EXPECT_EQ(p.async_signal(0, basic_process_compile::lazy_token()), 42);
  run();
}

// Every operation on an object that refers to no process reports
// error::no_process.
template <typename Process>
void expect_no_process(Process& p)
{
  EXPECT_FALSE(p.is_open());
  EXPECT_EQ(p.id(), 0);
  EXPECT_EQ(p.native_handle(), -1);

  error_code ec;
  exit_status s = p.wait(ec);
  EXPECT_EQ(ec, pidfd::error::no_process);
  EXPECT_EQ(ec, errc::bad_file_descriptor);
  EXPECT_FALSE(s.known());

  ec = {};
  EXPECT_EQ(p.try_wait(ec), std::nullopt);
  EXPECT_EQ(ec, pidfd::error::no_process);

  ec = {};
  p.signal(SIGKILL, ec);
  EXPECT_EQ(ec, pidfd::error::no_process);

  try
  {
    p.wait();
    ADD_FAILURE() << "wait() did not throw";
  }
  catch (const boost::system::system_error& e)
  {
    EXPECT_EQ(e.code(), pidfd::error::no_process);
  }
  EXPECT_THROW(p.try_wait(), boost::system::system_error);
  EXPECT_THROW(p.signal(0), boost::system::system_error);

  p.cancel(); // no effect, no error
  EXPECT_EQ(p.release(), -1);
}

// The asynchronous operations report it too, through a posted completion.
template <typename Process>
void expect_no_process_async(Process& p, asio::io_context& ioc)
{
  bool signalled = false;
  p.async_signal(SIGKILL, [&](error_code e) {
    signalled = true;
    EXPECT_EQ(e, pidfd::error::no_process);
  });
  EXPECT_FALSE(signalled);

  bool waited = false;
  p.async_wait([&](error_code e, exit_status) {
    waited = true;
    EXPECT_EQ(e, pidfd::error::no_process);
  });
  EXPECT_FALSE(waited);

  ioc.run();
  ioc.restart();
  EXPECT_TRUE(waited);
  EXPECT_TRUE(signalled);
}

TEST_F(basic_process_test, default_constructed_refers_to_no_process)
{
  pidfd::process p(ctx);
  EXPECT_EQ(p.get_executor(), asio::any_io_executor(ctx.get_executor()));
  expect_no_process(p);

  pidfd::process q(ctx.get_executor());
  expect_no_process(q);

  pidfd::basic_process<asio::io_context::executor_type> r(ctx);
  EXPECT_EQ(r.get_executor(), ctx.get_executor());
  expect_no_process(r);
}

TEST_F(basic_process_test, default_constructed_async_operations)
{
  pidfd::process p(ctx);
  expect_no_process_async(p, ctx);
}

TEST_F(basic_process_test, default_constructed_async_operations_typed)
{
  pidfd::basic_process<asio::io_context::executor_type> p(ctx);
  expect_no_process_async(p, ctx);
}

TEST_F(basic_process_test, moved_from_refers_to_no_process)
{
  auto p = pidfd::spawn(ctx, child_program, {"pause"});
  const pid_t pid = p.id();
  const int fd = p.native_handle();
  auto q = std::move(p);
  EXPECT_EQ(q.id(), pid);
  EXPECT_EQ(q.native_handle(), fd);
  EXPECT_TRUE(q.is_open());
  // The moved-from object keeps its executor and stays usable.
  EXPECT_EQ(p.get_executor(), ctx.get_executor());
  expect_no_process(p);

  q.signal(SIGKILL);
  EXPECT_EQ(q.wait().signal(), SIGKILL);
}

TEST_F(basic_process_test, moved_from_async_operations)
{
  pidfd::process p = pidfd::spawn(ctx, child_program, {"exit", "0"});
  pidfd::process q(std::move(p));
  expect_no_process_async(p, ctx);
  EXPECT_TRUE(q.wait().success());
}

TEST_F(basic_process_test, move_assignment_gives_up_the_old_process)
{
  auto a = pidfd::spawn(ctx, child_program, {"pause"});
  auto b = pidfd::spawn(ctx, child_program, {"exit", "3"});
  const pid_t b_pid = b.id();
  pidfd_test::unique_fd old(pidfd_test::pidfd_open(a.id()));
  ASSERT_GE(old.get(), 0);

  error_code a_ec;
  a.async_wait([&](error_code ec, exit_status) { a_ec = ec; });
  a = std::move(b);
  EXPECT_EQ(a.id(), b_pid);
  EXPECT_FALSE(b.is_open());
  EXPECT_EQ(a.wait().code(), 3);

  // The old child was not killed...
  EXPECT_EQ(pidfd_test::pidfd_send_signal(old.get(), 0), 0);
  // ...and is reaped in the background once it exits.
  ASSERT_EQ(pidfd_test::pidfd_send_signal(old.get(), SIGKILL), 0);
  run();
  EXPECT_EQ(a_ec, asio::error::operation_aborted);
  EXPECT_FALSE(pidfd_test::children_left());

  // Self-assignment (through a reference, to keep compilers quiet) keeps
  // the process.
  auto& self = a;
  a = std::move(self);
  EXPECT_EQ(a.id(), b_pid);
}

TEST_F(basic_process_test, destructor_does_not_kill)
{
  pidfd_test::unique_fd own;
  {
    auto p = pidfd::spawn(ctx, child_program, {"pause"});
    own.reset(pidfd_test::pidfd_open(p.id()));
    ASSERT_GE(own.get(), 0);
  }
  // Still running: signal 0 fails for a process that has exited.
  pollfd exited{own.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&exited, 1, 0), 0);
  EXPECT_EQ(pidfd_test::pidfd_send_signal(own.get(), 0), 0);

  // Once it exits, a wait on the io_context reaps it: no zombie.
  ASSERT_EQ(pidfd_test::pidfd_send_signal(own.get(), SIGTERM), 0);
  run();
  EXPECT_FALSE(pidfd_test::children_left());
}

TEST_F(basic_process_test, destructor_reaps_an_exited_child)
{
  {
    auto p = pidfd::spawn(ctx, child_program, {"exit", "0"});
    pidfd_test::wait_exited(p);
  }
  run();
  EXPECT_FALSE(pidfd_test::children_left());
}

TEST_F(basic_process_test, accessors_of_a_spawned_process)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  auto p = pidfd::spawn(ctx, child_program, {"pause"});
  EXPECT_TRUE(p.is_open());
  EXPECT_GT(p.id(), 0);
  EXPECT_NE(p.id(), ::getpid());
  ASSERT_GE(p.native_handle(), 0);
  // native_handle() is a pidfd for that very process.
  EXPECT_NE(pidfd_test::describe_fd(p.native_handle()).find("pidfd"),
      std::string::npos)
      << pidfd_test::describe_fd(p.native_handle());
  const std::string fdinfo = pidfd_test::read_file(
      "/proc/self/fdinfo/" + std::to_string(p.native_handle()));
  EXPECT_NE(
      fdinfo.find("Pid:\t" + std::to_string(p.id()) + "\n"), std::string::npos)
      << fdinfo;
  // Close-on-exec, so that it does not leak into programs started
  // elsewhere.
  EXPECT_NE(::fcntl(p.native_handle(), F_GETFD) & FD_CLOEXEC, 0);
  p.signal(SIGKILL);
  p.wait();
}

TEST_F(
    basic_process_test, the_pidfd_is_non_blocking_as_soon_as_it_is_handed_out)
{
  // clone3 gives a blocking pidfd; a user who takes native_handle() into a
  // loop of their own must get a non-blocking one, before any wait and on
  // every Asio backend.
  PIDFD_TEST_REQUIRE_PIDFD();
  auto p = pidfd::spawn(ctx, child_program, {"pause"});
  ASSERT_GE(p.native_handle(), 0);
  EXPECT_NE(::fcntl(p.native_handle(), F_GETFL) & O_NONBLOCK, 0);

  auto by_pid = pidfd::process::adopt(ctx.get_executor(), p.id());
  EXPECT_NE(::fcntl(by_pid.native_handle(), F_GETFL) & O_NONBLOCK, 0);

  const int blocking = pidfd_test::pidfd_open(p.id());
  ASSERT_GE(blocking, 0);
  ASSERT_EQ(::fcntl(blocking, F_GETFL) & O_NONBLOCK, 0);
  auto by_fd = pidfd::process::adopt_pidfd(ctx.get_executor(), blocking);
  EXPECT_NE(::fcntl(by_fd.native_handle(), F_GETFL) & O_NONBLOCK, 0);

  p.signal(SIGKILL);
  p.wait();
}

TEST_F(basic_process_test, release_hands_over_the_pidfd)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  auto p = pidfd::spawn(ctx, child_program, {"pause"});
  const pid_t pid = p.id();
  const int expected = p.native_handle();

  error_code wait_ec;
  p.async_wait([&](error_code ec, exit_status) { wait_ec = ec; });

  pidfd_test::unique_fd fd(p.release());
  EXPECT_EQ(fd.get(), expected);
  EXPECT_FALSE(p.is_open());
  EXPECT_EQ(p.id(), 0);
  EXPECT_EQ(p.native_handle(), -1);
  EXPECT_EQ(p.release(), -1);

  run();
  EXPECT_EQ(wait_ec, asio::error::operation_aborted);

  // Still open and still refers to the child.
  ASSERT_EQ(pidfd_test::pidfd_send_signal(fd.get(), SIGKILL), 0);
  EXPECT_EQ(WTERMSIG(pidfd_test::reap(pid)), SIGKILL);
}

// Asio's io_uring backend frees a descriptor's registration at release()
// or close() even with a wait of it in the kernel, and gives it to the
// next descriptor opened: that one's first read then queued behind our
// wait, and did not start while the child lived. True if a pipe opened
// now reads what is written to it.
::testing::AssertionResult a_new_pipe_reads(asio::io_context& ctx)
{
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0)
    return ::testing::AssertionFailure() << "pipe2 failed";
  pidfd_test::unique_fd write_end(ends[1]);
  asio::readable_pipe pipe(ctx, ends[0]);
  char buffer[8] = {};
  error_code read_ec = asio::error::would_block;
  std::size_t n = 0;
  pipe.async_read_some(
      asio::buffer(buffer), [&](error_code ec, std::size_t got) {
        read_ec = ec;
        n = got;
      });
  if (::write(write_end.get(), "abc", 3) != 3)
    return ::testing::AssertionFailure() << "write failed";
  // Bounded: with the defect the read does not complete.
  ctx.run_for(std::chrono::seconds(10));
  ctx.restart();
  pipe.close();
  ctx.run();
  ctx.restart();
  if (read_ec || std::string_view(buffer, n) != "abc")
    return ::testing::AssertionFailure()
        << "read: " << read_ec.message() << ", \""
        << std::string_view(buffer, n) << "\"";
  return ::testing::AssertionSuccess();
}

TEST_F(basic_process_test,
    release_with_a_wait_in_the_kernel_leaves_the_next_descriptor_working)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  auto p = pidfd::spawn(ctx, child_program, {"pause"});
  const pid_t pid = p.id();
  error_code wait_ec;
  p.async_wait([&](error_code ec, exit_status) { wait_ec = ec; });
  ctx.poll(); // the wait is armed (in the kernel, on io_uring)
  pidfd_test::unique_fd fd(p.release());

  EXPECT_TRUE(a_new_pipe_reads(ctx));
  EXPECT_EQ(wait_ec, asio::error::operation_aborted);
  ASSERT_EQ(pidfd_test::pidfd_send_signal(fd.get(), SIGKILL), 0);
  EXPECT_EQ(WTERMSIG(pidfd_test::reap(pid)), SIGKILL);
}

TEST_F(basic_process_test,
    destroying_with_a_wait_in_the_kernel_leaves_the_next_descriptor_working)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  auto p = pidfd::spawn(ctx, child_program, {"pause"});
  // Not the child's owner: destroying it only closes it.
  std::optional<pidfd::process> q(
      pidfd::process::adopt(ctx.get_executor(), p.id()));
  error_code wait_ec;
  q->async_wait([&](error_code ec, exit_status) { wait_ec = ec; });
  ctx.poll(); // the wait is armed (in the kernel, on io_uring)
  q.reset();
  // Its fd number goes to a file that never becomes readable (else the
  // stale wait, submitted again on that number, would end by chance).
  pidfd_test::unique_fd reused(::eventfd(0, EFD_CLOEXEC));
  ASSERT_GE(reused.get(), 0);

  EXPECT_TRUE(a_new_pipe_reads(ctx));
  EXPECT_EQ(wait_ec, asio::error::operation_aborted);
  p.signal(SIGKILL);
  EXPECT_EQ(p.wait().signal(), SIGKILL);
}

// The same with every operation pending on each object (two waits, and a
// terminate in its grace period: the children ignore SIGTERM), several
// objects at once, both ways of letting go, in a loop: each operation
// ends aborted, and every fd, child and registration goes.
TEST_F(basic_process_test,
    letting_go_with_every_operation_pending_in_a_loop_leaves_descriptors_working)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  constexpr int rounds = 100;
  constexpr int at_once = 4;
  for (int round = 0; round < rounds; ++round)
  {
    std::optional<pidfd::process> owners[at_once];
    {
      pidfd_test::disposition_guard ignore_term(SIGTERM, SIG_IGN);
      for (auto& owner : owners)
        owner.emplace(pidfd::spawn(ctx, child_program, {"pause"}));
    }
    int aborted = 0;
    int others = 0;
    auto count = [&](error_code ec) {
      ++(ec == asio::error::operation_aborted ? aborted : others);
    };
    // Even: a non-owning handle, destroyed (closed). Odd: the owner,
    // released.
    std::optional<pidfd::process> handles[at_once];
    pidfd_test::unique_fd released[at_once];
    for (int i = 0; i < at_once; ++i)
    {
      pidfd::process& p = i % 2 == 0 ? handles[i].emplace(pidfd::process::adopt(
                              ctx.get_executor(), owners[i]->id()))
                                     : *owners[i];
      for (int w = 0; w < 2; ++w)
        p.async_wait([&](error_code ec, exit_status) { count(ec); });
      p.async_terminate(std::chrono::hours(1),
          [&](error_code ec, exit_status) { count(ec); });
    }
    ctx.poll(); // the waits are armed, the terminates in their grace
    std::vector<pid_t> pids;
    for (int i = 0; i < at_once; ++i)
    {
      pids.push_back(owners[i]->id());
      if (i % 2 == 0)
        handles[i].reset();
      else
        released[i].reset(owners[i]->release());
    }

    ASSERT_TRUE(a_new_pipe_reads(ctx)) << "round " << round;
    ASSERT_EQ(aborted, 3 * at_once) << "round " << round;
    ASSERT_EQ(others, 0) << "round " << round;
    for (int i = 0; i < at_once; ++i)
    {
      if (i % 2 == 0)
      {
        owners[i]->signal(SIGKILL);
        ASSERT_EQ(owners[i]->wait().signal(), SIGKILL);
      }
      else
      {
        ASSERT_EQ(pidfd_test::pidfd_send_signal(released[i].get(), SIGKILL), 0);
        ASSERT_EQ(WTERMSIG(pidfd_test::reap(pids[i])), SIGKILL);
      }
    }
  }
}

TEST_F(basic_process_test, release_without_outstanding_waits)
{
  PIDFD_TEST_REQUIRE_PIDFD();
  auto p = pidfd::spawn(ctx, child_program, {"exit", "4"});
  const pid_t pid = p.id();
  pidfd_test::unique_fd fd(p.release());
  ASSERT_GE(fd.get(), 0);
  // Never handed out before, never waited on: non-blocking all the same.
  EXPECT_NE(::fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0);
  pidfd_test::wait_exited(fd.get(), pid);
  EXPECT_EQ(WEXITSTATUS(pidfd_test::reap(pid)), 4);
}

TEST_F(basic_process_test, converting_move_keeps_the_process)
{
  auto p = pidfd::spawn(ctx.get_executor(), child_program, {"pause"});
  static_assert(std::is_same_v<decltype(p),
      pidfd::basic_process<asio::io_context::executor_type>>);
  const pid_t pid = p.id();

  exit_status got;
  p.async_wait([&](error_code ec, exit_status s) {
    EXPECT_FALSE(ec) << ec.message();
    got = s;
  });

  pidfd::process q(std::move(p));
  EXPECT_EQ(q.id(), pid);
  EXPECT_FALSE(p.is_open());
  EXPECT_EQ(q.get_executor(), asio::any_io_executor(ctx.get_executor()));

  q.signal(SIGTERM);
  run();
  EXPECT_EQ(got.signal(), SIGTERM);
  EXPECT_EQ(q.wait().signal(), SIGTERM);
}

TEST_F(basic_process_test, executor_is_the_one_given)
{
  auto strand = asio::make_strand(ctx);
  pidfd::basic_process<decltype(strand)> p(strand);
  EXPECT_EQ(p.get_executor(), strand);

  using rebound = pidfd::basic_process<decltype(strand)>::rebind_executor<
      asio::any_io_executor>::other;
  static_assert(std::is_same_v<rebound, pidfd::process>);
  rebound q(std::move(p));
  EXPECT_EQ(q.get_executor(), asio::any_io_executor(strand));
}

} // namespace
