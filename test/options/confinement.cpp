//
// test/options/confinement.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// spawn_options' confinement steps: resource limits, nice, CPU affinity,
// oom_score_adj, no_new_privs, signal dispositions and mask, and a seccomp
// filter, each seen from inside the child (/proc/self), with the errors of
// each and the order of the steps. The tests run as root; the permission
// errors come from children dropped to nobody, or from the capabilities
// root lacks on these machines (CAP_SYS_RESOURCE), checked first.
//

#include "options/support.hpp"
#include "pidfd/process.hpp"
#include "pidfd/run.hpp"
#include "pidfd/spawn.hpp"
#include "support/cgroup_fs.hpp"

#include <boost/system/system_error.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// Named, because the files of this test executable form one translation
// unit (a unity build).
namespace pidfd_confinement_test {
namespace {

using boost::system::error_code;
using part = pidfd::spawn_error_info::part;
using pidfd_options_test::make_pipe;
using pidfd_options_test::read_to_eof;

constexpr uid_t nobody = 65534;

// The line "Key:\tvalue" of a /proc status-like text: the value.
std::string field(const std::string& text, const std::string& key)
{
  const std::string start = key + ":";
  for (std::size_t pos = 0; pos < text.size();)
  {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos)
      end = text.size();
    std::string line = text.substr(pos, end - pos);
    if (line.rfind(start, 0) == 0)
    {
      std::size_t v = line.find_first_not_of(" \t", start.size());
      return v == std::string::npos ? "" : line.substr(v);
    }
    pos = end + 1;
  }
  return "<missing " + key + ">";
}

// The pieces of `text` between the separators (none after a final one).
std::vector<std::string> split(const std::string& text, char separator)
{
  std::vector<std::string> pieces;
  for (std::size_t pos = 0, end; pos < text.size(); pos = end + 1)
  {
    end = text.find(separator, pos);
    if (end == std::string::npos)
      end = text.size();
    pieces.push_back(text.substr(pos, end - pos));
  }
  return pieces;
}

// The line of /proc/PID/limits for `name`, after it, with each run of
// spaces made one: "64 128 files".
std::string limit_line(const std::string& limits, const std::string& name)
{
  std::size_t pos = limits.find(name + "  ");
  if (pos == std::string::npos)
    return "<missing " + name + ">";
  pos += name.size();
  std::string line = limits.substr(pos, limits.find('\n', pos) - pos);
  std::string out;
  for (char c : line)
    if (c != ' ' || (!out.empty() && out.back() != ' '))
      out += c;
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

// True if this process has the capability in its effective set.
bool has_capability(int cap)
{
  const std::string status = [] {
    pidfd_options_test::unique_fd fd =
        pidfd_options_test::open_file("/proc/self/status", O_RDONLY);
    return read_to_eof(fd.get());
  }();
  const std::uint64_t effective =
      std::stoull(field(status, "CapEff"), nullptr, 16);
  return (effective >> cap) & 1;
}

// The classic BPF program of a seccomp filter that fails the system calls
// `denied` with EPERM and allows everything else (and, on another
// architecture than this build's, allows all: the numbers would differ).
class deny_filter
{
public:
  explicit deny_filter(std::vector<long> denied)
  {
    auto stmt = [](std::uint16_t code, std::uint32_t k) {
      return sock_filter{code, 0, 0, k};
    };
    auto jump = [](std::uint16_t code, std::uint32_t k, std::uint8_t jt,
                    std::uint8_t jf) {
      return sock_filter{code, jt, jf, k};
    };
    code_.push_back(
        stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
    code_.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, audit_arch, 1, 0));
    code_.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    code_.push_back(
        stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
    for (long nr : denied)
    {
      code_.push_back(jump(
          BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(nr), 0, 1));
      code_.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
    }
    code_.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    program_.len = static_cast<unsigned short>(code_.size());
    program_.filter = code_.data();
  }

  const sock_fprog* get() const noexcept { return &program_; }

private:
#if defined(__x86_64__)
  static constexpr std::uint32_t audit_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  static constexpr std::uint32_t audit_arch = AUDIT_ARCH_AARCH64;
#else
#error "deny_filter: add this architecture's AUDIT_ARCH"
#endif
  std::vector<sock_filter> code_;
  sock_fprog program_{};
};

// mkdir(1) calls mkdir on x86_64 and mkdirat elsewhere.
std::vector<long> mkdir_calls()
{
#ifdef SYS_mkdir
  return {SYS_mkdir, SYS_mkdirat};
#else
  return {SYS_mkdirat};
#endif
}

class options_confinement_test : public pidfd_test::fixture
{
protected:
  void SetUp() override
  {
    pidfd_test::fixture::SetUp();
    if (::geteuid() != 0)
      GTEST_SKIP() << "needs root (credentials, capabilities)";
  }

  // What `program args` prints in a child spawned with `options` (stdout
  // replaced by a pipe); expects it to succeed.
  std::string output_of(pidfd::spawn_options options,
      const std::string& program, const pidfd::argument_list& args)
  {
    auto pipe = make_pipe();
    options.out = pidfd::stdio::fd(pipe.write.get());
    auto child = pidfd::spawn(ctx, program, args, options);
    pipe.write = {};
    std::string text = read_to_eof(pipe.read.get());
    pidfd::exit_status s = child.wait();
    EXPECT_TRUE(s.success()) << program << ": " << s;
    return text;
  }

  std::string cat_in_child(
      const pidfd::spawn_options& options, const std::string& file)
  {
    return output_of(options, "cat", {file});
  }

  // async_run to its end; expects no error.
  pidfd::run_result run_to_end(const std::string& program,
      const pidfd::argument_list& args, pidfd::run_options options)
  {
    std::optional<pidfd::run_result> result;
    pidfd::async_run(ctx, program, args, std::move(options),
        [&](error_code ec, pidfd::run_result r) {
          EXPECT_FALSE(ec) << ec.message();
          result = std::move(r);
        });
    run();
    EXPECT_TRUE(result);
    return result ? std::move(*result) : pidfd::run_result{};
  }

  // A spawn that must fail: its error and what spawn_error_info says.
  struct failure
  {
    error_code ec;
    pidfd::spawn_error_info info;
  };
  failure spawn_failing(const pidfd::spawn_options& options)
  {
    failure f;
    auto child = pidfd::spawn(ctx, "true", {}, options, f.ec, f.info);
    EXPECT_FALSE(child.is_open());
    return f;
  }
};

TEST_F(options_confinement_test, resource_limits_are_the_childs)
{
  pidfd::spawn_options options;
  options.limits = {{RLIMIT_NOFILE, 64, 128}, {RLIMIT_CORE, 0, 0},
      {RLIMIT_CPU, 30, RLIM_INFINITY}};
  const std::string limits = cat_in_child(options, "/proc/self/limits");
  EXPECT_EQ(limit_line(limits, "Max open files"), "64 128 files");
  EXPECT_EQ(limit_line(limits, "Max core file size"), "0 0 bytes");
  EXPECT_EQ(limit_line(limits, "Max cpu time"), "30 unlimited seconds");
}

TEST_F(options_confinement_test, values_out_of_range_fail_before_a_child_starts)
{
  struct bad
  {
    pidfd::spawn_options options;
    part failed;
    std::string detail;
  };
  std::vector<bad> cases;
  cases.push_back({{.limits = {{RLIMIT_NOFILE, 10, 5}}}, part::resource_limits,
      "rlimit NOFILE 10/5: soft above hard"});
  cases.push_back({{.limits = {{99, 1, 1}}}, part::resource_limits,
      "rlimit 99 1/1: no such resource"});
  cases.push_back({{.nice = 20}, part::scheduling, "nice 20: outside -20..19"});
  cases.push_back(
      {{.cpus = {0, -1}}, part::scheduling, "cpus 0,-1: no CPU -1"});
  cases.push_back({{.oom_score_adj = -1001}, part::scheduling,
      "oom_score_adj -1001: outside -1000..1000"});
  cases.push_back({{.default_signals = {SIGKILL}}, part::signals,
      "default_signals: signal 9: its action cannot change"});
  cases.push_back({{.blocked_signals = std::vector<int>{0}}, part::signals,
      "blocked_signals: signal 0: no such signal"});
  cases.push_back({{.hostname = "box"}, part::namespaces,
      "hostname \"box\": needs a new UTS namespace (new_namespaces.uts)"});
  cases.push_back({{.root_directory = ""}, part::root_directory,
      "root directory: empty or NUL byte"});
  cases.push_back({{.ambient_capabilities = {64}}, part::capabilities,
      "ambient_capabilities: capability 64: no such capability"});
  cases.push_back({{.join_process_group = 0}, part::process_group,
      "join_process_group 0: not a process group id"});
  cases.push_back({{.process_group = pidfd::process_group_mode::new_group,
                       .join_process_group = 1},
      part::process_group,
      "join_process_group 1: with a group or session of the child's own"});
  cases.push_back({{.controlling_terminal = 7}, part::terminal,
      "controlling_terminal 7: not one of the child's fds"});
  cases.push_back({{.foreground_terminal = 0}, part::terminal,
      "foreground_terminal 0: needs a group other than the parent's "
      "(new_group, or join_process_group)"});
  cases.push_back(
      {{.controlling_terminal = 0, .detach_terminal = true}, part::terminal,
          "controlling_terminal and detach_terminal: both asked for"});
  cases.push_back({{.process_group = pidfd::process_group_mode::new_group,
                       .controlling_terminal = 0,
                       .foreground_terminal = 0},
      part::terminal,
      "foreground_terminal 0: with a session of the child's own"});
  cases.push_back({{.process_group = pidfd::process_group_mode::new_group,
                       .foreground_terminal = 0,
                       .detach_terminal = true},
      part::terminal,
      "foreground_terminal and detach_terminal: both asked for"});
  cases.push_back({{.process_group = pidfd::process_group_mode::new_session,
                       .detach_terminal = true},
      part::terminal, "detach_terminal: with a session of the child's own"});
  sock_fprog empty{};
  cases.push_back(
      {{.seccomp_filter = &empty}, part::seccomp, "seccomp: an empty filter"});
  for (const bad& c : cases)
  {
    failure f = spawn_failing(c.options);
    EXPECT_EQ(f.ec, pidfd::error::invalid_option) << c.detail;
    EXPECT_EQ(f.info.failed, c.failed) << c.detail;
    EXPECT_EQ(f.info.detail, c.detail);
  }
  // The exception's words.
  try
  {
    pidfd::spawn(ctx, "true", {}, {.limits = {{RLIMIT_NOFILE, 10, 5}}});
    ADD_FAILURE() << "no exception";
  }
  catch (const boost::system::system_error& e)
  {
    EXPECT_EQ(std::string(e.what()).rfind(
                  "spawn \"true\": rlimit NOFILE 10/5: soft above hard", 0),
        0u)
        << e.what();
  }
}

TEST_F(options_confinement_test, raising_a_hard_limit_needs_cap_sys_resource)
{
  if (has_capability(CAP_SYS_RESOURCE))
    GTEST_SKIP() << "root has CAP_SYS_RESOURCE here";
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  ASSERT_NE(now.rlim_max, RLIM_INFINITY);
  pidfd::spawn_options options;
  options.limits = {{RLIMIT_NOFILE, now.rlim_cur, now.rlim_max + 1}};
  failure f = spawn_failing(options);
  EXPECT_EQ(f.ec, boost::system::errc::operation_not_permitted);
  EXPECT_EQ(f.info.failed, part::resource_limits);
  EXPECT_EQ(f.info.detail,
      "rlimit NOFILE " + std::to_string(now.rlim_cur) + "/"
          + std::to_string(now.rlim_max + 1)
          + " (raising a hard limit needs CAP_SYS_RESOURCE)");
}

TEST_F(options_confinement_test, nice_cpus_and_oom_score_adj)
{
  pidfd::spawn_options options;
  options.nice = 7;
  options.cpus = {0};
  options.oom_score_adj = 500;
  // Field 19 of /proc/PID/stat is the nice value; the command name (2) is
  // "(cat)", without spaces.
  const std::string stat = cat_in_child(options, "/proc/self/stat");
  const std::vector<std::string> fields = split(stat, ' ');
  ASSERT_GT(fields.size(), 18u) << stat;
  EXPECT_EQ(fields[18], "7") << stat;
  EXPECT_EQ(
      field(cat_in_child(options, "/proc/self/status"), "Cpus_allowed_list"),
      "0");
  EXPECT_EQ(cat_in_child(options, "/proc/self/oom_score_adj"), "500\n");
}

TEST_F(options_confinement_test, lowering_oom_score_adj_needs_cap_sys_resource)
{
  if (has_capability(CAP_SYS_RESOURCE))
    GTEST_SKIP() << "root has CAP_SYS_RESOURCE here";
  failure f = spawn_failing({.oom_score_adj = -500});
  EXPECT_EQ(f.ec, boost::system::errc::permission_denied);
  EXPECT_EQ(f.info.failed, part::scheduling);
  EXPECT_EQ(
      f.info.detail, "oom_score_adj -500 (lowering it needs CAP_SYS_RESOURCE)");
}

TEST_F(options_confinement_test, no_new_privs_and_signal_state)
{
  // A server that ignores SIGPIPE and blocks SIGUSR2, as many do.
  pidfd_test::disposition_guard ignore_pipe(SIGPIPE, SIG_IGN);
  sigset_t usr2, old;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &usr2, &old), 0);
  const std::uint64_t pipe_bit = 1ull << (SIGPIPE - 1);
  const std::uint64_t usr1_bit = 1ull << (SIGUSR1 - 1);
  const std::uint64_t usr2_bit = 1ull << (SIGUSR2 - 1);
  auto mask = [](const std::string& status, const char* key) {
    return std::stoull(field(status, key), nullptr, 16);
  };

  // The defaults: ignored stays ignored, the mask is the spawning thread's.
  std::string status = cat_in_child({}, "/proc/self/status");
  EXPECT_EQ(field(status, "NoNewPrivs"), "0");
  EXPECT_TRUE(mask(status, "SigIgn") & pipe_bit);
  EXPECT_TRUE(mask(status, "SigBlk") & usr2_bit);

  status = cat_in_child({.no_new_privs = true,
                            .default_signals = {SIGPIPE},
                            .blocked_signals = std::vector<int>{SIGUSR1}},
      "/proc/self/status");
  EXPECT_EQ(field(status, "NoNewPrivs"), "1");
  EXPECT_FALSE(mask(status, "SigIgn") & pipe_bit);
  EXPECT_EQ(mask(status, "SigBlk"), usr1_bit);

  pidfd_test::disposition_guard ignore_usr1(SIGUSR1, SIG_IGN);
  status = cat_in_child(
      {.default_all_signals = true, .blocked_signals = std::vector<int>{}},
      "/proc/self/status");
  EXPECT_EQ(mask(status, "SigIgn"), 0u);
  EXPECT_EQ(mask(status, "SigBlk"), 0u);
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, &old, nullptr), 0);
}

TEST_F(options_confinement_test, a_seccomp_filter_denies_what_it_names_only)
{
  deny_filter no_mkdir(mkdir_calls());
  const std::string dir = temp_path("made");
  pidfd::spawn_options options;
  options.no_new_privs = true;
  options.seccomp_filter = no_mkdir.get();
  options.err = pidfd::stdio::null();
  pidfd::exit_status s = pidfd::spawn(ctx, "mkdir", {dir}, options).wait();
  EXPECT_FALSE(s.success()) << s;
  struct stat st
  {
  };
  EXPECT_NE(::stat(dir.c_str(), &st), 0);
  // The rest works, under the filter.
  const std::string status = cat_in_child(options, "/proc/self/status");
  EXPECT_EQ(field(status, "Seccomp"), "2");
  EXPECT_EQ(field(status, "NoNewPrivs"), "1");
}

TEST_F(options_confinement_test, the_filter_comes_after_the_librarys_own_steps)
{
  // A filter that denies setresuid and setgroups does not stop the
  // library's own: it is installed after the credentials.
  deny_filter no_credentials({SYS_setresuid, SYS_setresgid, SYS_setgroups});
  const std::string status =
      cat_in_child({.gid = nobody,
                       .uid = nobody,
                       .no_new_privs = true,
                       .seccomp_filter = no_credentials.get()},
          "/proc/self/status");
  EXPECT_EQ(field(status, "Uid"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(field(status, "Gid"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(field(status, "Seccomp"), "2");
}

TEST_F(options_confinement_test, a_filter_without_no_new_privs_needs_privilege)
{
  // Dropped to nobody, the child has no CAP_SYS_ADMIN left.
  deny_filter no_mkdir(mkdir_calls());
  failure f = spawn_failing(
      {.gid = nobody, .uid = nobody, .seccomp_filter = no_mkdir.get()});
  EXPECT_EQ(f.ec, boost::system::errc::permission_denied);
  EXPECT_EQ(f.info.failed, part::seccomp);
  EXPECT_EQ(
      f.info.detail, "seccomp (no_new_privs not set and no CAP_SYS_ADMIN)");
}

// ---- namespaces and the root directory -------------------------------------

// The namespace links of this process, "net:[4026531840]" and so on.
std::string own_namespace(const char* name)
{
  char target[64] = {};
  const std::string link = std::string("/proc/self/ns/") + name;
  const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
  return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "";
}

TEST_F(options_confinement_test, new_namespaces_and_a_hostname)
{
  pidfd::spawn_options options;
  options.new_namespaces = {.pid = true,
      .mount = true,
      .network = true,
      .uts = true,
      .ipc = true,
      .cgroup = true};
  options.hostname = "sandbox";
  const char* names[] = {"pid", "mnt", "net", "uts", "ipc", "cgroup"};
  std::string script = "for n in";
  for (const char* n : names)
    script += std::string(" ") + n;
  script += "; do readlink /proc/self/ns/$n; done; "
            "cat /proc/sys/kernel/hostname; cat /proc/net/dev";
  const std::string text = output_of(options, "sh", {"-c", script});
  const std::vector<std::string> lines = split(text, '\n');
  ASSERT_GE(lines.size(), std::size(names) + 1) << text;
  for (std::size_t i = 0; i < std::size(names); ++i)
  {
    EXPECT_EQ(lines[i].rfind(std::string(names[i]) + ":[", 0), 0u) << text;
    EXPECT_NE(lines[i], own_namespace(names[i])) << names[i];
  }
  EXPECT_EQ(lines[std::size(names)], "sandbox");
  // /proc/net/dev: two header lines, then the namespace's only device.
  ASSERT_EQ(lines.size(), std::size(names) + 4) << text;
  EXPECT_EQ(lines.back().find("lo:") != std::string::npos, true) << text;

  // The child itself is PID 1 of its namespace (NSpid: ours, then its).
  const std::string status =
      cat_in_child({.new_namespaces = {.pid = true}}, "/proc/self/status");
  const std::string nspid = field(status, "NSpid");
  EXPECT_EQ(nspid.substr(nspid.rfind('\t') + 1), "1") << nspid;
}

TEST_F(options_confinement_test, a_parent_death_signal_in_a_new_pid_namespace)
{
  // There getppid() is 0 while the parent lives: the child must not take
  // that for its parent's death and signal itself.
  pidfd::exit_status s = pidfd::spawn(ctx, "true", {},
      {.parent_death_signal = SIGKILL,
          .new_namespaces = {
              .pid = true}}).wait();
  EXPECT_TRUE(s.success()) << s;
}

TEST_F(options_confinement_test, mounts_in_a_new_mount_namespace_stay_there)
{
  // A shared mount: without the library's private propagation, a mount
  // the child makes under it would appear here too.
  const std::string shared = temp_path("shared");
  ASSERT_EQ(::mkdir(shared.c_str(), 0755), 0);
  ASSERT_EQ(
      ::mount(shared.c_str(), shared.c_str(), nullptr, MS_BIND, nullptr), 0);
  struct unmount_at_end
  {
    const std::string& path;
    ~unmount_at_end() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{shared};
  ASSERT_EQ(::mount(nullptr, shared.c_str(), nullptr, MS_SHARED, nullptr), 0);
  const std::string inner = shared + "/inner";
  ASSERT_EQ(::mkdir(inner.c_str(), 0755), 0);
  const std::string entry = " " + inner + " ";
  const std::string script = "mount -t tmpfs pidfd-test " + inner
      + " && grep -c '" + entry + "' /proc/self/mountinfo";
  EXPECT_EQ(
      output_of({.new_namespaces = {.mount = true}}, "sh", {"-c", script}),
      "1\n");
  pidfd_options_test::unique_fd fd =
      pidfd_options_test::open_file("/proc/self/mountinfo", O_RDONLY);
  EXPECT_EQ(read_to_eof(fd.get()).find(entry), std::string::npos);
}

TEST_F(options_confinement_test, new_namespaces_need_cap_sys_admin)
{
  // The spawner, as nobody, asks for a network namespace.
  auto pipe = make_pipe();
  pidfd::spawn_options options;
  options.out = pidfd::stdio::fd(pipe.write.get());
  options.groups = std::vector<gid_t>{};
  options.gid = nobody;
  options.uid = nobody;
  auto p = pidfd::spawn(ctx, pidfd_options_test::spawner,
      {"try-namespaces", pidfd_test::child_program}, options);
  pipe.write = {};
  const std::string text = read_to_eof(pipe.read.get());
  EXPECT_TRUE(p.wait().success());
  EXPECT_EQ(text,
      std::to_string(EPERM) + " "
          + std::to_string(static_cast<int>(part::namespaces))
          + " new namespaces network (needs CAP_SYS_ADMIN)\n");
}

// The lines of a map file, with the kernel's padding squeezed to one
// space: "0 100000 65536".
std::vector<std::string> map_lines(const std::string& text)
{
  std::vector<std::string> lines;
  for (const std::string& line : split(text, '\n'))
  {
    std::string squeezed;
    for (char c : line)
      if (c != ' ' && c != '\t')
        squeezed += c;
      else if (!squeezed.empty() && squeezed.back() != ' ')
        squeezed += ' ';
    lines.push_back(squeezed);
  }
  return lines;
}

TEST_F(options_confinement_test, a_new_user_namespace_with_its_maps)
{
  // Root in the namespace is uid and gid 100000 outside: a file it makes
  // in a directory anyone may write to is 100000's here.
  ASSERT_EQ(::chmod(temp_dir().c_str(), 0711), 0);
  const std::string dir = temp_path("shared");
  ASSERT_EQ(::mkdir(dir.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  const pidfd::spawn_options options{.gid = 0,
      .uid = 0,
      .new_namespaces = {.user = true,
          .pid = true,
          .mount = true,
          .uts = true,
          .uid_map = {{0, 100000, 65536}},
          .gid_map = {{0, 100000, 1000}, {1000, 200000, 10}}},
      .hostname = "inside"};
  const std::string script =
      "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; "
      "id -u; id -G; readlink /proc/self/ns/user; hostname; "
      "grep CapEff /proc/self/status; touch "
      + dir + "/made";
  const std::vector<std::string> lines =
      map_lines(output_of(options, "sh", {"-c", script}));
  ASSERT_EQ(lines.size(), 9u);
  EXPECT_EQ(lines[0], "0 100000 65536");
  EXPECT_EQ(lines[1], "0 100000 1000");
  EXPECT_EQ(lines[2], "1000 200000 10");
  // uid and gid set: the child dropped its supplementary groups, which
  // needs setgroups allowed.
  EXPECT_EQ(lines[3], "allow");
  EXPECT_EQ(lines[4], "0");
  EXPECT_EQ(lines[5], "0");
  EXPECT_NE(lines[6], own_namespace("user"));
  EXPECT_EQ(lines[7], "inside");
  // Root in its namespace runs its program with every capability there.
  EXPECT_EQ(lines[8], "CapEff: 000001ffffffffff");
  struct stat st
  {
  };
  ASSERT_EQ(::stat((dir + "/made").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 100000u);
  EXPECT_EQ(st.st_gid, 100000u);
  ::unlink((dir + "/made").c_str());
}

TEST_F(options_confinement_test, a_user_namespace_without_maps)
{
  // The overflow ids, no capability left for the program, and setgroups
  // denied: the child does not call it.
  const std::vector<std::string> lines =
      map_lines(output_of({.new_namespaces = {.user = true}}, "sh",
          {"-c",
              "id -u; cat /proc/self/setgroups; grep CapEff "
              "/proc/self/status"}));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "65534");
  EXPECT_EQ(lines[1], "deny");
  EXPECT_EQ(lines[2], "CapEff: 0000000000000000");
}

TEST_F(options_confinement_test, user_namespace_errors)
{
  using pidfd::id_mapping;
  auto detail_of = [&](const pidfd::spawn_options& options) {
    failure f = spawn_failing(options);
    EXPECT_EQ(f.info.failed, part::namespaces) << f.info.detail;
    EXPECT_EQ(f.ec, pidfd::error::invalid_option) << f.ec.message();
    return f.info.detail;
  };
  EXPECT_EQ(detail_of({.new_namespaces = {.uid_map = {{0, 0, 1}}}}),
      "uid_map: needs a new user namespace (new_namespaces.user)");
  EXPECT_EQ(
      detail_of({.new_namespaces = {.user = true, .gid_map = {{0, 1000, 0}}}}),
      "gid_map \"0 1000 0\": a count of 0");
  EXPECT_EQ(detail_of({.new_namespaces = {.user = true,
                           .uid_map = {{4294967295u, 0, 1}}}}),
      "uid_map \"4294967295 0 1\": past the last id");
  EXPECT_EQ(detail_of({.new_namespaces = {.user = true,
                           .uid_map = std::vector<id_mapping>(341)}}),
      "uid_map: 341 lines, at most 340");

  // The kernel's refusals, after the clone: nothing is left behind.
  failure overlap =
      spawn_failing({.new_namespaces = {.user = true,
                         .uid_map = {{0, 100000, 10}, {5, 200000, 10}}}});
  EXPECT_EQ(overlap.ec, std::errc::invalid_argument);
  EXPECT_EQ(overlap.info.failed, part::namespaces);
  EXPECT_EQ(overlap.info.detail,
      "uid_map \"0 100000 10, 5 200000 10\" (overlapping lines)");
  failure unmapped = spawn_failing({.uid = 5,
      .keep_groups = true,
      .new_namespaces = {.user = true, .uid_map = {{0, 100000, 1}}}});
  EXPECT_EQ(unmapped.ec, std::errc::invalid_argument);
  EXPECT_EQ(unmapped.info.failed, part::credentials);
  EXPECT_EQ(unmapped.info.detail,
      "setuid 5 (not in the new user namespace's uid_map)");
}

TEST_F(options_confinement_test, a_forked_childs_failures_reach_the_parent)
{
  // A child in a new user namespace has its own copy of the plan: its
  // failures come through the report pipe, whatever step they are in.
  const pidfd::namespace_options user{
      .user = true, .uid_map = {{0, 100000, 1}}, .gid_map = {{0, 100000, 1}}};
  error_code ec;
  pidfd::spawn_error_info info;
  auto p = pidfd::spawn(
      ctx, "no-such-program-here", {}, {.new_namespaces = user}, ec, info);
  EXPECT_FALSE(p.is_open());
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
  EXPECT_EQ(info.failed, part::program);

  pidfd::spawn_options bad_file{
      .in = pidfd::stdio::file(temp_path("missing")), .new_namespaces = user};
  failure file = spawn_failing(bad_file);
  EXPECT_EQ(file.ec, std::errc::no_such_file_or_directory);
  EXPECT_EQ(file.info.failed, part::stdio);
  EXPECT_EQ(file.info.child_fd, 0);

  failure directory = spawn_failing(
      {.working_directory = temp_path("missing"), .new_namespaces = user});
  EXPECT_EQ(directory.ec, std::errc::no_such_file_or_directory);
  EXPECT_EQ(directory.info.failed, part::working_directory);

  // With fds moved around the report pipe (stdout on fd 3 of the parent).
  pidfd::spawn_options moved{.new_namespaces = user, .no_new_privs = true};
  moved.inherit_fd(3, 0).inherit_fd(4, 1).inherit_fd(5, 2);
  moved.limits = {{RLIMIT_NOFILE, 8, 8}};
  moved.hostname = "x"; // no UTS namespace: refused before the clone
  failure refused = spawn_failing(moved);
  EXPECT_EQ(refused.info.failed, part::namespaces);
  moved.hostname.reset();
  moved.oom_score_adj = -1000; // lowering it: refused in the child
  failure late = spawn_failing(moved);
  EXPECT_EQ(late.ec, std::errc::permission_denied) << late.ec.message();
  EXPECT_EQ(late.info.failed, part::scheduling);
}

TEST_F(options_confinement_test, an_unprivileged_spawner_maps_its_own_ids)
{
  // The spawner drops itself to nobody, so that it is not dumpable.
  auto pipe = make_pipe();
  auto p = pidfd::spawn(ctx, pidfd_options_test::spawner, {"user-namespace"},
      {.out = pidfd::stdio::fd(pipe.write.get())});
  pipe.write = {};
  const std::vector<std::string> lines =
      map_lines(read_to_eof(pipe.read.get()));
  EXPECT_TRUE(p.wait().success());
  const std::string namespaces =
      std::to_string(static_cast<int>(part::namespaces));
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0], "dumpable 0");
  EXPECT_EQ(lines[1], "0");
  EXPECT_EQ(lines[2], "0");
  EXPECT_EQ(lines[3], "0 65534 1");
  EXPECT_EQ(lines[4], "ok");
  EXPECT_EQ(lines[5],
      std::to_string(EPERM) + " " + namespaces
          + " uid_map \"0 0 1\" (without CAP_SETUID only the spawner's own "
            "uid may be mapped, as one id)");
  EXPECT_EQ(lines[6],
      std::to_string(EPERM) + " " + namespaces
          + " gid_map \"0 65534 1\" (the child is to call setgroups, for "
            "groups or for uid or gid without keep_groups, which only a "
            "spawner with CAP_SETGID may allow)");
}

TEST_F(options_confinement_test,
    a_root_directory_with_the_working_directory_inside)
{
  // The static test child, alone in a new root.
  const std::string root = temp_path("root");
  ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((root + "/sub").c_str(), 0755), 0);
  std::filesystem::copy_file(pidfd_test::child_program, root + "/child");

  // print-args writes its argv to a file: by a path relative to the
  // working directory, and by an absolute one, both inside the new root.
  auto args_written = [&](const std::string& file) {
    pidfd_options_test::unique_fd fd =
        pidfd_options_test::open_file(root + file, O_RDONLY);
    return read_to_eof(fd.get());
  };
  pidfd::spawn_options options;
  options.root_directory = root;
  EXPECT_TRUE(pidfd::spawn(ctx, "/child", {"print-args", "in-cwd"}, options)
                  .wait()
                  .success());
  EXPECT_EQ(args_written("/in-cwd"), "/child\nprint-args\nin-cwd\n");
  EXPECT_TRUE(
      pidfd::spawn(ctx, "/child", {"print-args", "/sub/absolute"}, options)
          .wait()
          .success());
  EXPECT_EQ(
      args_written("/sub/absolute"), "/child\nprint-args\n/sub/absolute\n");

  options.working_directory = "/sub";
  EXPECT_TRUE(pidfd::spawn(ctx, "/child", {"print-args", "in-sub"}, options)
                  .wait()
                  .success());
  EXPECT_EQ(args_written("/sub/in-sub"), "/child\nprint-args\nin-sub\n");

  options.working_directory.reset();
  options.root_directory = temp_path("missing");
  failure f = spawn_failing(options);
  EXPECT_EQ(f.ec, boost::system::errc::no_such_file_or_directory);
  EXPECT_EQ(f.info.failed, part::root_directory);
  EXPECT_EQ(f.info.detail, "root directory \"" + temp_path("missing") + "\"");
}

// ---- capabilities ----------------------------------------------------------

// Binds port 80 on every address of the child's own network namespace,
// where nothing else can hold it: exit 0 on success, 1 if refused.
const pidfd::argument_list bind_port_80 = {"-MSocket", "-e",
    "socket(S, PF_INET, SOCK_STREAM, 0) or exit 2; "
    "bind(S, sockaddr_in(80, INADDR_ANY)) or exit 1"};

TEST_F(options_confinement_test, an_ambient_capability_for_an_unprivileged_uid)
{
  pidfd::spawn_options options;
  options.new_namespaces.network = true;
  options.gid = nobody;
  options.uid = nobody;
  pidfd::exit_status s =
      pidfd::spawn(ctx, "perl", bind_port_80, options).wait();
  EXPECT_TRUE(s.exited() && s.code() == 1) << "without it: " << s;

  options.ambient_capabilities = {CAP_NET_BIND_SERVICE};
  s = pidfd::spawn(ctx, "perl", bind_port_80, options).wait();
  EXPECT_TRUE(s.success()) << "with it: " << s;

  const std::string status = cat_in_child(options, "/proc/self/status");
  const std::string bit = "0000000000000400"; // 1 << CAP_NET_BIND_SERVICE
  EXPECT_EQ(field(status, "CapAmb"), bit);
  EXPECT_EQ(field(status, "CapPrm"), bit);
  EXPECT_EQ(field(status, "CapEff"), bit);
  EXPECT_EQ(field(status, "Uid"), "65534\t65534\t65534\t65534");
}

TEST_F(options_confinement_test, the_bounding_set_loses_what_is_dropped)
{
  const std::string status =
      cat_in_child({.drop_bounding_capabilities = {CAP_SYS_ADMIN, CAP_NET_RAW}},
          "/proc/self/status");
  const std::uint64_t bounding =
      std::stoull(field(status, "CapBnd"), nullptr, 16);
  EXPECT_FALSE(bounding & (1ull << CAP_SYS_ADMIN));
  EXPECT_FALSE(bounding & (1ull << CAP_NET_RAW));
  EXPECT_TRUE(bounding & (1ull << CAP_NET_BIND_SERVICE));
}

TEST_F(options_confinement_test, an_ambient_capability_the_parent_lacks)
{
  if (has_capability(CAP_SYS_RESOURCE))
    GTEST_SKIP() << "root has CAP_SYS_RESOURCE here";
  failure f = spawn_failing({.gid = nobody,
      .uid = nobody,
      .ambient_capabilities = {CAP_SYS_RESOURCE}});
  EXPECT_EQ(f.ec, boost::system::errc::operation_not_permitted);
  EXPECT_EQ(f.info.failed, part::capabilities);
  EXPECT_EQ(f.info.detail,
      "ambient_capabilities: keeping them through the credentials (the "
      "parent lacks one of them)");
}

// ---- exec by fd ------------------------------------------------------------

TEST_F(options_confinement_test, a_program_run_by_its_fd)
{
  // The static test child, copied into a sealed memfd: no path names it.
  pidfd_options_test::unique_fd memfd(
      ::memfd_create("child", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_GE(memfd.get(), 0);
  {
    pidfd_options_test::unique_fd file =
        pidfd_options_test::open_file(pidfd_test::child_program, O_RDONLY);
    pidfd_options_test::write_all(memfd.get(), read_to_eof(file.get()));
  }
  ASSERT_EQ(::fcntl(memfd.get(), F_ADD_SEALS,
                F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL),
      0);
  const int fd = memfd.get();

  const std::string args = temp_path("args");
  EXPECT_TRUE(
      pidfd::spawn(ctx, "judge-me", {"print-args", args}, {.executable_fd = fd})
          .wait()
          .success());
  pidfd_options_test::unique_fd written =
      pidfd_options_test::open_file(args, O_RDONLY);
  EXPECT_EQ(read_to_eof(written.get()), "judge-me\nprint-args\n" + args + "\n");

  // The program does not inherit the fd.
  EXPECT_EQ(pidfd::spawn(ctx, "judge-me", {"count-fds"}, {.executable_fd = fd})
                .wait()
                .code(),
      0);

  // In an empty root, where nothing could be named (and no /proc is
  // needed for oom_score_adj).
  const std::string root = temp_path("empty-root");
  ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
  EXPECT_EQ(pidfd::spawn(ctx, "judge-me", {"exit", "3"},
                {.executable_fd = fd,
                    .root_directory = root,
                    .limits = {{RLIMIT_NOFILE, 16, 16}},
                    .nice = 1,
                    .oom_score_adj = 100})
                .wait()
                .code(),
      3);
}

TEST_F(options_confinement_test, an_executable_fd_that_cannot_run)
{
  pidfd_options_test::unique_fd null =
      pidfd_options_test::open_file("/dev/null", O_RDONLY);
  failure f = spawn_failing({.executable_fd = null.get()});
  EXPECT_EQ(f.ec, boost::system::errc::permission_denied);
  EXPECT_EQ(f.info.failed, part::program);
  EXPECT_EQ(f.info.detail, "executable fd " + std::to_string(null.get()));

  const int closed = null.release();
  ASSERT_EQ(::close(closed), 0);
  f = spawn_failing({.executable_fd = closed});
  EXPECT_EQ(f.ec, boost::system::errc::bad_file_descriptor);
  EXPECT_EQ(
      f.info.detail, "executable fd " + std::to_string(closed) + ": not open");
}

// ---- with the rest: async_run, a cgroup, a pty -----------------------------

TEST_F(options_confinement_test, async_run_of_a_confined_child_in_a_cgroup)
{
  const std::optional<std::string> mount = pidfd_test::cgroup2_mount();
  if (!mount)
    GTEST_SKIP() << "no cgroup2 mount in /proc/self/mountinfo";
  const std::string parent_name = "pidfd-confine-" + std::to_string(::getpid());
  const std::string parent = *mount + "/" + parent_name;
  ASSERT_EQ(::mkdir(parent.c_str(), 0755), 0) << parent << ": " << errno;

  deny_filter no_mkdir(mkdir_calls());
  pidfd::run_options options;
  options.spawn.gid = nobody;
  options.spawn.uid = nobody;
  options.spawn.new_namespaces = {.user = true,
      .pid = true,
      .mount = true,
      .network = true,
      .uid_map = {{0, 0, 65536}},
      .gid_map = {{0, 0, 65536}}};
  options.spawn.limits = {{RLIMIT_NOFILE, 32, 32}};
  options.spawn.no_new_privs = true;
  options.spawn.default_signals = {SIGPIPE};
  options.spawn.seccomp_filter = no_mkdir.get();
  options.spawn.cgroup = pidfd::cgroup_placement::create_in(parent_name);
  options.input = "hello\n";
  options.timeout = std::chrono::seconds(30);
  const pidfd::run_result result = run_to_end("sh",
      {"-c",
          "cat; id -u; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; "
          "mkdir /tmp/confined 2>/dev/null || echo refused"},
      std::move(options));
  EXPECT_TRUE(result.status.success()) << result.status;
  EXPECT_EQ(result.out, "hello\n65534\nNoNewPrivs:\t1\nSeccomp:\t2\nrefused\n");
  // The run's cgroup is gone with the run.
  EXPECT_TRUE(pidfd_test::subdirectories(parent).empty());
  EXPECT_EQ(::rmdir(parent.c_str()), 0) << errno;
}

TEST_F(options_confinement_test, async_run_of_a_confined_child_on_a_pty)
{
  pidfd::run_options options;
  options.on_pty = true;
  options.spawn.gid = nobody;
  options.spawn.uid = nobody;
  options.spawn.new_namespaces = {.user = true,
      .pid = true,
      .uid_map = {{0, 0, 65536}},
      .gid_map = {{0, 0, 65536}}};
  options.spawn.no_new_privs = true;
  options.timeout = std::chrono::seconds(30);
  const pidfd::run_result result = run_to_end("sh",
      {"-c", "test -t 0 && echo on-a-tty; grep NoNewPrivs /proc/self/status"},
      std::move(options));
  EXPECT_TRUE(result.status.success()) << result.status;
  EXPECT_EQ(result.out, "on-a-tty\r\nNoNewPrivs:\t1\r\n");
}

TEST_F(options_confinement_test, async_terminate_of_pid_1_of_a_namespace)
{
  // As PID 1 the child ignores the SIGTERM it has no handler for; the
  // SIGKILL after the grace ends it, and a signal() meanwhile is accepted.
  auto child = pidfd::spawn(
      ctx, "sleep", {"30"}, {.new_namespaces = {.pid = true, .mount = true}});
  std::optional<pidfd::exit_status> status;
  child.async_terminate(
      std::chrono::milliseconds(50), [&](error_code ec, pidfd::exit_status s) {
        EXPECT_FALSE(ec) << ec.message();
        status = s;
      });
  error_code ec;
  child.signal(SIGTERM, ec);
  EXPECT_FALSE(ec) << ec.message();
  run();
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->signaled() && status->signal() == SIGKILL) << *status;
}

TEST_F(options_confinement_test, confined_children_in_a_loop_several_at_once)
{
  // 200 children, 8 at a time, each with its own namespaces, limits, a
  // filter and its program by fd, every other round in a user namespace
  // too (the forked spawn): the fixture then checks that no fd, no zombie
  // and no thread is left.
  deny_filter no_mkdir(mkdir_calls());
  pidfd_options_test::unique_fd program =
      pidfd_options_test::open_file(pidfd_test::child_program, O_RDONLY);
  pidfd::spawn_options options{.gid = nobody,
      .uid = nobody,
      .executable_fd = program.get(),
      .new_namespaces = {.pid = true, .mount = true, .ipc = true},
      .limits = {{RLIMIT_NOFILE, 32, 32}},
      .no_new_privs = true,
      .default_signals = {SIGPIPE},
      .seccomp_filter = no_mkdir.get()};
  int exited = 0;
  for (int round = 0; round < 25; ++round)
  {
    options.new_namespaces.user = round % 2 == 1;
    options.new_namespaces.uid_map.assign(round % 2, {0, 100000, 65536});
    options.new_namespaces.gid_map = options.new_namespaces.uid_map;
    std::vector<pidfd::process> children;
    for (int i = 0; i < 8; ++i)
      children.push_back(
          pidfd::spawn(ctx, "child", {"exit", std::to_string(i)}, options));
    for (std::size_t i = 0; i < children.size(); ++i)
      children[i].async_wait([&, i](error_code ec, pidfd::exit_status s) {
        EXPECT_FALSE(ec) << ec.message();
        if (s.exited() && s.code() == static_cast<int>(i))
          ++exited;
      });
    run();
  }
  EXPECT_EQ(exited, 200);
}

// ---- job control -----------------------------------------------------------

// A pseudo-terminal opened by hand, O_NOCTTY: its terminal side becomes a
// controlling terminal only when a child takes it (controlling_terminal).
struct terminal_pair
{
  pidfd_options_test::unique_fd master;
  pidfd_options_test::unique_fd terminal;
};

void open_terminal(terminal_pair& pty)
{
  pty.master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_GE(pty.master.get(), 0);
  ASSERT_EQ(::grantpt(pty.master.get()), 0);
  ASSERT_EQ(::unlockpt(pty.master.get()), 0);
  char name[64];
  ASSERT_EQ(::ptsname_r(pty.master.get(), name, sizeof name), 0);
  pty.terminal = pidfd_options_test::open_file(name, O_RDWR | O_NOCTTY);
  ASSERT_GE(pty.terminal.get(), 0);
}

TEST_F(options_confinement_test, job_control_in_a_session_with_a_terminal)
{
  // The terminal side becomes the spawner's controlling terminal
  // (controlling_terminal = 0); the spawner then starts jobs in it.
  terminal_pair pty;
  ASSERT_NO_FATAL_FAILURE(open_terminal(pty));

  auto pipe = make_pipe();
  pidfd::spawn_options options;
  options.in = pidfd::stdio::fd(pty.terminal.get());
  options.out = pidfd::stdio::fd(pipe.write.get());
  options.controlling_terminal = 0;
  auto spawner = pidfd::spawn(ctx, pidfd_options_test::spawner,
      {"job-control", pidfd_test::child_program}, options);
  pty.terminal.reset();
  pipe.write = {};
  const std::string text = read_to_eof(pipe.read.get());
  EXPECT_TRUE(spawner.wait().success());
  EXPECT_EQ(text,
      "spawner leads its session: yes, has a terminal: yes\n"
      "member in the leader's group: yes\n"
      "foreground group is the child's: yes\n"
      "detached child has a terminal: no, same session: yes\n");
}

TEST_F(options_confinement_test, a_controlling_terminal_gives_a_run_a_tree)
{
  // controlling_terminal makes the child lead a session, and so a group:
  // a tree-scoped run needs no process_group besides.
  terminal_pair pty;
  ASSERT_NO_FATAL_FAILURE(open_terminal(pty));
  pidfd::run_options options;
  options.spawn.in = pidfd::stdio::fd(pty.terminal.get());
  options.spawn.controlling_terminal = 0;
  options.stop_scope = pidfd::terminate_scope::tree;
  const pidfd::run_result result = run_to_end("sh",
      {"-c",
          "read -r pid comm state ppid pgrp sid rest < /proc/$$/stat; "
          "test -t 0 && test \"$sid\" = $$ && echo leads its session"},
      std::move(options));
  EXPECT_TRUE(result.status.success()) << result.status;
  EXPECT_EQ(result.out, "leads its session\n");
}

TEST_F(
    options_confinement_test, job_control_failing_in_the_child_names_the_option)
{
  // On /dev/null, which is no terminal, each terminal step fails.
  pidfd::spawn_options options;
  options.in = pidfd::stdio::null();
  options.controlling_terminal = 0;
  failure f = spawn_failing(options);
  EXPECT_EQ(f.ec, boost::system::errc::inappropriate_io_control_operation);
  EXPECT_EQ(f.info.failed, part::terminal);
  EXPECT_EQ(f.info.child_fd, 0);
  EXPECT_EQ(f.info.detail, "controlling_terminal 0 (TIOCSCTTY)");

  options.controlling_terminal.reset();
  options.process_group = pidfd::process_group_mode::new_group;
  options.foreground_terminal = 0;
  f = spawn_failing(options);
  EXPECT_EQ(f.ec, boost::system::errc::inappropriate_io_control_operation);
  EXPECT_EQ(f.info.failed, part::terminal);
  EXPECT_EQ(f.info.child_fd, 0);
  EXPECT_EQ(f.info.detail, "foreground_terminal 0 (tcsetpgrp)");

  options.process_group = pidfd::process_group_mode::inherit;
  options.foreground_terminal.reset();
  options.detach_terminal = true;
  f = spawn_failing(options);
  EXPECT_EQ(f.ec, boost::system::errc::inappropriate_io_control_operation);
  EXPECT_EQ(f.info.failed, part::terminal);
  EXPECT_EQ(f.info.detail, "detach_terminal: fd 0 (TIOCNOTTY)");

  // A child in this process's group leads none: no group has its id.
  pidfd::process member = pidfd::spawn(ctx, pidfd_test::child_program,
      {"pause"}, {.in = pidfd::stdio::null(), .kill_on_destroy = true});
  options.detach_terminal = false;
  options.join_process_group = member.id();
  f = spawn_failing(options);
  EXPECT_EQ(f.ec, boost::system::errc::operation_not_permitted);
  EXPECT_EQ(f.info.failed, part::process_group);
  EXPECT_EQ(f.info.detail,
      "join_process_group " + std::to_string(member.id()) + " (setpgid)");
}

} // namespace
} // namespace pidfd_confinement_test
