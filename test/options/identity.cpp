//
// test/options/identity.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// basic_process::identity(), export_handle() and open_handle(): equal
// identities for every object of one process, handles that reopen exactly
// that process from another program after the one that made them has
// exited, and the errors of handles that are gone, changed or malformed.
// (The identity of a process that got a recycled PID: pid_reuse.cpp.)
//

#include "options/support.hpp"
#include "pidfd/kernel_support.hpp"
#include "pidfd/process.hpp"
#include "pidfd/spawn.hpp"

#include <boost/system/system_error.hpp>

#include <csignal>
#include <cstdlib>
#include <functional>
#include <optional>
#include <regex>
#include <string>
#include <unordered_set>
#include <vector>

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// Named, because the files of this test executable form one translation
// unit (a unity build).
namespace pidfd_identity_test {
namespace {

using boost::system::error_code;
using pidfd_test::child_program;

class identity_test : public pidfd_test::fixture
{
protected:
  // Identities and handles need a pidfd: the wait4 fallback has none.
  static bool fallback() { return pidfd::kernel_support().forced_fallback; }
};

TEST_F(identity_test, every_object_of_a_process_has_its_identity)
{
  pidfd::process child = pidfd::spawn(ctx, child_program, {"pause"});
  error_code ec;
  const pidfd::process_identity id = child.identity(ec);
  if (fallback())
  {
    EXPECT_EQ(ec, pidfd::error::no_identity);
    EXPECT_EQ(ec, boost::system::errc::operation_not_supported);
    EXPECT_THROW(child.export_handle(), boost::system::system_error);
    child.signal(SIGKILL);
    child.wait();
    return;
  }
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_NE(id, pidfd::process_identity{});

  pidfd::process by_pid = pidfd::process::adopt(ctx.get_executor(), child.id());
  const int dup = ::fcntl(child.native_handle(), F_DUPFD_CLOEXEC, 0);
  pidfd::process by_pidfd =
      pidfd::process::adopt_pidfd(ctx.get_executor(), dup);
  EXPECT_EQ(by_pid.identity(), id);
  EXPECT_EQ(by_pidfd.identity(), id);
  EXPECT_EQ(std::hash<pidfd::process_identity>{}(by_pid.identity()),
      std::hash<pidfd::process_identity>{}(id));

  // Another process, even one started right after, is someone else.
  pidfd::process other = pidfd::spawn(ctx, child_program, {"pause"});
  EXPECT_NE(other.identity(), id);
  std::unordered_set<pidfd::process_identity> set{id, other.identity()};
  EXPECT_EQ(set.size(), 2u);

  // BOOT-UUID/INODE, the boot being this one.
  EXPECT_TRUE(std::regex_match(id.to_string(),
      std::regex("[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/[0-9]+")))
      << id;
  pidfd_options_test::unique_fd boot = pidfd_options_test::open_file(
      "/proc/sys/kernel/random/boot_id", O_RDONLY);
  const std::string boot_text =
      pidfd_options_test::read_to_eof(boot.get()).substr(0, 36);
  EXPECT_EQ(id.to_string().substr(0, 37), boot_text + "/");

  // It stays the process's after it has exited and been collected.
  child.signal(SIGKILL);
  child.wait();
  EXPECT_EQ(child.identity(), id);
  other.signal(SIGKILL);
  other.wait();
}

TEST_F(identity_test, a_handle_opens_exactly_its_process)
{
  pidfd::process child = pidfd::spawn(ctx, child_program, {"pause"});
  if (fallback())
  {
    error_code ec;
    EXPECT_TRUE(child.export_handle(ec).empty());
    EXPECT_EQ(ec, pidfd::error::no_identity);
    child.signal(SIGKILL);
    child.wait();
    return;
  }
  const std::string handle = child.export_handle();
  EXPECT_EQ(handle.find('\n'), std::string::npos);
  pidfd::process opened =
      pidfd::process::open_handle(ctx.get_executor(), handle);
  EXPECT_EQ(opened.identity(), child.identity());
  EXPECT_EQ(opened.id(), child.id());
  opened.signal(SIGTERM);
  const pidfd::exit_status s = child.wait();
  EXPECT_TRUE(s.signaled() && s.signal() == SIGTERM) << s;

  // Reaped: the kernel no longer knows the handle, even while this
  // object keeps its pidfd.
  error_code ec;
  pidfd::process gone =
      pidfd::process::open_handle(ctx.get_executor(), handle, ec);
  EXPECT_FALSE(gone.is_open());
  EXPECT_EQ(ec, pidfd::error::process_gone);
  EXPECT_EQ(ec, boost::system::errc::no_such_process);
  EXPECT_EQ(ec.message(), "the process has gone");
}

// Identity and handles while waits are pending, and two objects of one
// process awaiting it together: the spawned one and one opened from its
// handle. Whichever collects first, the opened one (adopted) reports the
// status; the spawned one reports it too, or ECHILD if the other reaped.
TEST_F(identity_test, handles_while_waits_are_pending)
{
  if (fallback())
    GTEST_SKIP() << "no handles in the wait4 fallback";
  for (int round = 0; round < 50; ++round)
  {
    pidfd::process child = pidfd::spawn(ctx, child_program, {"pause"});
    std::optional<pidfd::exit_status> spawned_status;
    error_code spawned_ec;
    child.async_wait([&](error_code ec, pidfd::exit_status s) {
      spawned_ec = ec;
      spawned_status = s;
    });
    // Pending wait: identity and export still work, and open gives the
    // same process.
    const pidfd::process_identity id = child.identity();
    pidfd::process opened =
        pidfd::process::open_handle(ctx.get_executor(), child.export_handle());
    EXPECT_EQ(opened.identity(), id);
    std::optional<pidfd::exit_status> opened_status;
    opened.async_wait([&](error_code ec, pidfd::exit_status s) {
      EXPECT_FALSE(ec) << ec.message();
      opened_status = s;
    });
    opened.signal(SIGKILL);
    run();
    ASSERT_TRUE(opened_status) << "round " << round;
    EXPECT_EQ(opened_status->signal(), SIGKILL) << *opened_status;
    if (spawned_ec)
    {
      EXPECT_EQ(spawned_ec, boost::system::errc::no_child_process);
    }
    else
    {
      ASSERT_TRUE(spawned_status);
      EXPECT_EQ(spawned_status->signal(), SIGKILL) << *spawned_status;
    }
    // Both keep the identity after the end.
    EXPECT_EQ(child.identity(), id);
    EXPECT_EQ(opened.identity(), id);
  }
}

// Hundreds of exports and opens, several processes at once: each opens to
// its own process, and no fd is left (the fixture checks).
TEST_F(identity_test, hundreds_of_handles_opened_and_dropped)
{
  if (fallback())
    GTEST_SKIP() << "no handles in the wait4 fallback";
  std::vector<pidfd::process> children;
  std::vector<std::string> handles;
  for (int i = 0; i < 4; ++i)
  {
    children.push_back(pidfd::spawn(ctx, child_program, {"pause"}));
    handles.push_back(children.back().export_handle());
  }
  for (int i = 0; i < 300; ++i)
  {
    const std::size_t k = static_cast<std::size_t>(i) % children.size();
    pidfd::process opened =
        pidfd::process::open_handle(ctx.get_executor(), handles[k]);
    ASSERT_EQ(opened.identity(), children[k].identity()) << i;
    ASSERT_EQ(opened.export_handle(), handles[k]) << i;
  }
  for (auto& c : children)
  {
    c.signal(SIGKILL);
    EXPECT_EQ(c.wait().signal(), SIGKILL);
  }
  for (const std::string& h : handles)
  {
    error_code ec;
    pidfd::process::open_handle(ctx.get_executor(), h, ec);
    EXPECT_EQ(ec, pidfd::error::process_gone);
  }
}

TEST_F(identity_test, changed_and_malformed_handles_are_refused)
{
  if (fallback())
    GTEST_SKIP() << "no handles in the wait4 fallback (tested above)";
  pidfd::process child = pidfd::spawn(ctx, child_program, {"pause"});
  const std::string handle = child.export_handle();
  // "pidfd-asio/1 BOOT TYPE HEX"
  const std::size_t hex_at = handle.rfind(' ') + 1;
  const std::size_t type_at = handle.rfind(' ', hex_at - 2) + 1;
  auto refused = [&](const std::string& text) {
    error_code ec;
    pidfd::process p =
        pidfd::process::open_handle(ctx.get_executor(), text, ec);
    EXPECT_FALSE(p.is_open()) << text;
    return ec;
  };
  std::string other_boot = handle;
  other_boot[13] = other_boot[13] == '0' ? '1' : '0';
  EXPECT_EQ(refused(other_boot), pidfd::error::process_gone);
  for (const std::string& bad :
      {std::string(), handle.substr(0, handle.size() - 2), // a byte short
          handle + "00", // a byte more: the kernel would take it
          handle + "\n", "pidfd-asio/2" + handle.substr(12),
          handle.substr(0, type_at) + "1 " + handle.substr(hex_at),
          handle.substr(0, hex_at) + std::string(handle.size() - hex_at, 'g'),
          handle.substr(0, hex_at) + std::string(handle.size() - hex_at, 'F')})
    EXPECT_EQ(refused(bad), pidfd::error::invalid_handle) << bad;

  // Another inode: a well-formed handle of whichever process has it, if
  // one runs (on a busy machine one often does), else gone. Never this
  // child.
  std::string next = handle;
  next[hex_at] = next[hex_at] == '0' ? '1' : '0';
  error_code ec;
  pidfd::process p = pidfd::process::open_handle(ctx.get_executor(), next, ec);
  if (p.is_open())
    EXPECT_NE(p.identity(), child.identity());
  else
    EXPECT_EQ(ec, pidfd::error::process_gone) << ec.message();
  child.signal(SIGKILL);
  child.wait();
}

TEST_F(identity_test, a_supervisor_reattaches_after_its_restart)
{
  if (fallback())
    GTEST_SKIP() << "no handles in the wait4 fallback";
  // The first supervisor spawns a worker, exports its handle and exits;
  // the worker, orphaned, comes to this process (a subreaper). A second
  // one opens the handle, stops the worker and awaits its status, as a
  // process that is not its parent.
  pidfd_options_test::subreaper_guard subreaper;
  auto out = pidfd_options_test::make_pipe();
  pidfd::process first = pidfd::spawn(ctx, pidfd_options_test::spawner,
      {"export-worker"}, {.out = pidfd::stdio::fd(out.write.get())});
  out.write = {};
  const std::string line = pidfd_options_test::read_to_eof(out.read.get());
  EXPECT_TRUE(first.wait().success());
  const std::size_t space = line.find(' ');
  ASSERT_NE(space, std::string::npos) << line;
  const pid_t worker = std::atoi(line.c_str());
  const std::string handle = line.substr(space + 1, line.size() - space - 2);

  auto result = pidfd_options_test::make_pipe();
  pidfd::process second = pidfd::spawn(ctx, pidfd_options_test::spawner,
      {"attach", handle}, {.out = pidfd::stdio::fd(result.write.get())});
  result.write = {};
  const std::string status = pidfd_options_test::read_to_eof(result.read.get());
  EXPECT_TRUE(second.wait().success());
  EXPECT_EQ(status, "killed by SIGTERM\n");
  int raw = 0;
  ASSERT_EQ(::waitpid(worker, &raw, 0), worker);
  EXPECT_TRUE(WIFSIGNALED(raw) && WTERMSIG(raw) == SIGTERM);
}

} // namespace
} // namespace pidfd_identity_test
