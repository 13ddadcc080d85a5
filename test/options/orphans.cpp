//
// test/options/orphans.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
// Destroying a process object: the child is reaped in the background
// (kill_on_destroy false, the default) or killed first (true).
//

// Test that header file is self-contained.
#include "pidfd/basic_process.hpp"

#include "options/support.hpp"
#include "pidfd/process.hpp"
#include "pidfd/spawn.hpp"

#include <set>
#include <string>

namespace {

using pidfd_options_test::make_pipe;
using pidfd_options_test::read_to_eof;
using pidfd_options_test::write_all;
using pidfd_test::child_program;

class options_orphans_test : public pidfd_test::fixture
{
protected:
  // Once the children have exited: with pidfds, the io_context's internal
  // waits reap them (run() returns when they are done); in the wait4
  // fallback, pool threads do, and children_left() waits for those.
  void reap_orphans()
  {
    run();
    EXPECT_FALSE(pidfd_test::children_left());
  }
};

TEST_F(options_orphans_test, kill_on_destroy_is_off_by_default)
{
  EXPECT_FALSE(pidfd::spawn_options{}.kill_on_destroy);
  auto in = make_pipe();
  auto out = make_pipe();
  pidfd::spawn(ctx, child_program, {"echo"},
      {.in = pidfd::stdio::fd(in.read.get()),
          .out = pidfd::stdio::fd(out.write.get())});
  in.read.reset();
  out.write.reset();
  // The object is gone; the child still runs and answers.
  write_all(in.write.get(), "still here");
  in.write.reset();
  EXPECT_EQ(read_to_eof(out.read.get()), "still here");
  reap_orphans();
}

TEST_F(options_orphans_test, destroyed_handles_of_1000_running_children)
{
  // Each child runs until its stdin, shared by all, reaches EOF: all are
  // running when their objects are destroyed.
  auto in = make_pipe();
  pidfd::spawn_options options{.in = pidfd::stdio::fd(in.read.get()),
      .out = pidfd::stdio::null(),
      .err = pidfd::stdio::null()};
  for (int i = 0; i < 1000; ++i)
    pidfd::spawn(ctx, child_program, {"linger"}, options);
  in.read.reset();
  EXPECT_TRUE(pidfd_test::has_children());
  in.write.reset();
  reap_orphans();
}

TEST_F(options_orphans_test, destroyed_handle_of_an_exited_child)
{
  {
    auto p = pidfd::spawn(ctx, pidfd_test::child_program, {"exit", "0"});
    pidfd_test::wait_exited(p); // a zombie now
  }
  reap_orphans();
}

TEST_F(options_orphans_test, kill_on_destroy_kills_the_child)
{
  auto in = make_pipe();
  auto lifeline = make_pipe();
  pidfd::spawn_options options{
      .in = pidfd::stdio::fd(in.read.get()), .kill_on_destroy = true};
  options.inherit_fd(3, lifeline.write.get());
  pidfd::spawn(ctx, child_program, {"linger"}, options);
  lifeline.write.reset();
  // The child's end of the lifeline closes when it dies; its stdin is
  // still open, so it did not end by itself.
  EXPECT_EQ(read_to_eof(lifeline.read.get()), "");
  reap_orphans();
}

TEST_F(options_orphans_test, kill_on_destroy_by_move_assignment)
{
  auto in = make_pipe();
  auto lifeline = make_pipe();
  pidfd::spawn_options options{
      .in = pidfd::stdio::fd(in.read.get()), .kill_on_destroy = true};
  options.inherit_fd(3, lifeline.write.get());
  pidfd::process p = pidfd::spawn(ctx, child_program, {"linger"}, options);
  lifeline.write.reset();
  p = pidfd::process(ctx);
  EXPECT_EQ(read_to_eof(lifeline.read.get()), "");
  reap_orphans();
}

TEST_F(options_orphans_test, kill_on_destroy_for_many_children)
{
  auto lifeline = make_pipe();
  pidfd::spawn_options options{.kill_on_destroy = true};
  options.inherit_fd(3, lifeline.write.get());
  for (int i = 0; i < 100; ++i)
    pidfd::spawn(ctx, child_program, {"pause"}, options);
  lifeline.write.reset();
  EXPECT_EQ(read_to_eof(lifeline.read.get()), "");
  reap_orphans();
}

TEST_F(options_orphans_test, kill_on_destroy_of_a_collected_child)
{
  pidfd::process p = pidfd::spawn(
      ctx, pidfd_test::child_program, {"exit", "4"}, {.kill_on_destroy = true});
  EXPECT_EQ(p.wait().code(), 4);
  p = pidfd::process(ctx);
  reap_orphans();
}

// A process object's fds (its pidfd; in the wait4 fallback an eventfd
// that a pool thread also holds) must be closed once the wait is done and
// the object gone, not a moment later: code that closes or counts fds would
// see them, and a late close could hit an fd number reused meanwhile.
TEST_F(options_orphans_test, event_fds_close_with_the_process)
{
  // The io_context's own fds (the reactor's) come with the first process.
  EXPECT_TRUE(pidfd::spawn(ctx, pidfd_test::child_program, {"exit", "0"})
                  .wait()
                  .success());
  int late = 0;
  for (int i = 0; i < 50; ++i)
  {
    const std::set<int> before = pidfd_test::open_fds();
    {
      auto p = pidfd::spawn(ctx, pidfd_test::child_program, {"exit", "0"});
      EXPECT_TRUE(p.wait().success());
    }
    const std::set<int> after = pidfd_test::open_fds();
    for (int fd : after)
      if (!before.count(fd))
      {
        ++late;
        ADD_FAILURE() << "fd " << fd << " (" << pidfd_test::describe_fd(fd)
                      << ") outlived its process object";
      }
  }
  EXPECT_EQ(late, 0);
}

} // namespace
