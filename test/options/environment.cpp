//
// test/options/environment.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// spawn_options::env: inherited, empty, changed; the PATH used to find the
// program.
//

// Test that header file is self-contained.
#include "pidfd/spawn_options.hpp"

#include "options/support.hpp"
#include "pidfd/process.hpp"
#include "pidfd/spawn.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/readable_pipe.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

extern char** environ;

namespace {

namespace asio = boost::asio;
namespace errc = boost::system::errc;
using boost::system::error_code;
using pidfd::environment;
using pidfd_options_test::env_guard;
using pidfd_options_test::read_report;
using pidfd_test::child_program;

class options_environment_test : public pidfd_test::fixture
{
protected:
  // The child's environment, in its order.
  std::vector<std::string> env_of(const pidfd::environment& env)
  {
    const std::string path = temp_path("report");
    pidfd::spawn_options options;
    options.env = env;
    pidfd::exit_status s =
        pidfd::spawn(ctx, child_program, {"report", path}, options).wait();
    EXPECT_TRUE(s.success()) << s;
    return read_report(path).env;
  }

  // Runs `program` (found through PATH) and returns its stdout.
  std::string output_of(
      const std::string& program, const pidfd::environment& env)
  {
    asio::readable_pipe out(ctx);
    pidfd::spawn_options options;
    options.out = pidfd::stdio::pipe(out);
    options.env = env;
    auto p = pidfd::spawn(ctx, program, {}, options);
    std::string text;
    asio::async_read(
        out, asio::dynamic_buffer(text), [](error_code, std::size_t) {});
    run();
    pidfd::exit_status s = p.wait();
    EXPECT_TRUE(s.success()) << s;
    return text;
  }

  // A script named `name` in a directory of its own, printing `text`.
  std::string make_script(
      const std::string& dir, const std::string& name, const std::string& text)
  {
    const std::string path = temp_path(dir);
    if (::access(path.c_str(), F_OK) != 0)
    {
      EXPECT_EQ(::mkdir(path.c_str(), 0755), 0);
    }
    pidfd_test::write_file(
        path + "/" + name, "#!/bin/sh\necho " + text + "\n", 0755);
    return path;
  }
};

std::vector<std::string> parents_environment()
{
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e)
    env.emplace_back(*e);
  return env;
}

bool contains(const std::vector<std::string>& env, const std::string& entry)
{
  return std::find(env.begin(), env.end(), entry) != env.end();
}

// The entries of env whose name is `name`.
std::vector<std::string> entries_named(
    const std::vector<std::string>& env, const std::string& name)
{
  std::vector<std::string> found;
  for (const std::string& e : env)
    if (e.compare(0, name.size() + 1, name + "=") == 0)
      found.push_back(e);
  return found;
}

TEST_F(options_environment_test, inherit_is_the_default)
{
  // The environment as it is when spawn is called, not a copy from start.
  env_guard added("PIDFD_OPTIONS_TEST_INHERITED", "yes");
  const std::vector<std::string> expected = parents_environment();
  ASSERT_TRUE(contains(expected, "PIDFD_OPTIONS_TEST_INHERITED=yes"));
  EXPECT_EQ(env_of({}), expected);
  EXPECT_EQ(env_of(environment::inherit()), expected);
}

TEST_F(options_environment_test, empty_has_no_variables)
{
  env_guard added("PIDFD_OPTIONS_TEST_INHERITED", "yes");
  EXPECT_EQ(env_of(environment::empty()), std::vector<std::string>{});
  EXPECT_EQ(env_of(environment::empty().set("ONLY", "this")),
      std::vector<std::string>{"ONLY=this"});
}

TEST_F(options_environment_test, inherited_with_changes)
{
  env_guard a("PIDFD_OPTIONS_TEST_A", "parent-a");
  env_guard b("PIDFD_OPTIONS_TEST_B", "parent-b");
  env_guard c("PIDFD_OPTIONS_TEST_C", std::nullopt);
  std::vector<std::string> env =
      env_of(environment::inherit()
                 .set("PIDFD_OPTIONS_TEST_A", "child-a")
                 .unset("PIDFD_OPTIONS_TEST_B")
                 .set("PIDFD_OPTIONS_TEST_C", "new = value")
                 .unset("PIDFD_OPTIONS_TEST_NEVER_SET"));
  EXPECT_EQ(entries_named(env, "PIDFD_OPTIONS_TEST_A"),
      std::vector<std::string>{"PIDFD_OPTIONS_TEST_A=child-a"});
  EXPECT_EQ(
      entries_named(env, "PIDFD_OPTIONS_TEST_B"), std::vector<std::string>{});
  EXPECT_EQ(entries_named(env, "PIDFD_OPTIONS_TEST_C"),
      std::vector<std::string>{"PIDFD_OPTIONS_TEST_C=new = value"});

  // Everything else is the parent's.
  std::vector<std::string> rest;
  for (const std::string& e : parents_environment())
    if (e.compare(0, 18, "PIDFD_OPTIONS_TEST") != 0)
      rest.push_back(e);
  std::vector<std::string> child_rest;
  for (const std::string& e : env)
    if (e.compare(0, 18, "PIDFD_OPTIONS_TEST") != 0)
      child_rest.push_back(e);
  EXPECT_EQ(child_rest, rest);
  // The parent's own environment is untouched.
  EXPECT_STREQ(std::getenv("PIDFD_OPTIONS_TEST_B"), "parent-b");
}

TEST_F(options_environment_test, the_last_change_of_a_name_wins)
{
  std::vector<std::string> env = env_of(environment::empty()
                                            .set("X", "1")
                                            .unset("X")
                                            .unset("Y")
                                            .set("Y", "2")
                                            .set("Z", "first")
                                            .set("Z", "last")
                                            .set("EMPTY", ""));
  std::sort(env.begin(), env.end());
  EXPECT_EQ(env, (std::vector<std::string>{"EMPTY=", "Y=2", "Z=last"}));
}

TEST_F(options_environment_test, path_set_in_the_environment_finds_the_program)
{
  const std::string dir =
      make_script("bin", "pidfd-options-script", "from-child-path");
  // Not in the parent's PATH: only the child's PATH can find it.
  env_guard path("PATH", "/usr/bin:/bin");
  EXPECT_EQ(
      output_of("pidfd-options-script", environment::empty().set("PATH", dir)),
      "from-child-path\n");
  EXPECT_EQ(output_of("pidfd-options-script",
                environment::inherit().set("PATH", "/nonexistent:" + dir)),
      "from-child-path\n");
}

TEST_F(options_environment_test, path_of_the_child_not_the_parent)
{
  // Two scripts of one name: the child's PATH decides which runs.
  const std::string parents =
      make_script("parent-bin", "pidfd-options-script", "parent");
  const std::string childs =
      make_script("child-bin", "pidfd-options-script", "child");
  env_guard path("PATH", parents + ":/usr/bin:/bin");
  EXPECT_EQ(output_of("pidfd-options-script",
                environment::inherit().set("PATH", childs)),
      "child\n");
  EXPECT_EQ(
      output_of("pidfd-options-script", environment::inherit()), "parent\n");

  // A PATH the child does not have is not searched either: without one,
  // only the default /bin:/usr/bin is.
  error_code ec;
  pidfd::spawn_options options;
  options.env = environment::inherit().unset("PATH");
  auto p = pidfd::spawn(ctx, "pidfd-options-script", {}, options, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  options.env = environment::empty();
  EXPECT_TRUE(pidfd::spawn(ctx, "true", {}, options).wait().success());
}

} // namespace
