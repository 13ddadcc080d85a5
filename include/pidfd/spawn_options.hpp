//
// pidfd/spawn_options.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// Options for pidfd::spawn: standard streams, environment, directory,
// inherited fds, parent-death signal, process group, credentials, cgroup,
// pseudo-terminal, and the confinement steps (resource limits,
// scheduling, no_new_privs, signal state, seccomp).
//

#ifndef PIDFD_SPAWN_OPTIONS_HPP
#define PIDFD_SPAWN_OPTIONS_HPP

#include "pidfd/cgroup_placement.hpp"

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/types.h>

// The classic BPF program of spawn_options::seccomp_filter, as
// <linux/filter.h> defines it (and libseccomp's seccomp_export_bpf
// writes it); declared here so that this header does not pull in the
// kernel's.
struct sock_fprog;

// Declared, not included: these options are read by the compiled engine,
// which must not depend on how the user configures Asio. The pipe
// factories below are templates, instantiated where the pipes are known.
namespace boost::asio {
template <typename Executor>
class basic_readable_pipe;
template <typename Executor>
class basic_writable_pipe;
} // namespace boost::asio

namespace pidfd {

// Declared here for the same reason; defined in pidfd/pty.hpp.
template <typename Executor>
class basic_pty;

/// Where one of the child's standard streams comes from or goes to.
/**
 * The default is inherit(). Files and @c /dev/null are opened in the child,
 * relative to the parent's working directory, before the child changes
 * directory; a failure names the path.
 */
class stdio
{
public:
  /// The parent's own stream (the default).
  stdio() noexcept = default;

  /// The parent's own stream.
  static stdio inherit() noexcept { return {}; }

  /// @c /dev/null.
  static stdio null()
  {
    stdio s;
    s.kind_ = kind::file;
    s.path_ = "/dev/null";
    s.flags_ = O_RDWR;
    return s;
  }

  /// A file: stdin opens it read-only; stdout and stderr open it write-only,
  /// creating it (mode 0666 less the umask) and truncating it.
  static stdio file(std::string path)
  {
    stdio s;
    s.kind_ = kind::file;
    s.path_ = std::move(path);
    return s;
  }

  /// Like file(), but stdout and stderr append instead of truncating.
  static stdio append_to(std::string path)
  {
    stdio s = file(std::move(path));
    s.append_ = true;
    return s;
  }

  /// An fd of the parent, duplicated into place; the parent keeps it (and
  /// must keep it open until spawn, or async_run, returns).
  static stdio fd(int fd) noexcept
  {
    stdio s;
    s.kind_ = kind::parent_fd;
    s.fd_ = fd;
    return s;
  }

  /// A new pipe whose read end is assigned to @c pipe once the child is
  /// started; for stdout and stderr.
  template <typename Executor>
  static stdio pipe(boost::asio::basic_readable_pipe<Executor>& pipe)
  {
    return of_object(kind::pipe_from_child, pipe);
  }

  /// A new pipe whose write end is assigned to @c pipe once the child is
  /// started; for stdin.
  template <typename Executor>
  static stdio pipe(boost::asio::basic_writable_pipe<Executor>& pipe)
  {
    return of_object(kind::pipe_to_child, pipe);
  }

  /// The terminal side of a new pseudo-terminal, whose master side is
  /// assigned to @c pty once the child is started.
  /**
   * Any of stdin, stdout and stderr may name the same pty object (one
   * terminal per child; spawn_options::terminal sets its window size and
   * modes). The child then runs in a session of its own (as with
   * process_group_mode::new_session, whatever process_group says) whose
   * controlling terminal this is, so that the kernel sends it SIGINT for
   * a @c ^C written to the master and SIGWINCH on basic_pty::resize().
   */
  template <typename Executor>
  static stdio pty(basic_pty<Executor>& pty)
  {
    return of_object(kind::pty, pty);
  }

  /// For stderr only: the same file as the child's stdout (2>&1).
  static stdio merge_with_stdout() noexcept
  {
    stdio s;
    s.kind_ = kind::stdout_merge;
    return s;
  }

  /// How this stream is set up.
  enum class kind
  {
    inherit,
    file,
    parent_fd,
    pipe_from_child,
    pipe_to_child,
    stdout_merge,
    pty
  };

  /// The kind of setup; for the library and for diagnostics.
  kind type() const noexcept { return kind_; }
  /// The path, for file().
  const std::string& path() const noexcept { return path_; }
  /// True for append_to().
  bool append() const noexcept { return append_; }
  /// The open(2) flags forced by null(); 0 means "by stream".
  int forced_flags() const noexcept { return flags_; }
  /// The parent's fd, for fd().
  int parent_fd() const noexcept { return fd_; }
  /// Identifies the pipe object, for pipe(), or the pty object, for pty().
  const void* pipe_object() const noexcept { return object_; }
  /// True if the pipe (or pty) object already holds an fd, which spawn
  /// refuses before starting the child (assign() would fail only after it
  /// ran).
  bool pipe_is_open() const { return object_ && object_ops_->is_open(object_); }
  /// Hands the parent's end of the pipe (or the pty's master) to its
  /// object.
  void assign_parent_end(int fd, boost::system::error_code& ec) const
  {
    object_ops_->assign(object_, fd, ec);
  }

private:
  // What the engine does with the Asio object of pipe() or pty(), whose
  // type only the template that took it knows: one table of plain
  // functions per object type, so that a stdio stays a few words to copy
  // and the engine calls no Asio code but through these.
  struct object_ops
  {
    void (*assign)(void* object, int fd, boost::system::error_code& ec);
    bool (*is_open)(const void* object);
  };

  template <typename Object>
  static constexpr object_ops ops_of{
      [](void* object, int fd, boost::system::error_code& ec) {
        static_cast<Object*>(object)->assign(fd, ec);
      },
      [](const void* object) {
        return static_cast<const Object*>(object)->is_open();
      }};

  // A pipe object (readable or writable) or a pty object.
  template <typename Object>
  static stdio of_object(kind k, Object& object)
  {
    stdio s;
    s.kind_ = k;
    s.object_ = &object;
    s.object_ops_ = &ops_of<Object>;
    return s;
  }

  kind kind_ = kind::inherit;
  std::string path_;
  bool append_ = false;
  int flags_ = 0;
  int fd_ = -1;
  void* object_ = nullptr; // of pipe() or pty()
  const object_ops* object_ops_ = nullptr;
};

/// The child's environment: the parent's (the default) or an empty one,
/// with variables set or removed.
class environment
{
public:
  /// The parent's environment, unchanged.
  environment() = default;

  /// The parent's environment, as it is when spawn is called.
  static environment inherit() { return {}; }

  /// No variables at all.
  static environment empty()
  {
    environment e;
    e.inherit_ = false;
    return e;
  }

  /// Sets a variable (the last set or unset of a name wins).
  environment& set(std::string name, std::string value)
  {
    changes_.emplace_back(std::move(name), std::move(value));
    return *this;
  }

  /// Removes a variable.
  environment& unset(std::string name)
  {
    changes_.emplace_back(std::move(name), std::nullopt);
    return *this;
  }

  /// True if the parent's variables are the starting point.
  bool inherits() const noexcept { return inherit_; }

  /// The changes, in order.
  const std::vector<std::pair<std::string, std::optional<std::string>>>&
  changes() const noexcept
  {
    return changes_;
  }

private:
  bool inherit_ = true;
  std::vector<std::pair<std::string, std::optional<std::string>>> changes_;
};

/// An fd of the parent that the child gets as @c child_fd.
struct fd_mapping
{
  /// The number the child sees (3 or more; 0-2 are set with stdio).
  int child_fd = -1;
  /// The parent's fd, duplicated; the parent keeps it (open until spawn,
  /// or async_run, returns).
  int parent_fd = -1;
};

/// The pseudo-terminal of a child with a stdio::pty() stream.
struct pty_options
{
  /// The initial window size (TIOCSWINSZ); both must be at least 1, else
  /// spawn fails with error::invalid_window_size.
  unsigned short rows = 24;
  unsigned short cols = 80;

  /// Echo what is written to the master back to it (the terminal's
  /// default). Off for passwords, or to read only the program's output.
  bool echo = true;

  /// Raw mode, as cfmakeraw(3): no line editing, no echo, no signals for
  /// ^C or ^Z, no CR/LF translation; bytes pass through unchanged.
  bool raw = false;

  /// The pty multiplexer to open: /dev/ptmx, or another devpts mount's
  /// (e.g. a container's /dev/pts/ptmx).
  std::string multiplexer = "/dev/ptmx";
};

/// Which process group and session the child joins.
enum class process_group_mode
{
  /// The parent's process group and session (the default).
  inherit,
  /// A new process group led by the child (setpgid(0, 0)), e.g. to signal
  /// the child and its descendants together.
  new_group,
  /// A new session and process group (setsid()), detached from the
  /// controlling terminal.
  new_session
};

/// One line of a new user namespace's uid_map or gid_map (user_namespaces(7)):
/// the @c count ids from @c inside in the namespace are the ids from
/// @c outside in the spawner's namespace.
struct id_mapping
{
  std::uint32_t inside = 0;
  std::uint32_t outside = 0;
  std::uint32_t count = 1;
};

/// The namespaces a child starts in, new ones of its own (clone(2)'s
/// @c CLONE_NEW* flags). Each needs @c CAP_SYS_ADMIN, except together with
/// a new user namespace, which owns the others and needs no privilege
/// where the system allows unprivileged user namespaces.
struct namespace_options
{
  /// A user namespace. The child has every capability in it (and none
  /// outside) until its program runs; spawn_options::uid, gid and groups
  /// are then ids inside it, which must be mapped. The spawner writes the
  /// maps while the child waits, so this spawn is a fork rather than the
  /// usual vfork: it costs what copying the spawner's page tables costs
  /// (see benchmarks/RESULTS.md).
  /**
   * Without maps the child runs as the overflow ids (65534). A spawner
   * without @c CAP_SETUID / @c CAP_SETGID may map only its own effective
   * uid and gid, one id each. @c setgroups is denied in the namespace
   * (written before the gid map) unless the child is to call it: when
   * spawn_options::groups is given, or uid or gid is set without
   * keep_groups (dropping the supplementary groups); only a privileged
   * spawner may allow it, so an unprivileged one that sets uid or gid sets
   * keep_groups too. A spawner that changed its uid is not dumpable, which
   * would make the child's map files root's: the child then makes itself
   * dumpable before the maps are written (its program's exec sets that
   * again as usual). Until that exec, another process of the spawner's
   * uid may ptrace the child, and so read its copy of the spawner's
   * memory: a spawner that keeps secrets from processes of its own uid
   * should not start user namespaces after changing its uid.
   */
  bool user = false;
  /// A PID namespace: the child is its PID 1 (see spawn_options::
  /// new_namespaces for what that means).
  bool pid = false;
  /// A mount namespace whose mounts are all made private first, so that
  /// nothing the child mounts propagates out (as unshare(1) does).
  bool mount = false;
  /// A network namespace: only a loopback device, down.
  bool network = false;
  /// A UTS namespace (hostname and domain name): see
  /// spawn_options::hostname.
  bool uts = false;
  /// An IPC namespace (System V IPC, POSIX message queues).
  bool ipc = false;
  /// A cgroup namespace, rooted at the child's cgroup.
  bool cgroup = false;

  /// The new user namespace's uid and gid maps (at most 340 lines each,
  /// no two overlapping); only with @c user.
  std::vector<id_mapping> uid_map{};
  std::vector<id_mapping> gid_map{};

  /// True if any is asked for.
  bool any() const noexcept
  {
    return user || pid || mount || network || uts || ipc || cgroup;
  }
};

/// A resource limit for the child (setrlimit(2)): @c resource is one of
/// the @c RLIMIT_* constants; @c RLIM_INFINITY means no limit.
struct resource_limit
{
  int resource = -1;
  rlim_t soft = RLIM_INFINITY;
  rlim_t hard = RLIM_INFINITY;
};

/// How a child is started. An aggregate, so designated initialisers work:
/// <tt>{.out = pidfd::stdio::null(), .working_directory = "/tmp"}</tt>.
/**
 * Whatever the options, the child starts with only fds 0, 1, 2 and those in
 * @c inherited_fds open: every other fd of the parent is closed in the
 * child, even one opened without @c O_CLOEXEC. Caught signals are reset to
 * their defaults and ignored ones stay ignored, as @c execve does; the
 * signal mask is the parent's.
 *
 * Invalid or conflicting options (an fd that is not open, a pipe of the
 * wrong direction, one pipe used twice, merge_with_stdout() anywhere but
 * stderr, an inherited fd below 3 or given twice, an invalid signal) make
 * spawn fail with @c errc::bad_file_descriptor or
 * @c errc::invalid_argument, and a pipe object that is already open with
 * @c boost::asio::error::already_open, before any child is started; the
 * exception's what() says which option.
 */
struct spawn_options
{
  /// argv[0] for the child; defaults to the program as given to spawn.
  std::optional<std::string> argv0{};

  /// Standard input, output and error.
  stdio in{};
  stdio out{};
  stdio err{};

  /// The environment. A @c PATH set here is the one used to find the
  /// program.
  environment env{};

  /// The working directory; a missing or non-directory one is a spawn
  /// error whose message names it.
  std::optional<std::string> working_directory{};

  /// Extra fds the child inherits (see inherit_fd()).
  std::vector<fd_mapping> inherited_fds{};

  /// A signal the child gets when the parent dies (PR_SET_PDEATHSIG), or
  /// 0. Linux sends it when the *thread* that spawned the child exits, not
  /// the whole parent process: spawn from a thread that lives as long as
  /// the parent should. If the parent died before the setting took effect,
  /// the child sends the signal to itself before exec.
  int parent_death_signal = 0;

  /// The child's process group and session.
  process_group_mode process_group = process_group_mode::inherit;

  /// Destroying the process object kills the child (SIGKILL) if it still
  /// runs. Either way the library reaps a child whose process object is
  /// gone, so no zombie is left.
  bool kill_on_destroy = false;

  /// The exit status comes with the child's resource usage
  /// (exit_status::user_time(), system_time(), max_rss()), as waitid
  /// reports it. False leaves it out (exit_status::usage_known() is false)
  /// and lets the kernel reap the child where that is cheaper: with the
  /// io_uring mechanism where kernel_features::io_uring_waitid (Linux 6.9:
  /// IORING_OP_WAITID is 6.7's, PIDFD_SIGNAL_PROCESS_GROUP 6.9's), an
  /// asynchronous wait is one IORING_OP_WAITID in the execution context's
  /// ring, and the library makes no waitid call of its own.
  /**
   * A blocking wait(), try_wait() or release() while such a wait is in the
   * ring takes the status from the ring if the kernel reaped the child
   * there. A pidfd taken with native_handle() is non-blocking, which the
   * kernel's waitid honours: the ring then polls for that child instead.
   */
  bool resource_usage = true;

  /// The child is killed (SIGKILL) once its owner is gone: when its process
  /// object is destroyed, and when this process dies, even by SIGKILL.
  /**
   * On Linux 7.1 (kernel_features::pidfd_autokill) the child is spawned
   * with CLONE_PIDFD_AUTOKILL: the kernel kills it when the pidfd clone3
   * returned is closed for the last time, whichever thread spawned it and
   * however this process ends. The kernel also reaps it (CLONE_AUTOREAP,
   * which the flag requires): its exit status then comes from
   * PIDFD_GET_INFO, without resource usage (exit_status::usage_known() is
   * false). A pidfd handed out by release() keeps it alive; one opened
   * from an exported handle does not.
   *
   * Elsewhere it gets parent_death_signal SIGKILL (set after the
   * credentials change, and sent by the child to itself if the parent died
   * before it took effect) and kill_on_destroy. Linux sends that signal
   * when the *thread* that spawned the child exits, even if the process
   * lives on: spawn from a thread that lives as long as the process.
   *
   * Either way the child runs with no_new_privs: a set-user-ID program it
   * executes gains no privilege. Linux 7.1 requires this of the flag
   * (unless the caller has CAP_SYS_ADMIN), and it keeps the parent-death
   * signal, which an exec that gains privilege would clear. A
   * parent_death_signal other than 0 or SIGKILL is refused.
   */
  bool die_with_owner = false;

  /// Credentials for the child, applied in the safe order: supplementary
  /// groups, then group id, then user id (each needs privilege).
  /**
   * Dropping privilege drops all of it: when @c uid or @c gid is set and
   * @c groups is not, the child gets no supplementary groups at all
   * (@c setgroups(0, NULL)), as Go's @c SysProcAttr.Credential does, so a
   * child switched from root to an unprivileged user keeps none of root's
   * groups. Set @c groups to give it a list, or @c keep_groups to keep the
   * parent's. Without privilege, even that implicit @c setgroups fails
   * with @c EPERM (the message says so); set @c keep_groups where the
   * parent changes only to ids it may already use.
   */
  std::optional<std::vector<gid_t>> groups{};
  std::optional<gid_t> gid{};
  std::optional<uid_t> uid{};

  /// Keeps the parent's supplementary groups when @c uid or @c gid is set
  /// (Go's @c NoSetGroups). Setting it together with @c groups is
  /// @c error::invalid_option.
  bool keep_groups = false;

  /// The child's file mode creation mask.
  std::optional<mode_t> umask{};

  /// The cgroup (v2) the child starts in; see cgroup_placement. With one,
  /// the tree operations of basic_process (signal_tree(), kill_tree(),
  /// async_wait_tree(), async_terminate(terminate_scope::tree, ...)) reach
  /// every process the child starts, daemonised or not.
  std::optional<cgroup_placement> cgroup{};

  /// The pseudo-terminal's size and modes, used when a stream is
  /// stdio::pty().
  pty_options terminal{};

  /// @name Confinement
  /// Steps the child takes on itself before @c execve, each only when set,
  /// in this order: the namespaces (created with the child; a user
  /// namespace's maps written by the spawner before the child goes on), private
  /// mounts and the hostname in them, then the fds, the process group and
  /// the terminal, then resource limits, nice, CPU affinity,
  /// @c oom_score_adj, umask, root directory, working directory, the
  /// bounding set,
  /// credentials (groups, gid, uid), ambient capabilities, parent death
  /// signal, no_new_privs, signal dispositions and mask, the seccomp
  /// filter, and @c execve (or @c execveat of executable_fd). A failing
  /// step fails the spawn with its errno and a message naming the option
  /// and its value (spawn_error_info says which part); no child is left.
  /// @{

  /// Runs the program open at this fd (execveat with AT_EMPTY_PATH), for
  /// example a sealed memfd, so that no path names it; @c program is then
  /// only argv[0] (unless @c argv0 is set) and the name in messages. The
  /// child gets the fd close-on-exec, so the program does not inherit it;
  /// a script (#!) cannot run that way (its interpreter could not open
  /// it): give an ELF executable. The parent keeps the fd.
  std::optional<int> executable_fd{};

  /// New namespaces for the child, created with it (clone3's flags): it
  /// never runs an instruction outside them. In a new PID namespace the
  /// child is PID 1 there: its exit status reaches the parent as any
  /// child's, every process of the namespace is killed when it exits (and
  /// the kernel reports the exit once they are all gone, so a completed
  /// async_wait() means the whole tree has ended), and it ignores signals it
  /// has no handler for (SIGTERM included) except SIGKILL and SIGSTOP, so
  /// async_terminate() ends it with its SIGKILL after the grace period
  /// unless the program handles SIGTERM.
  namespace_options new_namespaces{};

  /// The hostname in the child's new UTS namespace (needs
  /// new_namespaces.uts; at most 64 bytes).
  std::optional<std::string> hostname{};

  /// The child's root directory (chroot(2)), taken after the fds are set
  /// up, so that stdio::file() paths are opened outside it. The working
  /// directory is then resolved inside it ("/" if none is given), and so is
  /// the program's path.
  std::optional<std::string> root_directory{};

  /// Resource limits, applied in order (see resource_limit). A soft limit
  /// above its hard one, or an unknown resource, is error::invalid_option;
  /// raising a hard limit needs @c CAP_SYS_RESOURCE (@c EPERM otherwise).
  std::vector<resource_limit> limits{};

  /// The nice value, -20 (most favoured) to 19; lowering it below the
  /// parent's needs @c CAP_SYS_NICE.
  std::optional<int> nice{};

  /// The CPUs the child may run on (sched_setaffinity); empty: the
  /// parent's. @c EINVAL if none of them is online and allowed.
  std::vector<int> cpus{};

  /// The child's @c oom_score_adj, -1000 to 1000; lowering it below the
  /// parent's needs @c CAP_SYS_RESOURCE.
  std::optional<int> oom_score_adj{};

  /// Capabilities (the @c CAP_* numbers of <linux/capability.h>) the
  /// child keeps through its credentials and runs its program with, as
  /// ambient capabilities: e.g. @c CAP_NET_BIND_SERVICE for a child
  /// switched to an unprivileged uid that must bind a port below 1024.
  /// Every other capability is dropped when uid is set (as before). The
  /// parent must have each one (@c EPERM otherwise).
  std::vector<int> ambient_capabilities{};

  /// Capabilities removed from the child's bounding set before its
  /// credentials change, so that nothing it runs can gain them again, not
  /// even through a setuid-root program. Needs @c CAP_SETPCAP.
  std::vector<int> drop_bounding_capabilities{};

  /// Sets @c PR_SET_NO_NEW_PRIVS: @c execve of a setuid or setgid program,
  /// or of one with file capabilities, grants nothing. Inherited by
  /// everything the child starts, and never unset.
  bool no_new_privs = false;

  /// Signals the child resets to their default action, ignored ones
  /// included. By default (as @c execve and Go do) caught signals are reset
  /// and ignored ones stay ignored, so a server that ignores @c SIGPIPE
  /// starts children that ignore it too (then <tt>yes | head</tt> ends
  /// with a write error, not the signal): name it here, or set
  /// @c default_all_signals. @c SIGKILL and @c SIGSTOP are
  /// error::invalid_option (their action cannot change).
  std::vector<int> default_signals{};

  /// Every signal to its default action (as libuv does).
  bool default_all_signals = false;

  /// The child's signal mask: the signals it starts with blocked; an empty
  /// list unblocks all. Unset, it is the mask of the thread that spawns.
  std::optional<std::vector<int>> blocked_signals{};

  /// A seccomp filter (a classic BPF program, e.g. from libseccomp's
  /// seccomp_export_bpf) installed as the last step before @c execve, so
  /// that none of the library's own steps is filtered. The kernel refuses
  /// it (@c EACCES) unless @c no_new_privs is set or the child still has
  /// @c CAP_SYS_ADMIN after the credentials. The program must stay valid
  /// until spawn (or async_run's spawn) returns.
  const sock_fprog* seccomp_filter = nullptr;

  /// @}

  /// Job control, as a shell or a terminal server does it (Go's @c Pgid,
  /// @c Setctty with @c Ctty, @c Foreground, @c Noctty). Fds here are the
  /// child's: 0-2, or an inherited_fds number.
  /// @{

  /// Joins this existing process group of the parent's session instead
  /// (setpgid), as a shell puts each command of a pipeline into the
  /// first one's group. Not with process_group set, controlling_terminal
  /// or a stdio::pty() stream (a session leader leads its own group).
  std::optional<pid_t> join_process_group{};

  /// Makes this fd, a terminal, the child's controlling terminal: the
  /// child leads a new session (as process_group_mode::new_session) and
  /// takes it (TIOCSCTTY). A stdio::pty() stream does this by itself, so
  /// the two do not go together.
  std::optional<int> controlling_terminal{};

  /// Puts the child's process group in the foreground of this fd's
  /// terminal, the controlling terminal of the parent's session
  /// (tcsetpgrp, with SIGTTOU blocked meanwhile so that the child is not
  /// stopped for it), as a shell starts a foreground job. Needs a group
  /// other than the parent's: process_group_mode::new_group or
  /// join_process_group. Not with a session of the child's own
  /// (controlling_terminal, a stdio::pty() stream), nor with
  /// detach_terminal.
  std::optional<int> foreground_terminal{};

  /// The child gives up the controlling terminal it inherited (TIOCNOTTY
  /// on its fd 0, which must be that terminal), keeping its session and
  /// group. Not with a session of the child's own
  /// (process_group_mode::new_session, controlling_terminal, a
  /// stdio::pty() stream).
  bool detach_terminal = false;

  /// @}

  /// Adds an inherited fd: the child sees @c parent_fd as @c child_fd.
  spawn_options& inherit_fd(int child_fd, int parent_fd)
  {
    inherited_fds.push_back({child_fd, parent_fd});
    return *this;
  }
};

} // namespace pidfd

#endif // PIDFD_SPAWN_OPTIONS_HPP
