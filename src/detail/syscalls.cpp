//
// src/detail/syscalls.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~
//

#include "detail/syscalls.hpp"
#include "detail/test_hooks.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <dirent.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/uio.h>

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "pidfd-asio supports Linux on x86_64 and aarch64"
#endif

namespace pidfd::detail::sys {
namespace {

// Makes a system call again while it fails with EINTR, then sets ec from
// its outcome (a negative result is a failure that set errno): the one
// EINTR loop of the wrappers that report an error_code.
template <typename Call>
auto retrying(error_code& ec, Call call) noexcept
{
  decltype(call()) r;
  do
    r = call();
  while (r < 0 && errno == EINTR);
  if (r < 0)
    ec = last_error();
  else
    ec.clear();
  return r;
}

// struct pidfd_info of <linux/pidfd.h> as Linux 6.16 has it (exit_code
// from 6.15, coredump_mask from 6.16), which Debian bookworm's headers
// predate. The ioctl is extensible: the size is encoded in the request,
// the kernel takes any size from PIDFD_INFO_SIZE_VER0 (64) up whose bytes
// past what it knows are zero, and fills what it knows; the bits it sets
// in `mask` say which fields it filled.
struct pidfd_info
{
  std::uint64_t mask;
  std::uint64_t cgroupid;
  std::uint32_t pid;
  std::uint32_t tgid;
  std::uint32_t ppid;
  std::uint32_t ruid;
  std::uint32_t rgid;
  std::uint32_t euid;
  std::uint32_t egid;
  std::uint32_t suid;
  std::uint32_t sgid;
  std::uint32_t fsuid;
  std::uint32_t fsgid;
  std::int32_t exit_code; // spare0 before Linux 6.15
  std::uint32_t coredump_mask; // Linux 6.16
  std::uint32_t spare1;
};
static_assert(sizeof(pidfd_info) == 72); // PIDFD_INFO_SIZE_VER1

constexpr unsigned long pidfd_get_info =
    _IOWR(0xFF /* PIDFS_IOCTL_MAGIC */, 11, pidfd_info);
constexpr std::uint64_t pidfd_info_exit = 1u << 3;
constexpr std::uint64_t pidfd_info_coredump = 1u << 4;

// ioctl(PIDFD_GET_INFO) asking for `mask`; false if it failed (ESRCH for a
// reaped process when PIDFD_INFO_EXIT is not asked for or not kept).
bool get_pidfd_info(int pidfd, std::uint64_t mask, pidfd_info& info) noexcept
{
  info = pidfd_info{};
  info.mask = mask;
  return ::ioctl(pidfd, pidfd_get_info, &info) == 0;
}

} // namespace

int pidfd_open(pid_t pid, unsigned int flags, error_code& ec) noexcept
{
  long fd = ::syscall(SYS_pidfd_open, pid, flags);
  if (fd < 0)
  {
    ec = last_error();
    return -1;
  }
  ec.clear();
  return static_cast<int>(fd);
}

void pidfd_send_signal(int pidfd, int sig, error_code& ec) noexcept
{
  pidfd_send_signal(pidfd, sig, 0, ec);
}

void pidfd_send_signal(
    int pidfd, int sig, unsigned long flags, error_code& ec) noexcept
{
  // The kernel takes the flags as an unsigned int.
  if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr,
          static_cast<unsigned int>(flags))
      != 0)
    ec = last_error();
  else
    ec.clear();
}

void waitid_pidfd(int pidfd, int options, siginfo_t& info, rusage& usage,
    error_code& ec) noexcept
{
  for (;;)
  {
    info.si_pid = 0;
    if (::syscall(SYS_waitid, P_PIDFD, pidfd, &info, options, &usage) == 0)
    {
      ec.clear();
      return;
    }
    if (errno != EINTR)
    {
      ec = last_error();
      return;
    }
  }
}

std::optional<pidfd_exit> pidfd_exit_info(int pidfd) noexcept
{
  pidfd_info info;
  if (!get_pidfd_info(pidfd, pidfd_info_exit | pidfd_info_coredump, info)
      || !(info.mask & pidfd_info_exit))
    return std::nullopt;
  pidfd_exit out;
  out.wait_status = info.exit_code;
  if (info.mask & pidfd_info_coredump)
    out.coredump_mask = info.coredump_mask;
  return out;
}

std::optional<std::uint32_t> pidfd_coredump_mask(int pidfd) noexcept
{
  pidfd_info info;
  if (!get_pidfd_info(pidfd, pidfd_info_exit | pidfd_info_coredump, info)
      || !(info.mask & pidfd_info_coredump))
    return std::nullopt;
  return info.coredump_mask;
}

std::optional<std::uint64_t> pidfd_info_mask(int pidfd) noexcept
{
  pidfd_info info;
  if (!get_pidfd_info(pidfd, pidfd_info_exit | pidfd_info_coredump, info))
    return std::nullopt;
  return info.mask;
}

std::optional<pid_t> pidfd_pid(int pidfd, error_code& ec)
{
  // fdinfo of a pidfd has "Pid:\t<pid>" (Linux 5.3); -1 once reaped.
  std::string path = "/proc/self/fdinfo/" + std::to_string(pidfd);
  const int fd = openat(AT_FDCWD, path.c_str(), O_RDONLY, ec);
  if (fd < 0)
    return std::nullopt;
  char buf[1024];
  const long n = read(fd, buf, sizeof buf - 1, ec);
  close(fd);
  if (n < 0)
    return std::nullopt;
  buf[n] = '\0';
  const char* line = std::strstr(buf, "\nPid:");
  if (!line)
  {
    ec = boost::system::errc::make_error_code(
        boost::system::errc::bad_file_descriptor);
    return std::nullopt;
  }
  ec.clear();
  return static_cast<pid_t>(std::strtol(line + 5, nullptr, 10));
}

bool is_readable(int fd) noexcept
{
  error_code ec;
  return poll_one(fd, POLLIN, 0, ec) & (POLLIN | POLLHUP);
}

void wait_readable(int fd, error_code& ec) noexcept
{
  poll_one(fd, POLLIN, -1, ec);
}

void set_non_blocking(int fd) noexcept
{
  int on = 1;
  ::ioctl(fd, FIONBIO, &on);
}

short poll_one(int fd, short events, int timeout_ms, error_code& ec) noexcept
{
  ec.clear();
  pollfd p{fd, events, 0};
  int r;
  do
    r = ::poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r < 0)
  {
    ec = last_error();
    return 0;
  }
  return r == 0 ? 0 : p.revents;
}

long writev(
    int fd, const iovec* iov, std::size_t count, error_code& ec) noexcept
{
  return retrying(
      ec, [&] { return ::writev(fd, iov, static_cast<int>(count)); });
}

long writev_non_blocking(
    int fd, const iovec* iov, std::size_t count, error_code& ec) noexcept
{
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0)
  {
    ec = last_error();
    return -1;
  }
  if (flags & O_NONBLOCK)
    return writev(fd, iov, count, ec);
  int on = 1;
  ::ioctl(fd, FIONBIO, &on);
  const long n = writev(fd, iov, count, ec);
  int off = 0;
  ::ioctl(fd, FIONBIO, &off);
  return n;
}

int timerfd_open(error_code& ec) noexcept
{
  ec.clear();
  const int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0)
    ec = last_error();
  return fd;
}

void timerfd_arm(
    int fd, std::chrono::nanoseconds after, error_code& ec) noexcept
{
  ec.clear();
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(after);
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(s.count());
  spec.it_value.tv_nsec = static_cast<long>((after - s).count());
  if (::timerfd_settime(fd, 0, &spec, nullptr) < 0)
    ec = last_error();
}

void close(int fd) noexcept
{
  ::close(fd);
}

long write_no_sigpipe(int fd, const void* data, std::size_t size) noexcept
{
  // SIGPIPE from write(2) is directed at the writing thread: block it,
  // and accept it with sigtimedwait only if it was not already pending
  // (then it belongs to someone else).
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t pending;
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  ssize_t n;
  do
    n = ::write(fd, data, size);
  while (n < 0 && errno == EINTR);
  const int err = errno;
  // A write that filled the pipe before the reader left returns a count,
  // yet raises SIGPIPE too: look at what is pending, not at the result.
  if (!was_pending)
  {
    sigpending(&pending);
    timespec zero{};
    if (sigismember(&pending, SIGPIPE))
      while (::sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR)
      {
      }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return n < 0 ? -err : n;
}

bool close_range_supported() noexcept
{
  return ::syscall(SYS_close_range, ~0U, ~0U, 0u) == 0;
}

error_code probe_clone3() noexcept
{
  if (::syscall(SYS_clone3, nullptr, 0) == 0)
    return {}; // cannot happen: size 0 is always rejected
  if (errno == EINVAL)
    return {};
  return last_error();
}

error_code probe_clone3_flags(std::uint64_t flags) noexcept
{
  int pidfd = -1;
  clone_args args{};
  args.flags = flags | CLONE_PIDFD | CLONE_INTO_CGROUP;
  args.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
  args.exit_signal = 0;
  args.cgroup = INT_MAX; // never an open fd: the lowest free one is used
  const long r = ::syscall(SYS_clone3, &args, CLONE_ARGS_SIZE_VER2);
  if (r == 0)
    ::syscall(SYS_exit, 0); // a child after all (a fork): leave at once
  if (r > 0)
  {
    // Created after all: closing the pidfd kills it (AUTOKILL), and the
    // kernel reaps it (AUTOREAP).
    if (pidfd >= 0)
      ::close(pidfd);
    return {};
  }
  if (errno == EBADF)
    return {};
  return last_error();
}

void block_all_signals(sigset_t& old) noexcept
{
  sigset_t all;
  std::memset(&all, 0xff, sizeof all);
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, _NSIG / 8);
}

void restore_signals(const sigset_t& old) noexcept
{
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, _NSIG / 8);
}

int openat(int dir, const char* path, int flags, error_code& ec) noexcept
{
  return retrying(ec, [&] { return ::openat(dir, path, flags | O_CLOEXEC); });
}

long read(int fd, void* data, std::size_t size, error_code& ec) noexcept
{
  return retrying(ec, [&] { return ::read(fd, data, size); });
}

long pread(
    int fd, void* data, std::size_t size, off_t offset, error_code& ec) noexcept
{
  return retrying(ec, [&] { return ::pread(fd, data, size, offset); });
}

long write(int fd, const void* data, std::size_t size, error_code& ec) noexcept
{
  return retrying(ec, [&] { return ::write(fd, data, size); });
}

void write_file(
    int dir, const char* name, std::string_view value, error_code& ec) noexcept
{
  const int fd = openat(dir, name, O_WRONLY, ec);
  if (fd < 0)
    return;
  write(fd, value.data(), value.size(), ec);
  close(fd);
}

int dup_cloexec(int fd, error_code& ec) noexcept
{
  const int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0)
    ec = last_error();
  else
    ec.clear();
  return dup;
}

bool is_open(int fd) noexcept
{
  return fd >= 0 && ::fcntl(fd, F_GETFD) != -1;
}

void pipe(int (&fds)[2], error_code& ec) noexcept
{
  if (::pipe2(fds, O_CLOEXEC) != 0)
    ec = last_error();
  else
    ec.clear();
}

int eventfd(error_code& ec) noexcept
{
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0)
    ec = last_error();
  else
    ec.clear();
  return fd;
}

void set_non_blocking(int fd, error_code& ec) noexcept
{
  int on = 1;
  if (::ioctl(fd, FIONBIO, &on) != 0)
    ec = last_error();
  else
    ec.clear();
}

void stat(const char* path, struct stat& st, error_code& ec) noexcept
{
  if (::stat(path, &st) != 0)
    ec = last_error();
  else
    ec.clear();
}

void fstat(int fd, struct stat& st, error_code& ec) noexcept
{
  if (::fstat(fd, &st) != 0)
    ec = last_error();
  else
    ec.clear();
}

void fstatfs(int fd, struct statfs& fs, error_code& ec) noexcept
{
  if (::fstatfs(fd, &fs) != 0)
    ec = last_error();
  else
    ec.clear();
}

void mkdirat(int dir, const char* name, mode_t mode, error_code& ec) noexcept
{
  if (::mkdirat(dir, name, mode) != 0)
    ec = last_error();
  else
    ec.clear();
}

void unlinkat(int dir, const char* name, int flags, error_code& ec) noexcept
{
  if (::unlinkat(dir, name, flags) != 0)
    ec = last_error();
  else
    ec.clear();
}

void open_subdirectories(int dir, std::vector<int>& out)
{
  DIR* d = ::fdopendir(dir);
  if (!d)
  {
    ::close(dir);
    return;
  }
  while (const dirent* e = ::readdir(d))
  {
    if (e->d_type != DT_DIR || std::strcmp(e->d_name, ".") == 0
        || std::strcmp(e->d_name, "..") == 0)
      continue;
    error_code ignored;
    const int sub =
        openat(::dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY, ignored);
    if (sub >= 0)
      out.push_back(sub);
  }
  ::closedir(d);
}

void kill(pid_t pid, int sig, error_code& ec) noexcept
{
  if (::kill(pid, sig) != 0)
    ec = last_error();
  else
    ec.clear();
}

pid_t waitpid(pid_t pid, int& status, int options, error_code& ec) noexcept
{
  return retrying(ec, [&] { return ::waitpid(pid, &status, options); });
}

pid_t wait4(
    pid_t pid, int& status, int options, rusage& usage, error_code& ec) noexcept
{
  return retrying(ec, [&] { return ::wait4(pid, &status, options, &usage); });
}

void waitid_pid(
    pid_t pid, int options, siginfo_t& info, error_code& ec) noexcept
{
  for (;;)
  {
    info.si_pid = 0;
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, options) == 0)
    {
      ec.clear();
      return;
    }
    if (errno != EINTR)
    {
      ec = last_error();
      return;
    }
  }
}

pid_t getpid() noexcept
{
  return ::getpid();
}

uid_t geteuid() noexcept
{
  return ::geteuid();
}

void pidfd_file_handle(
    int pidfd, file_handle& handle, unsigned capacity, error_code& ec) noexcept
{
  handle.handle_bytes = capacity;
  int mount_id = 0;
  if (::name_to_handle_at(pidfd, "", &handle, &mount_id, AT_EMPTY_PATH) != 0)
    ec = last_error();
  else
    ec.clear();
}

int open_pidfd_handle(
    int mount_fd, const file_handle& handle, error_code& ec) noexcept
{
  return retrying(ec, [&] {
    return ::open_by_handle_at(
        mount_fd, const_cast<file_handle*>(&handle), O_CLOEXEC | O_NONBLOCK);
  });
}

bool is_dumpable() noexcept
{
  return ::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1;
}

void getrlimit(int resource, rlimit& limit, error_code& ec) noexcept
{
  if (::getrlimit(resource, &limit) != 0)
    ec = last_error();
  else
    ec.clear();
}

void uname(utsname& names, error_code& ec) noexcept
{
  if (::uname(&names) != 0)
    ec = last_error();
  else
    ec.clear();
}

int open_pty_master(const char* path, error_code& ec) noexcept
{
  return openat(AT_FDCWD, path, O_RDWR | O_NOCTTY, ec);
}

void unlock_pty(int master, error_code& ec) noexcept
{
  ec.clear();
  int unlock = 0;
  if (::ioctl(master, TIOCSPTLCK, &unlock) != 0)
    ec = last_error();
}

int open_pty_peer(int master, error_code& ec) noexcept
{
  ec.clear();
  const int flags = O_RDWR | O_NOCTTY | O_CLOEXEC;
  int fd;
  if (!test_hooks::no_tiocgptpeer())
  {
    fd = ::ioctl(master, TIOCGPTPEER, flags);
    if (fd >= 0)
      return fd;
    // Linux < 4.13 knows no TIOCGPTPEER (ENOTTY, or EINVAL from some
    // drivers); anything else is a real failure (EMFILE, EIO, ...).
    if (errno != ENOTTY && errno != EINVAL)
    {
      ec = last_error();
      return -1;
    }
  }
  unsigned int number = 0;
  if (::ioctl(master, TIOCGPTN, &number) != 0)
  {
    ec = last_error();
    return -1;
  }
  char path[32];
  std::snprintf(path, sizeof path, "/dev/pts/%u", number);
  return openat(AT_FDCWD, path, flags, ec);
}

void set_window_size(
    int fd, unsigned short rows, unsigned short cols, error_code& ec) noexcept
{
  ec.clear();
  winsize size{};
  size.ws_row = rows;
  size.ws_col = cols;
  if (::ioctl(fd, TIOCSWINSZ, &size) != 0)
    ec = last_error();
}

void get_terminal_modes(int fd, termios& modes, error_code& ec) noexcept
{
  ec.clear();
  if (::tcgetattr(fd, &modes) != 0)
    ec = last_error();
}

void set_terminal_modes(int fd, const termios& modes, error_code& ec) noexcept
{
  retrying(ec, [&] { return ::tcsetattr(fd, TCSANOW, &modes); });
}

// ---- io_uring ---------------------------------------------------------------

namespace {

// The kernel's words in the mapped rings, read and written as the kernel
// does on its side (smp_load_acquire, smp_store_release).
std::uint32_t load_acquire(const std::uint32_t* word) noexcept
{
  return std::atomic_ref<const std::uint32_t>(*word).load(
      std::memory_order_acquire);
}

void store_release(std::uint32_t* word, std::uint32_t value) noexcept
{
  std::atomic_ref<std::uint32_t>(*word).store(value, std::memory_order_release);
}

template <typename T>
T* at(void* base, std::uint32_t offset) noexcept
{
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

void* map_ring(int fd, std::size_t size, off_t offset, error_code& ec) noexcept
{
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
      MAP_SHARED | MAP_POPULATE, fd, offset);
  if (p == MAP_FAILED)
  {
    ec = last_error();
    return nullptr;
  }
  return p;
}

// io_uring_enter(2) without a signal mask, retrying EINTR.
int uring_enter(int fd, unsigned to_submit, unsigned min_complete,
    unsigned flags, error_code& ec) noexcept
{
  return static_cast<int>(retrying(ec, [&] {
    return ::syscall(
        SYS_io_uring_enter, fd, to_submit, min_complete, flags, nullptr, 0UL);
  }));
}

} // namespace

void uring::open(
    unsigned sq_entries, unsigned cq_entries, error_code& ec) noexcept
{
  close();
  io_uring_params p{};
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
  p.cq_entries = cq_entries;
  const long fd = ::syscall(SYS_io_uring_setup, sq_entries, &p);
  if (fd < 0)
  {
    ec = last_error();
    return;
  }
  fd_ = static_cast<int>(fd);
  features_ = p.features;
  ec.clear();

  sq_map_size_ = p.sq_off.array + p.sq_entries * sizeof(std::uint32_t);
  cq_map_size_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  if (features_ & IORING_FEAT_SINGLE_MMAP)
    sq_map_size_ = cq_map_size_ = std::max(sq_map_size_, cq_map_size_);
  sq_map_ = map_ring(fd_, sq_map_size_, IORING_OFF_SQ_RING, ec);
  if (!ec)
  {
    cq_map_ = features_ & IORING_FEAT_SINGLE_MMAP
        ? sq_map_
        : map_ring(fd_, cq_map_size_, IORING_OFF_CQ_RING, ec);
  }
  if (!ec)
  {
    sqes_map_size_ = p.sq_entries * sizeof(io_uring_sqe);
    sqes_map_ = map_ring(fd_, sqes_map_size_, IORING_OFF_SQES, ec);
  }
  if (ec)
  {
    close();
    return;
  }
  sq_head_ = at<std::uint32_t>(sq_map_, p.sq_off.head);
  sq_tail_ = at<std::uint32_t>(sq_map_, p.sq_off.tail);
  sq_flags_ = at<std::uint32_t>(sq_map_, p.sq_off.flags);
  sq_mask_ = *at<std::uint32_t>(sq_map_, p.sq_off.ring_mask);
  sq_entries_ = *at<std::uint32_t>(sq_map_, p.sq_off.ring_entries);
  sqes_ = static_cast<io_uring_sqe*>(sqes_map_);
  cq_head_ = at<std::uint32_t>(cq_map_, p.cq_off.head);
  cq_tail_ = at<std::uint32_t>(cq_map_, p.cq_off.tail);
  cq_mask_ = *at<std::uint32_t>(cq_map_, p.cq_off.ring_mask);
  cqes_ = at<io_uring_cqe>(cq_map_, p.cq_off.cqes);
  // The submission queue holds indices into the entries; entry i always
  // sits at slot i, so the array is written once, here.
  std::uint32_t* array = at<std::uint32_t>(sq_map_, p.sq_off.array);
  for (std::uint32_t i = 0; i < sq_entries_; ++i)
    array[i] = i;
  sqe_tail_ = *sq_tail_;
}

void uring::unmap() noexcept
{
  if (sqes_map_)
    ::munmap(sqes_map_, sqes_map_size_);
  if (cq_map_ && cq_map_ != sq_map_)
    ::munmap(cq_map_, cq_map_size_);
  if (sq_map_)
    ::munmap(sq_map_, sq_map_size_);
  sq_map_ = cq_map_ = sqes_map_ = nullptr;
}

void uring::close() noexcept
{
  unmap();
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
  features_ = 0;
  sqe_tail_ = 0;
}

bool uring::supports(unsigned op) noexcept
{
  constexpr unsigned ops = 256;
  alignas(io_uring_probe) unsigned char
      buffer[sizeof(io_uring_probe) + ops * sizeof(io_uring_probe_op)]{};
  auto* probe = reinterpret_cast<io_uring_probe*>(buffer);
  if (::syscall(SYS_io_uring_register, fd_, IORING_REGISTER_PROBE, probe, ops)
      != 0)
    return false;
  return op <= probe->last_op && op < ops
      && (probe->ops[op].flags & IO_URING_OP_SUPPORTED);
}

io_uring_sqe* uring::get_sqe() noexcept
{
  if (sqe_tail_ - load_acquire(sq_head_) >= sq_entries_)
    return nullptr;
  io_uring_sqe* sqe = &sqes_[sqe_tail_ & sq_mask_];
  ++sqe_tail_;
  *sqe = io_uring_sqe{};
  return sqe;
}

unsigned uring::unsubmitted() const noexcept
{
  return fd_ < 0 ? 0 : sqe_tail_ - load_acquire(sq_head_);
}

void uring::submit(error_code& ec) noexcept
{
  ec.clear();
  const unsigned n = unsubmitted();
  if (n == 0)
    return;
  store_release(sq_tail_, sqe_tail_);
  uring_enter(fd_, n, 0, 0, ec);
}

bool uring::overflowed() const noexcept
{
  return load_acquire(sq_flags_) & IORING_SQ_CQ_OVERFLOW;
}

void uring::flush_overflow(error_code& ec) noexcept
{
  uring_enter(fd_, 0, 0, IORING_ENTER_GETEVENTS, ec);
}

void uring::wait_completion(error_code& ec) noexcept
{
  uring_enter(fd_, 0, 1, IORING_ENTER_GETEVENTS, ec);
}

bool uring::pop(io_uring_cqe& out) noexcept
{
  const std::uint32_t head = *cq_head_; // only we write it
  if (head == load_acquire(cq_tail_))
    return false;
  const io_uring_cqe& cqe = cqes_[head & cq_mask_];
  out.user_data = cqe.user_data;
  out.res = cqe.res;
  out.flags = cqe.flags;
  store_release(cq_head_, head + 1);
  return true;
}

bool uring::completions_waiting() const noexcept
{
  return *cq_head_ != load_acquire(cq_tail_); // only we write the head
}

} // namespace pidfd::detail::sys

// clone3 with a stack switch. glibc exports no clone3 wrapper, and clone3
// starts the child on the new stack at the instruction after the system
// call, so the child must not return through C++ frames: it calls fn(arg)
// and exits. Registers other than the return value survive the system call
// in the child, which is how fn and arg reach it.
extern "C" long pidfd_asio_clone3(
    clone_args* args, std::size_t size, int (*fn)(void*), void* arg);

// clone(2) the same way. Its other arguments (parent/child tid pointers,
// tls) are read only with flags we never pass; they are zeroed.
extern "C" long pidfd_asio_clone(
    unsigned long flags, void* stack_top, int (*fn)(void*), void* arg);

#if defined(__x86_64__)
asm(R"(
    .text
    .p2align 4
    .globl  pidfd_asio_clone3
    .hidden pidfd_asio_clone3
    .type   pidfd_asio_clone3, @function
pidfd_asio_clone3:
    .cfi_startproc
    mov     %rcx, %r8          # arg: syscall clobbers rcx and r11
    mov     %rdx, %r9          # fn
    mov     $435, %eax         # __NR_clone3
    syscall
    test    %rax, %rax
    jz      pidfd_asio_run_child
    ret                        # parent: pid or -errno
    .cfi_endproc
    .size   pidfd_asio_clone3, .-pidfd_asio_clone3

    .p2align 4
    .globl  pidfd_asio_clone
    .hidden pidfd_asio_clone
    .type   pidfd_asio_clone, @function
pidfd_asio_clone:
    .cfi_startproc
    and     $-16, %rsi         # clone reads rdi, rsi, rdx, r10 and r8, so
    sub     $16, %rsi          # fn and arg go on the child's stack
    mov     %rcx, (%rsi)
    mov     %rdx, 8(%rsi)
    xor     %edx, %edx         # parent_tid
    xor     %r10d, %r10d       # child_tid
    xor     %r8d, %r8d         # tls
    mov     $56, %eax          # __NR_clone
    syscall
    test    %rax, %rax
    jz      1f
    ret                        # parent: pid or -errno
1:  pop     %r8                # child: arg
    pop     %r9                # fn; the stack is 16-byte aligned again
    jmp     pidfd_asio_run_child
    .cfi_endproc
    .size   pidfd_asio_clone, .-pidfd_asio_clone

    # The child, on its new stack: exit_group(fn(arg)), arg in r8, fn in r9.
    .p2align 4
    .type   pidfd_asio_run_child, @function
pidfd_asio_run_child:
    .cfi_startproc
    .cfi_undefined rip
    xor     %ebp, %ebp
    mov     %r8, %rdi
    call    *%r9
    mov     %eax, %edi
    mov     $231, %eax         # __NR_exit_group
    syscall
    hlt
    .cfi_endproc
    .size   pidfd_asio_run_child, .-pidfd_asio_run_child
    .section .note.GNU-stack,"",@progbits
    .text
)");
#elif defined(__aarch64__)
asm(R"(
    .text
    .p2align 2
    .globl  pidfd_asio_clone3
    .hidden pidfd_asio_clone3
    .type   pidfd_asio_clone3, %function
pidfd_asio_clone3:
    .cfi_startproc
    mov     x9, x2             // fn
    mov     x10, x3            // arg
    mov     x8, #435           // __NR_clone3
    svc     #0
    cbz     x0, pidfd_asio_run_child
    ret                        // parent: pid or -errno
    .cfi_endproc
    .size   pidfd_asio_clone3, .-pidfd_asio_clone3

    .p2align 2
    .globl  pidfd_asio_clone
    .hidden pidfd_asio_clone
    .type   pidfd_asio_clone, %function
pidfd_asio_clone:
    .cfi_startproc
    mov     x9, x2             // fn
    mov     x10, x3            // arg
    mov     x2, #0             // parent_tid
    mov     x3, #0             // tls
    mov     x4, #0             // child_tid
    mov     x8, #220           // __NR_clone
    svc     #0
    cbz     x0, pidfd_asio_run_child
    ret                        // parent: pid or -errno
    .cfi_endproc
    .size   pidfd_asio_clone, .-pidfd_asio_clone

    // The child, on its new stack: exit_group(fn(arg)), fn in x9, arg in x10.
    .p2align 2
    .type   pidfd_asio_run_child, %function
pidfd_asio_run_child:
    .cfi_startproc
    .cfi_undefined x30
    mov     x29, #0
    mov     x30, #0
    mov     x0, x10
    blr     x9
    mov     x8, #94            // __NR_exit_group
    svc     #0
    brk     #0
    .cfi_endproc
    .size   pidfd_asio_run_child, .-pidfd_asio_run_child
    .section .note.GNU-stack,"",%progbits
    .text
)");
#endif

namespace pidfd::detail::sys {

long clone3(
    clone_args& args, std::size_t size, int (*fn)(void*), void* arg) noexcept
{
  return pidfd_asio_clone3(&args, size, fn, arg);
}

long clone(
    unsigned long flags, void* stack_top, int (*fn)(void*), void* arg) noexcept
{
  return pidfd_asio_clone(flags, stack_top, fn, arg);
}

} // namespace pidfd::detail::sys
