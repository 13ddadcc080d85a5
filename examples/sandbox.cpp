//
// examples/sandbox.cpp
// ~~~~~~~~~~~~~~~~~~~~
// Runs a command the way an online judge or a CI runner runs code it does
// not trust: as nobody, in new user, PID, mount, network, UTS and IPC
// namespaces (hostname "sandbox"), with a CPU-time limit, no new privileges,
// SIGPIPE at its default action, and a seccomp filter that fails the system
// calls a confined program has no business making (mount, ptrace, namespaces,
// kernel keys, module loading) with EPERM. Reports how it ended.
//
//   sandbox [-t CPU_SECONDS] [COMMAND]
//
// COMMAND runs under /bin/sh -c; without one, a demo that shows what the
// command sees (its PID, hostname, uid, network devices), tries to mount
// something, and then spins until its CPU time runs out. Needs no root
// where unprivileged user namespaces are allowed.
//

#include <pidfd/asio.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <csignal>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;

// A classic BPF program for seccomp: `denied` fail with EPERM, everything
// else is allowed; a system call of another architecture (whose numbers
// mean other calls) kills the process. libseccomp builds the same from a
// rule list; a few lines of BPF keep this example free of it.
class deny_list_filter
{
public:
  explicit deny_list_filter(const std::vector<long>& denied)
  {
    add(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
    add(BPF_JMP | BPF_JEQ | BPF_K, this_arch, 1, 0);
    add(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    add(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
    for (long nr : denied)
    {
      add(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(nr), 0, 1);
      add(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
    }
    add(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    program_.len = static_cast<unsigned short>(code_.size());
    program_.filter = code_.data();
  }

  const sock_fprog* program() const noexcept { return &program_; }

private:
#if defined(__x86_64__)
  static constexpr std::uint32_t this_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  static constexpr std::uint32_t this_arch = AUDIT_ARCH_AARCH64;
#else
#error "sandbox: add this architecture's AUDIT_ARCH_*"
#endif

  void add(std::uint16_t code, std::uint32_t k, std::uint8_t jt = 0,
      std::uint8_t jf = 0)
  {
    code_.push_back(sock_filter{code, jt, jf, k});
  }

  std::vector<sock_filter> code_;
  sock_fprog program_{};
};

int usage()
{
  std::fprintf(stderr, "usage: sandbox [-t CPU_SECONDS] [COMMAND]\n");
  return 2;
}

} // namespace

int main(int argc, char** argv)
{
  rlim_t cpu_seconds = 1;
  std::string command =
      "echo \"pid $$ on $(cat /proc/sys/kernel/hostname) as uid $(id -u)\"; "
      "echo \"network: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' "
      "')\"; "
      "mount -t tmpfs none /tmp 2>/dev/null || echo 'mount: refused'; "
      "while :; do :; done";
  int i = 1;
  for (; i + 1 < argc && argv[i][0] == '-'; i += 2)
  {
    if (std::strcmp(argv[i], "-t") == 0)
      cpu_seconds = std::strtoul(argv[i + 1], nullptr, 10);
    else
      return usage();
  }
  if (i < argc)
    command = argv[i++];
  if (i < argc)
    return usage();

  const deny_list_filter filter({SYS_mount, SYS_umount2, SYS_ptrace,
      SYS_unshare, SYS_setns, SYS_keyctl, SYS_add_key, SYS_request_key,
      SYS_init_module, SYS_finit_module, SYS_delete_module});

  // Nobody in a user namespace of its own, which owns the others: root
  // maps nobody to nobody, anyone else maps their own ids to nobody (all
  // an unprivileged user may map), so that no root is needed.
  const bool root = ::geteuid() == 0;
  pidfd::spawn_options o;
  o.gid = 65534;
  o.uid = 65534;
  // Root drops the supplementary groups; others cannot (the kernel denies
  // setgroups to them in the namespace) and keep their own.
  o.keep_groups = !root;
  o.new_namespaces = {.user = true,
      .pid = true,
      .mount = true,
      .network = true,
      .uts = true,
      .ipc = true,
      .uid_map = {{65534, root ? 65534u : ::geteuid(), 1}},
      .gid_map = {{65534, root ? 65534u : ::getegid(), 1}}};
  o.hostname = "sandbox";
  // SIGKILL once the CPU time is used up (as PID 1 of its namespace the
  // command would ignore the SIGXCPU of a lower soft limit); no core file.
  o.limits = {{RLIMIT_CPU, cpu_seconds, cpu_seconds}, {RLIMIT_CORE, 0, 0},
      {RLIMIT_NOFILE, 64, 64}, {RLIMIT_NPROC, 64, 64}};
  o.no_new_privs = true;
  o.default_signals = {SIGPIPE};
  o.seccomp_filter = filter.program();

  asio::io_context ctx;
  int rc = 1;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        pidfd::process p = pidfd::spawn(ctx, "/bin/sh", {"-c", command}, o);
        pidfd::exit_status s = co_await p.async_wait(asio::use_awaitable);
        std::printf("sandboxed command %s after %.2f s of CPU\n",
            s.to_string().c_str(),
            static_cast<double>((s.user_time() + s.system_time()).count())
                / 1e6);
        rc = s.success() ? 0 : 1;
      },
      [](std::exception_ptr e) {
        if (e)
          std::rethrow_exception(e);
      });
  try
  {
    ctx.run();
  }
  catch (const std::exception& e)
  {
    std::fprintf(stderr, "sandbox: %s\n", e.what());
  }
  return rc;
}
