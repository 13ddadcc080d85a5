//
// test/options/credentials.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// spawn_options::groups, gid, uid and umask. The tests run as root; a
// failing setuid is shown by a spawner running unprivileged.
//

// Test that header file is self-contained.
#include "pidfd/spawn_options.hpp"

#include "options/support.hpp"
#include "pidfd/process.hpp"
#include "pidfd/spawn.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/readable_pipe.hpp>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using pidfd_options_test::read_report;
using pidfd_options_test::report;
using pidfd_test::child_program;

constexpr gid_t nobody = 65534;

class options_credentials_test : public pidfd_test::fixture
{
protected:
  void SetUp() override
  {
    pidfd_test::fixture::SetUp();
    if (::geteuid() != 0)
      GTEST_SKIP() << "needs root to change credentials";
    // The unprivileged child must be able to write its report here.
    ASSERT_EQ(::chmod(temp_dir().c_str(), 0777), 0);
  }

  report report_with(const pidfd::spawn_options& options)
  {
    const std::string path = temp_path("report");
    pidfd::exit_status s =
        pidfd::spawn(ctx, child_program, {"report", path}, options).wait();
    EXPECT_TRUE(s.success()) << s;
    return read_report(path);
  }

  // A root parent in the supplementary groups 4242 and 4243 (the spawner,
  // started with them) drops a child to nobody: `how` is the spawner's
  // drop-to-nobody argument. Returns the child's "groups" report.
  std::string groups_after_dropping(const char* how)
  {
    const std::string path = temp_path(std::string("report-") + how);
    pidfd::spawn_options options;
    options.in = pidfd::stdio::null();
    options.groups = std::vector<gid_t>{4242, 4243};
    pidfd::exit_status s = pidfd::spawn(ctx, pidfd_options_test::spawner,
        {"drop-to-nobody", child_program, path, how}, options)
                               .wait();
    EXPECT_TRUE(s.success()) << how << ": " << s;
    report r = read_report(path);
    EXPECT_EQ(r["uid"], "65534,65534,65534") << how;
    EXPECT_EQ(r["gid"], "65534,65534,65534") << how;
    return r["groups"];
  }
};

std::string octal(mode_t mode)
{
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode));
  return text;
}

TEST_F(options_credentials_test, defaults_are_the_parents)
{
  report r = report_with({});
  EXPECT_EQ(r["uid"], "0,0,0");
  EXPECT_EQ(r["gid"], "0,0,0");
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(r["umask"], octal(mask));
}

TEST_F(options_credentials_test, groups_gid_and_uid_in_one_spawn)
{
  // Only in the order groups, gid, uid can all three succeed: once the
  // uid is dropped, the others need privilege the child no longer has.
  pidfd::spawn_options options;
  options.groups = std::vector<gid_t>{nobody, 4242};
  options.gid = nobody;
  options.uid = nobody;
  report r = report_with(options);
  EXPECT_EQ(r["uid"], "65534,65534,65534");
  EXPECT_EQ(r["gid"], "65534,65534,65534");
  EXPECT_EQ(r["groups"], "4242,65534");
}

TEST_F(options_credentials_test, each_credential_alone)
{
  pidfd::spawn_options uid_only;
  uid_only.uid = 4321;
  report r = report_with(uid_only);
  EXPECT_EQ(r["uid"], "4321,4321,4321");
  EXPECT_EQ(r["gid"], "0,0,0");
  EXPECT_EQ(r["groups"], "");

  pidfd::spawn_options gid_only;
  gid_only.gid = 4322;
  r = report_with(gid_only);
  EXPECT_EQ(r["uid"], "0,0,0");
  EXPECT_EQ(r["gid"], "4322,4322,4322");
  EXPECT_EQ(r["groups"], "");

  pidfd::spawn_options groups_only;
  groups_only.groups = std::vector<gid_t>{7, 8, 9};
  EXPECT_EQ(report_with(groups_only)["groups"], "7,8,9");
  groups_only.groups = std::vector<gid_t>{};
  EXPECT_EQ(report_with(groups_only)["groups"], "");
}

TEST_F(options_credentials_test, dropping_ids_drops_the_parents_groups)
{
  // Without `groups`, a child switched to nobody must not keep root's
  // groups: that would leave it privileges the switch meant to remove.
  EXPECT_EQ(groups_after_dropping("default"), "");
}

TEST_F(options_credentials_test, groups_given_with_dropped_ids_are_the_list)
{
  EXPECT_EQ(groups_after_dropping("7,65534"), "7,65534");
  EXPECT_EQ(groups_after_dropping(""), "");
}

TEST_F(options_credentials_test, keep_groups_keeps_the_parents_groups)
{
  EXPECT_EQ(groups_after_dropping("keep"), "4242,4243");
}

TEST_F(options_credentials_test, without_id_changes_the_groups_are_kept)
{
  // Only a uid or gid change drops them: a plain spawn (or one that sets
  // only the umask) keeps the parent's groups, as any exec does.
  pidfd::spawn_options options;
  options.umask = 022;
  gid_t own[64];
  const int n = ::getgroups(64, own);
  ASSERT_GE(n, 0);
  std::vector<gid_t> sorted(own, own + n);
  std::sort(sorted.begin(), sorted.end());
  std::string expected;
  for (gid_t g : sorted)
    expected += (expected.empty() ? "" : ",") + std::to_string(g);
  EXPECT_EQ(report_with(options)["groups"], expected);
}

TEST_F(options_credentials_test, keep_groups_with_a_list_is_an_invalid_option)
{
  pidfd::spawn_options options;
  options.uid = nobody;
  options.groups = std::vector<gid_t>{nobody};
  options.keep_groups = true;
  error_code ec;
  auto p = pidfd::spawn(ctx, child_program, {"linger"}, options, ec);
  EXPECT_EQ(ec, pidfd::error::invalid_option);
  EXPECT_FALSE(p.is_open());
  try
  {
    pidfd::spawn(ctx, child_program, {"linger"}, options);
    ADD_FAILURE() << "no exception";
  }
  catch (const boost::system::system_error& e)
  {
    EXPECT_NE(std::string(e.what()).find("keep_groups"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(pidfd_test::has_children());
}

TEST_F(options_credentials_test, umask)
{
  pidfd::spawn_options options;
  options.umask = 027;
  EXPECT_EQ(report_with(options)["umask"], "0027");
  options.umask = 0;
  EXPECT_EQ(report_with(options)["umask"], "0000");
  options.umask = 0777;
  EXPECT_EQ(report_with(options)["umask"], "0777");
}

TEST_F(options_credentials_test, a_failing_change_is_a_spawn_error_naming_it)
{
  // A spawner without privilege tries uid 0, gid 0 and groups {0}.
  asio::readable_pipe out(ctx);
  pidfd::spawn_options options;
  options.in = pidfd::stdio::null();
  options.out = pidfd::stdio::pipe(out);
  options.groups = std::vector<gid_t>{};
  options.gid = nobody;
  options.uid = nobody;
  auto p = pidfd::spawn(ctx, pidfd_options_test::spawner,
      {"try-credentials", child_program}, options);
  std::string text;
  asio::async_read(
      out, asio::dynamic_buffer(text), [](error_code, std::size_t) {});
  run();
  pidfd::exit_status s = p.wait();
  EXPECT_TRUE(s.success()) << s;

  std::vector<std::string> lines;
  for (std::size_t begin = 0; begin < text.size();)
  {
    std::size_t end = text.find('\n', begin);
    lines.push_back(text.substr(begin, end - begin));
    begin = end == std::string::npos ? text.size() : end + 1;
  }
  ASSERT_EQ(lines.size(), 5u) << text;
  const std::string eperm = std::to_string(EPERM) + " ";
  // The fourth: uid 65534 is the spawner's own, so only the implicit
  // dropping of groups needs privilege, and its message names the option.
  const char* names[] = {
      "setuid 0", "setgid 0", "setgroups", "spawn_options::groups unset"};
  for (std::size_t i = 0; i < 4; ++i)
  {
    EXPECT_EQ(lines[i].substr(0, eperm.size()), eperm) << lines[i];
    EXPECT_NE(lines[i].find(names[i]), std::string::npos) << lines[i];
  }
  EXPECT_EQ(lines[4], "ok") << "keep_groups with its own uid";
}

} // namespace
