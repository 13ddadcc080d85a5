//
// src/detail/confinement.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// See confinement.hpp. The child's half is in spawn_child.cpp
// (limit_and_schedule, restrict_before_exec).
//

#include "detail/confinement.hpp"

#include "pidfd/error.hpp"

#include "detail/user_namespace.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

#include <linux/filter.h>
#include <sched.h> // CLONE_NEW*, cpu_set_t
#include <sys/resource.h>

namespace pidfd::detail {
namespace {

using boost::system::error_code;
using part = spawn_error_info::part;

// The RLIMIT_* constant's name without its prefix, as prlimit(1) and
// /proc/PID/limits' order have them.
std::string resource_name(int resource)
{
  static constexpr const char* names[] = {"CPU", "FSIZE", "DATA", "STACK",
      "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK", "AS", "LOCKS", "SIGPENDING",
      "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"};
  static_assert(std::size(names) == RLIM_NLIMITS);
  if (resource >= 0 && resource < RLIM_NLIMITS)
    return names[resource];
  return std::to_string(resource);
}

std::string limit_value(rlim_t v)
{
  return v == RLIM_INFINITY ? "unlimited" : std::to_string(v);
}

// "rlimit NOFILE 10/5"
std::string describe(const resource_limit& l)
{
  return "rlimit " + resource_name(l.resource) + " " + limit_value(l.soft) + "/"
      + limit_value(l.hard);
}

std::string describe_cpus(const std::vector<int>& cpus)
{
  std::string text;
  for (int cpu : cpus)
    text += (text.empty() ? "" : ",") + std::to_string(cpu);
  return text;
}

// "pid,network"
std::string describe(const namespace_options& ns)
{
  std::string text;
  auto add = [&text](bool on, const char* name) {
    if (on)
      text += (text.empty() ? "" : ",") + std::string(name);
  };
  add(ns.user, "user");
  add(ns.pid, "pid");
  add(ns.mount, "mount");
  add(ns.network, "network");
  add(ns.uts, "uts");
  add(ns.ipc, "ipc");
  add(ns.cgroup, "cgroup");
  return text;
}

unsigned long clone_flags(const namespace_options& ns) noexcept
{
  return (ns.user ? CLONE_NEWUSER : 0UL) | (ns.pid ? CLONE_NEWPID : 0UL)
      | (ns.mount ? CLONE_NEWNS : 0UL) | (ns.network ? CLONE_NEWNET : 0UL)
      | (ns.uts ? CLONE_NEWUTS : 0UL) | (ns.ipc ? CLONE_NEWIPC : 0UL)
      | (ns.cgroup ? CLONE_NEWCGROUP : 0UL);
}

// "CAP_NET_BIND_SERVICE", or the number for one this build does not name.
std::string capability_name(int cap)
{
  static constexpr const char* names[] = {"CHOWN", "DAC_OVERRIDE",
      "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
      "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
      "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE",
      "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN",
      "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG",
      "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
      "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND",
      "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"};
  if (cap >= 0 && static_cast<std::size_t>(cap) < std::size(names))
    return std::string("CAP_") + names[cap];
  return "capability " + std::to_string(cap);
}

// The kernel's limit on a map's lines (Linux 4.15).
constexpr std::size_t max_map_lines = 340;

// "uid_map \"0 1000 0\": a count of 0", or empty for a valid map.
// The message is built only for a map that fails: every spawn checks both
// maps, and almost every spawn has none.
std::string check_map(const char* name, const std::vector<id_mapping>& map)
{
  auto what = [&] {
    return std::string(name) + " \"" + describe_map(map) + "\": ";
  };
  if (map.size() > max_map_lines)
    return std::string(name) + ": " + std::to_string(map.size())
        + " lines, at most " + std::to_string(max_map_lines);
  for (const id_mapping& m : map)
  {
    if (m.count == 0)
      return what() + "a count of 0";
    const std::uint64_t end = std::uint64_t(m.count) - 1;
    if (m.inside + end > UINT32_MAX - 1 || m.outside + end > UINT32_MAX - 1)
      return what() + "past the last id";
  }
  return {};
}

bool valid_signal(int sig) noexcept
{
  return sig >= 1 && sig < _NSIG;
}

} // namespace

bool refuse_option(
    error_code& ec, spawn_error_info& info, part failed, std::string detail)
{
  ec = error::invalid_option;
  info.failed = failed;
  info.detail = std::move(detail);
  return false;
}

bool check_confinement(
    const spawn_options& options, error_code& ec, spawn_error_info& info)
{
  auto invalid = [&](part p, std::string what) {
    return refuse_option(ec, info, p, std::move(what));
  };
  if (options.hostname && !options.new_namespaces.uts)
    return invalid(part::namespaces,
        "hostname \"" + *options.hostname
            + "\": needs a new UTS namespace (new_namespaces.uts)");
  const namespace_options& ns = options.new_namespaces;
  if (!ns.user && (!ns.uid_map.empty() || !ns.gid_map.empty()))
    return invalid(part::namespaces,
        std::string(ns.uid_map.empty() ? "gid_map" : "uid_map")
            + ": needs a new user namespace (new_namespaces.user)");
  for (auto [name, map] :
      {std::pair{"uid_map", &ns.uid_map}, std::pair{"gid_map", &ns.gid_map}})
    if (std::string why = check_map(name, *map); !why.empty())
      return invalid(part::namespaces, std::move(why));
  if (options.hostname
      && (options.hostname->size() > 64
          || options.hostname->find('\0') != std::string::npos))
    return invalid(
        part::namespaces, "hostname: longer than 64 bytes or a NUL byte");
  if (options.root_directory
      && (options.root_directory->empty()
          || options.root_directory->find('\0') != std::string::npos))
    return invalid(part::root_directory, "root directory: empty or NUL byte");
  for (const std::vector<int>* list :
      {&options.ambient_capabilities, &options.drop_bounding_capabilities})
    for (int cap : *list)
      if (cap < 0 || cap > 63)
        return invalid(part::capabilities,
            std::string(list == &options.ambient_capabilities
                    ? "ambient_capabilities"
                    : "drop_bounding_capabilities")
                + ": capability " + std::to_string(cap)
                + ": no such capability");
  for (const resource_limit& l : options.limits)
  {
    if (l.resource < 0 || l.resource >= RLIM_NLIMITS)
      return invalid(part::resource_limits, describe(l) + ": no such resource");
    if (l.soft > l.hard)
      return invalid(part::resource_limits, describe(l) + ": soft above hard");
  }
  if (options.nice && (*options.nice < -20 || *options.nice > 19))
    return invalid(part::scheduling,
        "nice " + std::to_string(*options.nice) + ": outside -20..19");
  for (int cpu : options.cpus)
    if (cpu < 0 || cpu >= CPU_SETSIZE)
      return invalid(part::scheduling,
          "cpus " + describe_cpus(options.cpus) + ": no CPU "
              + std::to_string(cpu));
  if (options.oom_score_adj
      && (*options.oom_score_adj < -1000 || *options.oom_score_adj > 1000))
    return invalid(part::scheduling,
        "oom_score_adj " + std::to_string(*options.oom_score_adj)
            + ": outside -1000..1000");
  for (int sig : options.default_signals)
    if (!valid_signal(sig) || sig == SIGKILL || sig == SIGSTOP)
      return invalid(part::signals,
          "default_signals: signal " + std::to_string(sig)
              + (valid_signal(sig) ? ": its action cannot change"
                                   : ": no such signal"));
  if (options.blocked_signals)
    for (int sig : *options.blocked_signals)
      if (!valid_signal(sig))
        return invalid(part::signals,
            "blocked_signals: signal " + std::to_string(sig)
                + ": no such signal");
  if (options.seccomp_filter
      && (options.seccomp_filter->len == 0 || !options.seccomp_filter->filter))
    return invalid(part::seccomp, "seccomp: an empty filter");
  return true;
}

void plan_confinement(const spawn_options& options, child_plan& plan)
{
  confinement_plan& c = plan.confine;
  c.namespace_flags = clone_flags(options.new_namespaces);
  c.hostname = options.hostname ? options.hostname->c_str() : nullptr;
  c.hostname_size = options.hostname ? options.hostname->size() : 0;
  c.root_directory =
      options.root_directory ? options.root_directory->c_str() : nullptr;
  c.limits = options.limits.data();
  c.limit_count = options.limits.size();
  c.set_nice = options.nice.has_value();
  c.nice = options.nice.value_or(0);
  // c.affinity and c.signal_mask start empty (their member initialisers
  // zero them): a spawn without these options pays nothing here.
  c.set_affinity = !options.cpus.empty();
  for (int cpu : options.cpus)
    CPU_SET(static_cast<std::size_t>(cpu), &c.affinity);
  if (options.oom_score_adj)
  {
    const int n = std::snprintf(
        c.oom_score_adj, sizeof c.oom_score_adj, "%d", *options.oom_score_adj);
    c.oom_score_adj_size = static_cast<std::size_t>(n);
  }
  c.drop_bounding = options.drop_bounding_capabilities.data();
  c.drop_bounding_count = options.drop_bounding_capabilities.size();
  c.ambient = options.ambient_capabilities.data();
  c.ambient_count = options.ambient_capabilities.size();
  c.ambient_mask = 0;
  for (int cap : options.ambient_capabilities)
    c.ambient_mask |= std::uint64_t(1) << cap;
  c.no_new_privs = options.no_new_privs;
  c.default_signals = options.default_signals.data();
  c.default_signal_count = options.default_signals.size();
  c.default_all_signals = options.default_all_signals;
  c.set_signal_mask = options.blocked_signals.has_value();
  if (options.blocked_signals)
    for (int sig : *options.blocked_signals)
      sigaddset(&c.signal_mask, sig);
  c.seccomp_filter = options.seccomp_filter;
}

std::string explain_confinement_failure(const child_plan& plan,
    const spawn_options& options, spawn_error_info& info)
{
  const int err = plan.error;
  const bool denied = err == EPERM || err == EACCES;
  switch (plan.error_stage)
  {
  case child_stage::mount_propagation:
    info.failed = part::namespaces;
    return "new mount namespace: making its mounts private";
  case child_stage::hostname:
    info.failed = part::namespaces;
    return "hostname \"" + *options.hostname + "\"";
  case child_stage::root_directory:
    info.failed = part::root_directory;
    return "root directory \"" + *options.root_directory + "\"";
  case child_stage::drop_bounding_capability:
    info.failed = part::capabilities;
    return "drop_bounding_capabilities: "
        + capability_name(
            options.drop_bounding_capabilities[static_cast<std::size_t>(
                plan.error_index)])
        + (denied               ? " (needs CAP_SETPCAP)"
                : err == EINVAL ? " (unknown to this kernel)"
                                : "");
  case child_stage::keep_capabilities:
  case child_stage::set_capabilities:
    info.failed = part::capabilities;
    return "ambient_capabilities: keeping them through the credentials"
        + std::string(denied ? " (the parent lacks one of them)" : "");
  case child_stage::ambient_capability:
    info.failed = part::capabilities;
    return "ambient_capabilities: "
        + capability_name(options.ambient_capabilities[static_cast<std::size_t>(
            plan.error_index)])
        + (denied               ? " (the parent lacks it)"
                : err == EINVAL ? " (unknown to this kernel)"
                                : "");
  case child_stage::resource_limit:
  {
    info.failed = part::resource_limits;
    const resource_limit& l =
        options.limits[static_cast<std::size_t>(plan.error_index)];
    return describe(l)
        + (denied ? " (raising a hard limit needs CAP_SYS_RESOURCE)" : "");
  }
  case child_stage::nice:
    info.failed = part::scheduling;
    return "nice " + std::to_string(*options.nice)
        + (denied ? " (lowering the nice value needs CAP_SYS_NICE)" : "");
  case child_stage::cpu_affinity:
    info.failed = part::scheduling;
    return "cpus " + describe_cpus(options.cpus)
        + (err == EINVAL ? " (none of them online and allowed)" : "");
  case child_stage::oom_score_adj:
    info.failed = part::scheduling;
    return "oom_score_adj " + std::to_string(*options.oom_score_adj)
        + (denied ? " (lowering it needs CAP_SYS_RESOURCE)" : "");
  case child_stage::no_new_privs:
    info.failed = part::no_new_privs;
    return "no_new_privs";
  case child_stage::default_signal:
    info.failed = part::signals;
    return "default_signals: signal "
        + std::to_string(
            options
                .default_signals[static_cast<std::size_t>(plan.error_index)]);
  case child_stage::seccomp:
    info.failed = part::seccomp;
    return std::string("seccomp")
        + (err == EACCES        ? " (no_new_privs not set and no CAP_SYS_ADMIN)"
                : err == EINVAL ? " (an invalid filter)"
                                : "");
  default:
    return {};
  }
}

std::string explain_clone_failure(
    int err, const spawn_options& options, spawn_error_info& info)
{
  if (!options.new_namespaces.any() || err == EAGAIN || err == ENOMEM)
    return {};
  info.failed = part::namespaces;
  return "new namespaces " + describe(options.new_namespaces)
      + (err == EPERM ? (options.new_namespaces.user
                 ? " (user namespaces are refused to this "
                   "process: disabled for unprivileged users, "
                   "or it is chrooted)"
                 : " (needs CAP_SYS_ADMIN)")
              : err == ENOSPC || err == EUSERS
              ? " (the limit on nested namespaces was reached)"
              : "");
}

} // namespace pidfd::detail
