//
// src/detail/syscalls.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// Thin wrappers over the Linux system calls the library uses, as Asio's
// descriptor_ops: the rest of the engine makes none itself, and the Asio
// binding reaches the few it needs through the engine (run_support.hpp),
// since this header is not installed. This file and syscalls.cpp are the
// only places that call syscall(): glibc 2.36 has no wrappers for clone3,
// pidfd_open, pidfd_send_signal or close_range, and waitid's glibc wrapper
// drops the rusage argument.
//
// Parent-side wrappers retry EINTR and report errors as error_code. The
// child_* functions run in a vfork-style child that shares the parent's
// memory: they are inline, never touch errno or any libc state, return
// -errno, and are compiled without sanitizer instrumentation (whose runtime
// state belongs to the suspended parent thread).
//

#ifndef PIDFD_SRC_DETAIL_SYSCALLS_HPP
#define PIDFD_SRC_DETAIL_SYSCALLS_HPP

#include <boost/system/error_code.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <linux/capability.h> // capset
#include <linux/filter.h> // struct sock_fprog
#include <linux/io_uring.h> // struct io_uring_sqe, io_uring_cqe, IORING_*
#include <linux/sched.h> // struct clone_args, CLONE_*
#include <linux/seccomp.h> // SECCOMP_SET_MODE_FILTER
#include <sched.h> // cpu_set_t
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3 // Linux 5.4, <linux/wait.h>
#endif

#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif

// Scopes for pidfd_send_signal (Linux 6.9, <linux/pidfd.h>); bookworm's
// headers predate them.
#ifndef PIDFD_SIGNAL_THREAD
#define PIDFD_SIGNAL_THREAD (1UL << 0)
#endif
#ifndef PIDFD_SIGNAL_THREAD_GROUP
#define PIDFD_SIGNAL_THREAD_GROUP (1UL << 1)
#endif
#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1UL << 2)
#endif

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL // Linux 5.7, <linux/sched.h>
#endif

// Linux 7.1's clone3 flags (<linux/sched.h>): the kernel reaps the child
// itself (no exit signal, waitid never sees it; its status comes from
// PIDFD_GET_INFO), sets no_new_privs in it, and kills it when the pidfd
// clone3 returned is closed for the last time. AUTOKILL needs PIDFD and
// AUTOREAP, and NNP unless the caller has CAP_SYS_ADMIN.
#ifndef CLONE_AUTOREAP
#define CLONE_AUTOREAP (1ULL << 34)
#endif
#ifndef CLONE_NNP
#define CLONE_NNP (1ULL << 35)
#endif
#ifndef CLONE_PIDFD_AUTOKILL
#define CLONE_PIDFD_AUTOKILL (1ULL << 36)
#endif

#ifndef CLONE_ARGS_SIZE_VER0
#define CLONE_ARGS_SIZE_VER0 64 // <linux/sched.h>
#endif

#ifndef CLONE_ARGS_SIZE_VER2
#define CLONE_ARGS_SIZE_VER2 88 // with the cgroup field (Linux 5.7)
#endif

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

namespace pidfd::detail::sys {
// IORING_OP_WAITID (Linux 6.7): an enumerator of <linux/io_uring.h> newer
// than bookworm's copy, so a constant of our own with the kernel's value.
inline constexpr unsigned char uring_op_waitid = 50;
} // namespace pidfd::detail::sys

// Sanitizer runtimes keep per-thread state that the vfork child would
// corrupt; code that runs in the child is excluded from instrumentation.
#if defined(__clang__)
#define PIDFD_CHILD_CODE                                                       \
  __attribute__((no_sanitize("address", "thread", "undefined")))
#else
#define PIDFD_CHILD_CODE                                                       \
  __attribute__((                                                              \
      no_sanitize_address, no_sanitize_thread, no_sanitize_undefined))
#endif

namespace pidfd::detail::sys {

using boost::system::error_code;

// ---- parent side ---------------------------------------------------------

// The error_code of an errno value, by default the calling thread's errno
// as a failed call left it: the library's one way from errno to an
// error_code (the system category, which Asio's errors compare with).
inline error_code last_error(int e = errno) noexcept
{
  return {e, boost::system::system_category()};
}

// pidfd_open(2); returns the fd or -1 with ec set.
int pidfd_open(pid_t pid, unsigned int flags, error_code& ec) noexcept;

// pidfd_send_signal(2) with no siginfo.
void pidfd_send_signal(int pidfd, int sig, error_code& ec) noexcept;

// The same with a scope among the PIDFD_SIGNAL_* flags (Linux 6.9; older
// kernels reject any flag with EINVAL).
void pidfd_send_signal(
    int pidfd, int sig, unsigned long flags, error_code& ec) noexcept;

// waitid(P_PIDFD, pidfd, &info, options, &usage), retrying EINTR. With
// WNOHANG, info.si_pid == 0 means "not yet".
void waitid_pidfd(int pidfd, int options, siginfo_t& info, rusage& usage,
    error_code& ec) noexcept;

// What ioctl(PIDFD_GET_INFO) tells of how a reaped process ended.
struct pidfd_exit
{
  int wait_status = 0; // waitpid format, with the core dump bit (0x80)
  // PIDFD_COREDUMPED, _SKIP, _USER, _ROOT (Linux 6.16), if the kernel
  // filled the field in; 0 when it has nothing to say.
  std::optional<std::uint32_t> coredump_mask;
};

// The exit status the kernel kept for a reaped process (PIDFD_INFO_EXIT,
// Linux 6.15) with its core dump mask (PIDFD_INFO_COREDUMP, 6.16); nullopt
// if the process was not reaped yet or the kernel does not keep it.
std::optional<pidfd_exit> pidfd_exit_info(int pidfd) noexcept;

// The core dump mask alone (PIDFD_INFO_COREDUMP): set once the dump is
// over, before and after reaping; nullopt if the kernel does not report it.
std::optional<std::uint32_t> pidfd_coredump_mask(int pidfd) noexcept;

// The PIDFD_INFO_* bits the kernel fills in for this pidfd, asked for
// EXIT and COREDUMP: what PIDFD_GET_INFO offers here (a kernel that does
// not know a bit never sets it). nullopt if the ioctl fails.
std::optional<std::uint64_t> pidfd_info_mask(int pidfd) noexcept;

// name_to_handle_at(pidfd, "", AT_EMPTY_PATH): the file handle of a
// pidfd on pidfs (Linux 6.14); `handle` must have room for `capacity`
// bytes after its header.
void pidfd_file_handle(
    int pidfd, file_handle& handle, unsigned capacity, error_code& ec) noexcept;

// open_by_handle_at(mount_fd, handle, O_CLOEXEC | O_NONBLOCK): a pidfd
// again; mount_fd is FD_PIDFS_ROOT (Linux 6.17) or any pidfd. Returns the
// fd or -1 with ec set (ESTALE: the process has been reaped).
int open_pidfd_handle(
    int mount_fd, const file_handle& handle, error_code& ec) noexcept;

// The PID a pidfd refers to, from /proc/self/fdinfo ("Pid:"); -1 if the
// process was reaped, nullopt with ec set if fd is not a pidfd.
std::optional<pid_t> pidfd_pid(int pidfd, error_code& ec);

// poll(2) for POLLIN: true if the fd is readable now (for a pidfd: the
// process has exited).
bool is_readable(int fd) noexcept;

// Blocks until the fd is readable, retrying EINTR.
void wait_readable(int fd, error_code& ec) noexcept;

// poll(2) of one fd for `events`, retrying EINTR; timeout_ms -1 blocks.
// Returns revents, which holds POLLHUP or POLLERR whatever was asked for;
// 0 on timeout, or with ec set.
short poll_one(int fd, short events, int timeout_ms, error_code& ec) noexcept;

// writev(2), retrying EINTR; returns the bytes written, or -1 with ec set.
long writev(
    int fd, const iovec* iov, std::size_t count, error_code& ec) noexcept;

// writev(2) that takes what room there is and never sleeps (EAGAIN if
// none), on an fd that may be blocking: the open file description is made
// non-blocking for the one call and put back. For an fd whose reads must
// stay blocking (Asio's io_uring backend reads a blocking pty master in
// the kernel, and its cancellation relies on that) and that has no
// per-call RWF_NOWAIT (a tty refuses it). A read on the same description
// at that moment may see EAGAIN, which Asio's reads retry.
long writev_non_blocking(
    int fd, const iovec* iov, std::size_t count, error_code& ec) noexcept;

// timerfd_create(CLOCK_MONOTONIC, non-blocking, close-on-exec); returns the
// fd or -1 with ec set.
int timerfd_open(error_code& ec) noexcept;

// timerfd_settime: one expiry, `after` from now (0 would disarm it).
void timerfd_arm(
    int fd, std::chrono::nanoseconds after, error_code& ec) noexcept;

// close(2), once: Linux releases the fd even when close reports EINTR.
void close(int fd) noexcept;

// ioctl(FIONBIO): makes the open file description non-blocking, in one
// system call (fcntl would take two, F_GETFL and F_SETFL). It cannot fail
// on an open fd.
void set_non_blocking(int fd) noexcept;

// clone3(2) with the child starting on its own stack in fn(arg); fn must not
// return into the caller (it exits). Returns the child's PID in the parent,
// or -errno. Implemented in assembly (x86_64, aarch64). `size` is the part
// of args the kernel is told about: CLONE_ARGS_SIZE_VER0 unless a later
// field is used, so that a kernel (or a seccomp policy) that does not know
// the larger struct is asked only for what it knows.
long clone3(
    clone_args& args, std::size_t size, int (*fn)(void*), void* arg) noexcept;

// The same with the older clone(2), for kernels or seccomp policies without
// clone3: the child runs fn(arg) on the stack whose top is stack_top. Not
// glibc's clone(): sanitizer runtimes intercept that one and treat the
// child as a fork of their own state, which a CLONE_VM child is not.
long clone(
    unsigned long flags, void* stack_top, int (*fn)(void*), void* arg) noexcept;

// close_range(UINT_MAX, UINT_MAX, 0): probes for close_range (Linux 5.9)
// without closing anything.
bool close_range_supported() noexcept;

// write(2) with SIGPIPE blocked in the calling thread and any SIGPIPE it
// raised consumed, so a closed reader is EPIPE, never a dead parent.
long write_no_sigpipe(int fd, const void* data, std::size_t size) noexcept;

// clone3(NULL, 0): EINVAL if clone3 exists, ENOSYS or EPERM (seccomp) if
// not; never creates a process.
error_code probe_clone3() noexcept;

// Whether clone3 knows `flags` (and accepts them together with
// CLONE_PIDFD), without creating a process: they go with CLONE_INTO_CGROUP
// and a cgroup fd that is not open, so a kernel that knows them fails the
// clone late, with EBADF, while one that does not refuses them first, with
// EINVAL. Returns the error that says they are unknown or refused; clear
// if known.
error_code probe_clone3_flags(std::uint64_t flags) noexcept;

// rt_sigprocmask over the kernel's whole signal set, including the
// signals glibc reserves for itself (which pthread_sigmask refuses to
// block): a signal handler must not run in the child on shared memory.
void block_all_signals(sigset_t& old) noexcept;
void restore_signals(const sigset_t& old) noexcept;

// ---- files, processes and the rest ---------------------------------------
//
// The plain POSIX calls, so that the rest of the library makes none itself.
// Those that can be interrupted by a signal handler retry EINTR here.

// openat(2) with O_CLOEXEC added (no fd of the library leaks into a child
// spawned by other code), retrying EINTR; dir may be AT_FDCWD. Returns the
// fd or -1 with ec set.
int openat(int dir, const char* path, int flags, error_code& ec) noexcept;

// read(2), retrying EINTR; returns the bytes read, or -1 with ec set.
long read(int fd, void* data, std::size_t size, error_code& ec) noexcept;

// pread(2), retrying EINTR; returns the bytes read, or -1 with ec set.
long pread(int fd, void* data, std::size_t size, off_t offset,
    error_code& ec) noexcept;

// write(2), retrying EINTR; returns the bytes written, or -1 with ec set.
// A pipe without a reader raises SIGPIPE: see write_no_sigpipe.
long write(int fd, const void* data, std::size_t size, error_code& ec) noexcept;

// openat(dir, name, O_WRONLY), one write of `value`, close: a short value
// to a kernel file (cgroup.kill, /proc/PID/uid_map), which takes it whole
// in one write.
void write_file(
    int dir, const char* name, std::string_view value, error_code& ec) noexcept;

// fcntl(F_DUPFD_CLOEXEC): a close-on-exec duplicate, the lowest free
// number; returns it or -1 with ec set.
int dup_cloexec(int fd, error_code& ec) noexcept;

// fcntl(F_GETFD): true if fd is an open descriptor of this process.
bool is_open(int fd) noexcept;

// pipe2(2) with O_CLOEXEC: fds[0] the read end, fds[1] the write end.
void pipe(int (&fds)[2], error_code& ec) noexcept;

// eventfd(2), counter 0, non-blocking and close-on-exec; returns the fd or
// -1 with ec set.
int eventfd(error_code& ec) noexcept;

// ioctl(FIONBIO) as set_non_blocking above, reporting a failure (an fd
// that is not open).
void set_non_blocking(int fd, error_code& ec) noexcept;

// stat(2), fstat(2), fstatfs(2).
void stat(const char* path, struct stat& st, error_code& ec) noexcept;
void fstat(int fd, struct stat& st, error_code& ec) noexcept;
void fstatfs(int fd, struct statfs& fs, error_code& ec) noexcept;

// mkdirat(2) and unlinkat(2), relative to a directory fd.
void mkdirat(int dir, const char* name, mode_t mode, error_code& ec) noexcept;
void unlinkat(int dir, const char* name, int flags, error_code& ec) noexcept;

// Opens each subdirectory of the directory dir (not "." or ".."), read
// from dir's current offset, O_RDONLY | O_DIRECTORY | O_CLOEXEC, and
// appends its fd to out; one that cannot be opened (removed meanwhile) is
// skipped. Takes dir over and closes it. Through libc's readdir, which
// knows the layout of getdents64's records.
void open_subdirectories(int dir, std::vector<int>& out);

// kill(2): sig to a PID, or to a process group by -pgid.
void kill(pid_t pid, int sig, error_code& ec) noexcept;

// waitpid(2), retrying EINTR; returns the PID, 0 (WNOHANG, not yet), or -1
// with ec set.
pid_t waitpid(pid_t pid, int& status, int options, error_code& ec) noexcept;

// wait4(2), retrying EINTR; returns the PID, 0 (WNOHANG, not yet), or -1
// with ec set.
pid_t wait4(pid_t pid, int& status, int options, rusage& usage,
    error_code& ec) noexcept;

// waitid(P_PID, pid, &info, options), retrying EINTR. With WNOHANG,
// info.si_pid == 0 means "not yet".
void waitid_pid(
    pid_t pid, int options, siginfo_t& info, error_code& ec) noexcept;

// getpid(2), geteuid(2): they cannot fail.
pid_t getpid() noexcept;
uid_t geteuid() noexcept;

// prctl(PR_GET_DUMPABLE): false after a change of credentials (or
// PR_SET_DUMPABLE 0), which makes /proc/PID of this process and of its
// children (until they exec) root's.
bool is_dumpable() noexcept;

// getrlimit(2).
void getrlimit(int resource, rlimit& limit, error_code& ec) noexcept;

// uname(2): the kernel's name, release and version.
void uname(utsname& names, error_code& ec) noexcept;

// ---- io_uring -------------------------------------------------------------
//
// One io_uring instance through the kernel interface itself: io_uring_setup
// (Linux 5.1), the two rings and the submission entries mapped into this
// process, io_uring_enter to submit. Bookworm's liburing 2.3 predates the
// flags used here, and the library links nothing it does not need. Not
// thread-safe: its owner serialises every call. The kernel's side of the
// rings is read and written with acquire and release ordering, as the
// kernel's own smp_load_acquire / smp_store_release on the same words.
class uring
{
public:
  uring() noexcept = default;
  uring(const uring&) = delete;
  uring& operator=(const uring&) = delete;
  // Unmaps the rings and closes the fd: every request still in the kernel
  // is cancelled.
  ~uring() { close(); }

  // io_uring_setup with `sq_entries` submission entries and a completion
  // queue of `cq_entries` (IORING_SETUP_CQSIZE, Linux 5.5; both rounded up
  // to powers of two and clamped to the kernel's maximum), then maps the
  // rings. On failure the object stays closed and ec says why (EPERM for
  // kernel.io_uring_disabled or a seccomp policy, ENOSYS before 5.1).
  void open(unsigned sq_entries, unsigned cq_entries, error_code& ec) noexcept;

  void close() noexcept;

  bool is_open() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }

  // The IORING_FEAT_* bits the kernel reported at setup.
  std::uint32_t features() const noexcept { return features_; }

  // IORING_REGISTER_PROBE (Linux 5.6): true if the kernel knows `op`.
  bool supports(unsigned op) noexcept;

  // A zeroed submission entry, not yet visible to the kernel; nullptr if
  // the submission queue is full (submit() first).
  io_uring_sqe* get_sqe() noexcept;

  // Entries taken by get_sqe() that the kernel has not consumed yet.
  unsigned unsubmitted() const noexcept;

  // Publishes the entries taken and io_uring_enter(to_submit) them,
  // retrying EINTR; no wait for completions. Nothing to submit costs no
  // system call.
  void submit(error_code& ec) noexcept;

  // True if completions did not fit in the completion queue and the kernel
  // keeps them aside (IORING_FEAT_NODROP, Linux 5.5) until flushed.
  bool overflowed() const noexcept;

  // io_uring_enter(0, 0, IORING_ENTER_GETEVENTS): moves completions kept
  // aside into the queue, as far as there is room.
  void flush_overflow(error_code& ec) noexcept;

  // io_uring_enter(0, 1, IORING_ENTER_GETEVENTS): blocks until a
  // completion is in the queue (at once if one is).
  void wait_completion(error_code& ec) noexcept;

  // Takes the oldest completion into `out`; false if there is none.
  bool pop(io_uring_cqe& out) noexcept;

  // True if the completion queue holds a completion (pop() would take it).
  bool completions_waiting() const noexcept;

private:
  void unmap() noexcept;

  int fd_ = -1;
  std::uint32_t features_ = 0;
  // The mappings, for munmap (one if IORING_FEAT_SINGLE_MMAP, Linux 5.4).
  void* sq_map_ = nullptr;
  std::size_t sq_map_size_ = 0;
  void* cq_map_ = nullptr;
  std::size_t cq_map_size_ = 0;
  void* sqes_map_ = nullptr;
  std::size_t sqes_map_size_ = 0;
  // The kernel's words in the mapped rings.
  std::uint32_t* sq_head_ = nullptr;
  std::uint32_t* sq_tail_ = nullptr;
  std::uint32_t* sq_flags_ = nullptr;
  std::uint32_t sq_mask_ = 0;
  std::uint32_t sq_entries_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  std::uint32_t* cq_head_ = nullptr;
  std::uint32_t* cq_tail_ = nullptr;
  std::uint32_t cq_mask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
  // Our tail of the submission queue: entries up to it are ours to fill,
  // published to the kernel by submit().
  std::uint32_t sqe_tail_ = 0;
};

// ---- pseudo-terminals ----------------------------------------------------

// open(path, O_RDWR | O_NOCTTY | O_CLOEXEC) of a pty multiplexer
// (/dev/ptmx), retrying EINTR: posix_openpt(3) with the close-on-exec flag
// it cannot take, so no other child inherits the master. Returns the
// master or -1 with ec set.
int open_pty_master(const char* path, error_code& ec) noexcept;

// unlockpt(3): ioctl(TIOCSPTLCK, 0). A new pty is locked, and its
// terminal side cannot be opened until unlocked.
void unlock_pty(int master, error_code& ec) noexcept;

// The terminal side of a pty, O_RDWR | O_NOCTTY | O_CLOEXEC (O_NOCTTY so
// that it never becomes this process's controlling terminal): by
// ioctl(TIOCGPTPEER) (Linux 4.13), which opens it through the master's
// own devpts mount, else by its name (TIOCGPTN, as ptsname_r) under
// /dev/pts. Returns the fd or -1 with ec set.
int open_pty_peer(int master, error_code& ec) noexcept;

// ioctl(TIOCSWINSZ): the kernel sends SIGWINCH to the terminal's
// foreground process group when the size changes.
void set_window_size(
    int fd, unsigned short rows, unsigned short cols, error_code& ec) noexcept;

// tcgetattr(3) / tcsetattr(3, TCSANOW).
void get_terminal_modes(int fd, termios& modes, error_code& ec) noexcept;
void set_terminal_modes(int fd, const termios& modes, error_code& ec) noexcept;

// ---- child side ----------------------------------------------------------
//
// glibc's syscall() stores a failure in errno, which in the child is the
// suspended parent thread's errno (shared memory and TLS); the parent saves
// and restores errno around a spawn.

PIDFD_CHILD_CODE inline long child_result(long r) noexcept
{
  return r == -1 ? -errno : r;
}

PIDFD_CHILD_CODE inline long child_execve(
    const char* path, char* const argv[], char* const envp[]) noexcept
{
  return child_result(::syscall(SYS_execve, path, argv, envp));
}

[[noreturn]] PIDFD_CHILD_CODE inline void child_exit(int code) noexcept
{
  for (;;)
    ::syscall(SYS_exit_group, code);
}

// Takes a private copy of the shared fd table holding only fds below
// `first`, closing the rest (Linux 5.9). Nothing before this call may
// touch the table, which is still the parent's.
PIDFD_CHILD_CODE inline long child_close_range_unshare(
    unsigned int first) noexcept
{
  return child_result(
      ::syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_UNSHARE));
}

PIDFD_CHILD_CODE inline long child_close(int fd) noexcept
{
  return child_result(::syscall(SYS_close, fd));
}

// close_range(first, ~0, 0) on the child's private table.
PIDFD_CHILD_CODE inline long child_close_range(unsigned int first) noexcept
{
  return child_result(::syscall(SYS_close_range, first, ~0U, 0u));
}

PIDFD_CHILD_CODE inline long child_open(const char* path, int flags) noexcept
{
  return child_result(
      ::syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0666));
}

// A close-on-exec duplicate numbered `base` or more.
PIDFD_CHILD_CODE inline long child_dup_above(int fd, int base) noexcept
{
  return child_result(::syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, base));
}

// dup3 without flags: the target is not close-on-exec.
// execveat(fd, "", argv, envp, AT_EMPTY_PATH): the program open at fd.
PIDFD_CHILD_CODE inline long child_execveat(
    int fd, char* const argv[], char* const envp[]) noexcept
{
  return child_result(
      ::syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH));
}

// As child_dup2, but the target is left close-on-exec.
PIDFD_CHILD_CODE inline long child_dup2_cloexec(int from, int to) noexcept
{
  if (from == to)
    return child_result(::syscall(SYS_fcntl, to, F_SETFD, FD_CLOEXEC));
  return child_result(::syscall(SYS_dup3, from, to, O_CLOEXEC));
}

PIDFD_CHILD_CODE inline long child_dup2(int from, int to) noexcept
{
  if (from == to)
    return child_result(::syscall(SYS_fcntl, to, F_SETFD, 0));
  return child_result(::syscall(SYS_dup3, from, to, 0));
}

PIDFD_CHILD_CODE inline long child_write(
    int fd, const void* data, std::size_t size) noexcept
{
  return child_result(::syscall(SYS_write, fd, data, size));
}

// No EINTR here: the child runs no signal handler.
PIDFD_CHILD_CODE inline long child_read(
    int fd, void* data, std::size_t size) noexcept
{
  return child_result(::syscall(SYS_read, fd, data, size));
}

// prctl(PR_SET_DUMPABLE, 1): /proc/self's files become the child's own
// again after a credential change of the parent made them root's.
PIDFD_CHILD_CODE inline void child_set_dumpable() noexcept
{
  ::syscall(SYS_prctl, PR_SET_DUMPABLE, 1UL, 0UL, 0UL, 0UL);
}

PIDFD_CHILD_CODE inline long child_setsid() noexcept
{
  return child_result(::syscall(SYS_setsid));
}

// ioctl(TIOCSCTTY, 0): makes the terminal on fd the controlling terminal
// of the calling session leader, which has none yet (it just called
// setsid), and its process group the terminal's foreground group.
PIDFD_CHILD_CODE inline long child_set_controlling_terminal(int fd) noexcept
{
  return child_result(::syscall(SYS_ioctl, fd, TIOCSCTTY, 0));
}

PIDFD_CHILD_CODE inline long child_setpgid(pid_t group = 0) noexcept
{
  return child_result(::syscall(SYS_setpgid, 0, group));
}

// tcsetpgrp(fd, getpgrp()) with SIGTTOU blocked for the call: a process
// of a background group that changes the foreground would be stopped.
PIDFD_CHILD_CODE inline long child_take_foreground(int fd) noexcept
{
  const long group = ::syscall(SYS_getpgid, 0);
  if (group < 0)
    return child_result(group);
  // The kernel's sigset, built by hand: sigaddset may be intercepted by a
  // sanitizer runtime, which must not run here.
  const std::uint64_t ttou = std::uint64_t(1) << (SIGTTOU - 1);
  std::uint64_t old = 0;
  ::syscall(SYS_rt_sigprocmask, SIG_BLOCK, &ttou, &old, _NSIG / 8);
  const pid_t pgrp = static_cast<pid_t>(group);
  const long r = child_result(::syscall(SYS_ioctl, fd, TIOCSPGRP, &pgrp));
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, _NSIG / 8);
  return r;
}

// ioctl(fd, TIOCNOTTY): gives up the controlling terminal.
PIDFD_CHILD_CODE inline long child_detach_terminal(int fd) noexcept
{
  return child_result(::syscall(SYS_ioctl, fd, TIOCNOTTY, 0));
}

PIDFD_CHILD_CODE inline void child_umask(mode_t mask) noexcept
{
  ::syscall(SYS_umask, mask);
}

PIDFD_CHILD_CODE inline long child_chdir(const char* path) noexcept
{
  return child_result(::syscall(SYS_chdir, path));
}

// The raw system calls change only the calling thread's credentials (glibc
// broadcasts to every thread); the child has one thread.
PIDFD_CHILD_CODE inline long child_setgroups(
    std::size_t count, const gid_t* groups) noexcept
{
  return child_result(::syscall(SYS_setgroups, count, groups));
}

PIDFD_CHILD_CODE inline long child_setresgid(gid_t gid) noexcept
{
  return child_result(::syscall(SYS_setresgid, gid, gid, gid));
}

PIDFD_CHILD_CODE inline long child_setresuid(uid_t uid) noexcept
{
  return child_result(::syscall(SYS_setresuid, uid, uid, uid));
}

PIDFD_CHILD_CODE inline long child_set_pdeathsig(int sig) noexcept
{
  return child_result(::syscall(SYS_prctl, PR_SET_PDEATHSIG,
      static_cast<unsigned long>(sig), 0ul, 0ul, 0ul));
}

PIDFD_CHILD_CODE inline pid_t child_getppid() noexcept
{
  return static_cast<pid_t>(::syscall(SYS_getppid));
}

PIDFD_CHILD_CODE inline void child_raise(int sig) noexcept
{
  ::syscall(SYS_kill, ::syscall(SYS_getpid), sig);
}

// unshare(CLONE_FILES): a private copy of the whole fd table.
PIDFD_CHILD_CODE inline long child_unshare_files() noexcept
{
  return child_result(::syscall(SYS_unshare, CLONE_FILES));
}

PIDFD_CHILD_CODE inline long child_open_directory(const char* path) noexcept
{
  return child_result(::syscall(
      SYS_openat, AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

PIDFD_CHILD_CODE inline long child_getdents64(
    int fd, void* buf, unsigned int size) noexcept
{
  return child_result(::syscall(SYS_getdents64, fd, buf, size));
}

PIDFD_CHILD_CODE inline void child_set_signal_mask(
    const sigset_t& mask) noexcept
{
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, nullptr, _NSIG / 8);
}

// mount(NULL, "/", NULL, MS_REC | MS_PRIVATE): in a new mount namespace,
// every mount stops propagating to (and from) the parent's.
PIDFD_CHILD_CODE inline long child_make_mounts_private() noexcept
{
  return child_result(::syscall(
      SYS_mount, nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr));
}

PIDFD_CHILD_CODE inline long child_sethostname(
    const char* name, std::size_t size) noexcept
{
  return child_result(::syscall(SYS_sethostname, name, size));
}

PIDFD_CHILD_CODE inline long child_chroot(const char* path) noexcept
{
  return child_result(::syscall(SYS_chroot, path));
}

// prctl(PR_CAPBSET_DROP, cap).
PIDFD_CHILD_CODE inline long child_drop_bounding_capability(int cap) noexcept
{
  return child_result(::syscall(SYS_prctl, PR_CAPBSET_DROP,
      static_cast<unsigned long>(cap), 0UL, 0UL, 0UL));
}

// prctl(PR_SET_KEEPCAPS, on): the permitted capabilities survive a change
// from uid 0 to others (execve clears the flag).
PIDFD_CHILD_CODE inline long child_keep_capabilities(bool on) noexcept
{
  return child_result(
      ::syscall(SYS_prctl, PR_SET_KEEPCAPS, on ? 1UL : 0UL, 0UL, 0UL, 0UL));
}

// capset(2): the permitted, effective and inheritable sets all made
// `caps` (a bit per capability).
PIDFD_CHILD_CODE inline long child_set_capabilities(std::uint64_t caps) noexcept
{
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; ++i)
  {
    const auto word = static_cast<std::uint32_t>(caps >> (32 * i));
    data[i].effective = data[i].permitted = data[i].inheritable = word;
  }
  return child_result(::syscall(SYS_capset, &header, data));
}

// prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap): needs the capability
// in the permitted and inheritable sets.
PIDFD_CHILD_CODE inline long child_raise_ambient_capability(int cap) noexcept
{
  return child_result(::syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE,
      static_cast<unsigned long>(cap), 0UL, 0UL));
}

// setrlimit(2) of the child itself (prlimit64 on pid 0).
PIDFD_CHILD_CODE inline long child_set_limit(
    int resource, rlim_t soft, rlim_t hard) noexcept
{
  const rlimit limit{soft, hard};
  return child_result(::syscall(SYS_prlimit64, 0, resource, &limit, nullptr));
}

// setpriority(PRIO_PROCESS, 0, nice).
PIDFD_CHILD_CODE inline long child_set_nice(int nice) noexcept
{
  return child_result(::syscall(SYS_setpriority, PRIO_PROCESS, 0, nice));
}

// sched_setaffinity(0, ...): the CPUs the child may run on.
PIDFD_CHILD_CODE inline long child_set_affinity(const cpu_set_t& cpus) noexcept
{
  return child_result(::syscall(SYS_sched_setaffinity, 0, sizeof cpus, &cpus));
}

// prctl(PR_SET_NO_NEW_PRIVS, 1).
PIDFD_CHILD_CODE inline long child_set_no_new_privs() noexcept
{
  return child_result(
      ::syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL));
}

// seccomp(SECCOMP_SET_MODE_FILTER, 0, filter).
PIDFD_CHILD_CODE inline long child_set_seccomp_filter(
    const sock_fprog* filter) noexcept
{
  return child_result(
      ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0U, filter));
}

// The kernel's struct sigaction on x86_64 and aarch64 (and most other
// ports), for rt_sigaction itself: the wrapper is not used in the child
// because sanitizer runtimes intercept it and would update their tables in
// the parent's memory.
struct kernel_sigaction
{
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  std::uint64_t mask;
};
static_assert(_NSIG / 8 == sizeof(std::uint64_t));

// The default action for `sig`, ignored or caught.
PIDFD_CHILD_CODE inline long child_set_default_action(int sig) noexcept
{
  kernel_sigaction dfl{};
  dfl.handler = SIG_DFL;
  return child_result(
      ::syscall(SYS_rt_sigaction, sig, &dfl, nullptr, _NSIG / 8));
}

// Resets every caught signal to SIG_DFL, keeping ignored ones ignored (they
// stay ignored across execve, as POSIX requires). A handler left in place
// could run in the child, on the parent's memory, before execve.
PIDFD_CHILD_CODE inline void child_reset_signal_handlers() noexcept
{
  for (int sig = 1; sig < _NSIG; ++sig)
  {
    if (sig == SIGKILL || sig == SIGSTOP)
      continue;
    kernel_sigaction current{};
    if (::syscall(SYS_rt_sigaction, sig, nullptr, &current, _NSIG / 8) != 0)
      continue;
    if (current.handler == SIG_DFL || current.handler == SIG_IGN)
      continue;
    kernel_sigaction dfl{};
    dfl.handler = SIG_DFL;
    ::syscall(SYS_rt_sigaction, sig, &dfl, nullptr, _NSIG / 8);
  }
}

} // namespace pidfd::detail::sys

#endif // PIDFD_SRC_DETAIL_SYSCALLS_HPP
