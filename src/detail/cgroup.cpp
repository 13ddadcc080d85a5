//
// src/detail/cgroup.cpp
// ~~~~~~~~~~~~~~~~~~~~~
// cgroup v2 for process trees. The cgroup is held by a directory fd from
// the start, so that a rename or a mount change afterwards cannot make the
// library act on another directory; every file in it is opened with openat.
//

#include "detail/cgroup.hpp"
#include "detail/syscalls.hpp"
#include "detail/test_hooks.hpp"

#include "pidfd/engine/process_state.hpp"
#include "pidfd/error.hpp"

#include <array>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270 // <linux/magic.h>
#endif

namespace pidfd::detail {
namespace {

namespace errc = boost::system::errc;

// Reads a whole small file (cgroup.procs, cgroup.events) from offset 0.
bool read_all(int fd, std::string& out, error_code& ec)
{
  out.clear();
  char buf[4096];
  for (off_t off = 0;;)
  {
    const long n = sys::pread(fd, buf, sizeof buf, off, ec);
    if (n < 0)
      return false;
    if (n == 0)
      break;
    out.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  ec.clear();
  return true;
}

// cgroup.events ("populated N", "frozen N"), read from offset 0 into
// `buf`, not the heap: every tree wait reads it at each wake. Keys a newer
// kernel may add past the buffer's end are not ours.
std::string_view read_events(int fd, std::array<char, 256>& buf, error_code& ec)
{
  std::size_t size = 0;
  while (size < buf.size())
  {
    const long n = sys::pread(
        fd, buf.data() + size, buf.size() - size, static_cast<off_t>(size), ec);
    if (n < 0)
      return {};
    if (n == 0)
      break;
    size += static_cast<std::size_t>(n);
  }
  ec.clear();
  return {buf.data(), size};
}

// The value of "key N" in a cgroup.events text; -1 if absent.
int event_value(std::string_view text, std::string_view key)
{
  std::size_t pos = 0;
  while (pos < text.size())
  {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos)
      end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.size() > key.size() + 1 && line.substr(0, key.size()) == key
        && line[key.size()] == ' ')
      return line[key.size() + 1] == '1' ? 1 : 0;
    pos = end + 1;
  }
  return -1;
}

// Blocks until a cgroup.events fd reports a change (POLLPRI; kernfs adds
// POLLERR).
void wait_change(int fd, error_code& ec) noexcept
{
  sys::poll_one(fd, POLLPRI, -1, ec);
}

bool is_cgroup2(int fd) noexcept
{
  struct statfs fs
  {
  };
  error_code ec;
  sys::fstatfs(fd, fs, ec);
  return !ec && static_cast<unsigned long>(fs.f_type) == CGROUP2_SUPER_MAGIC;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view s)
{
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i)
  {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3')
    {
      out += static_cast<char>(
          (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    }
    else
      out += s[i];
  }
  return out;
}

// An absolute path for a placement: relative ones are under the mount.
std::optional<std::string> resolve(const std::string& path, error_code& ec)
{
  if (!path.empty() && path.front() == '/')
    return path;
  std::optional<std::string> mount = cgroup2_mount(ec);
  if (!mount)
    return std::nullopt;
  if (path.empty())
    return mount;
  return *mount + "/" + path;
}

std::atomic<unsigned long> created_count{0};

bool same_file(const struct stat& a, const struct stat& b) noexcept
{
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// True if this process is in the cgroup `dir` or below it: a tree that
// holds the caller must not be killed or frozen (the caller would never
// thaw it). Found by walking up from our own cgroup ("0::" in
// /proc/self/cgroup) to the mount's root, comparing directories, which
// also works for a cgroup given by fd.
bool holds_self(int dir)
{
  struct stat target
  {
  };
  error_code ec;
  sys::fstat(dir, target, ec);
  if (ec)
    return false;
  std::optional<std::string> mount = cgroup2_mount(ec);
  int fd = sys::openat(AT_FDCWD, "/proc/self/cgroup", O_RDONLY, ec);
  if (!mount || fd < 0)
  {
    if (fd >= 0)
      sys::close(fd);
    return false;
  }
  std::string text;
  read_all(fd, text, ec);
  sys::close(fd);
  std::size_t at = text.find("0::");
  if (at != 0 && at != std::string::npos)
    at = text.find("\n0::");
  if (at == std::string::npos)
    return false;
  at = text.find("::", at) + 2;
  std::string own = *mount + text.substr(at, text.find('\n', at) - at);
  int cur = sys::openat(AT_FDCWD, own.c_str(), O_RDONLY | O_DIRECTORY, ec);
  bool held = false;
  // A cgroup hierarchy is far less deep than this bound.
  for (int depth = 0; cur >= 0 && depth < 4096; ++depth)
  {
    struct stat st
    {
    };
    sys::fstat(cur, st, ec);
    if (ec || st.st_dev != target.st_dev)
      break;
    if (same_file(st, target))
    {
      held = true;
      break;
    }
    int up = sys::openat(cur, "..", O_RDONLY | O_DIRECTORY, ec);
    struct stat up_st
    {
    };
    if (up >= 0)
      sys::fstat(up, up_st, ec);
    if (up >= 0 && !ec && same_file(up_st, st))
    {
      sys::close(up); // the mount's root is its own parent
      up = -1;
    }
    sys::close(cur);
    cur = up;
  }
  if (cur >= 0)
    sys::close(cur);
  return held;
}

} // namespace

std::optional<std::string> cgroup2_mount(error_code& ec)
{
  int fd = sys::openat(AT_FDCWD, "/proc/self/mountinfo", O_RDONLY, ec);
  if (fd < 0)
    return std::nullopt;
  // pread from 0 reads the whole table, however long.
  std::string text;
  bool ok = read_all(fd, text, ec);
  sys::close(fd);
  if (!ok)
    return std::nullopt;
  // "36 35 0:30 / /sys/fs/cgroup rw,... shared:9 - cgroup2 cgroup2 rw":
  // the mount point is the fifth field, the type the first after " - ".
  std::size_t pos = 0;
  while (pos < text.size())
  {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos)
      end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    std::size_t dash = line.find(" - ");
    if (dash == std::string_view::npos
        || line.substr(dash + 3, 8) != "cgroup2 ")
      continue;
    std::size_t field = 0;
    for (int i = 0; i < 4 && field != std::string_view::npos; ++i)
      field = line.find(' ', field + (i == 0 ? 0 : 1));
    if (field == std::string_view::npos)
      continue;
    std::size_t stop = line.find(' ', field + 1);
    ec.clear();
    return unescape(line.substr(field + 1, stop - field - 1));
  }
  ec = errc::make_error_code(errc::no_such_file_or_directory);
  return std::nullopt;
}

std::shared_ptr<cgroup_tree> cgroup_tree::open(
    const cgroup_placement& where, error_code& ec, std::string& detail)
{
  using kind = cgroup_placement::kind;
  std::shared_ptr<cgroup_tree> tree(new cgroup_tree);
  const char* what =
      where.type() == kind::create_in ? "cgroup parent " : "cgroup ";
  auto fail = [&](const std::string& path, std::string_view why = {}) {
    detail = what;
    detail += '"' + path + '"';
    if (!why.empty())
    {
      detail += ": ";
      detail += why;
    }
    return nullptr;
  };

  // The directory named by the placement: the cgroup, or its parent.
  int dir = -1;
  std::string path;
  if (where.type() == kind::join_fd)
  {
    path = "fd " + std::to_string(where.fd());
    // Through "." rather than a dup: an O_PATH fd cannot be used for
    // CLONE_INTO_CGROUP, and our own fd has our own flags.
    dir = sys::openat(where.fd(), ".", O_RDONLY | O_DIRECTORY, ec);
    if (dir < 0)
      return fail(path);
  }
  else
  {
    std::optional<std::string> resolved = resolve(where.path(), ec);
    if (!resolved)
      return fail(where.path(), "no cgroup2 mount in /proc/self/mountinfo");
    path = std::move(*resolved);
    if (path.find('\0') != std::string::npos)
    {
      ec = error::invalid_option;
      return fail(where.path(), "NUL byte");
    }
    dir = sys::openat(AT_FDCWD, path.c_str(), O_RDONLY | O_DIRECTORY, ec);
    if (dir < 0)
      return fail(path);
  }
  if (!is_cgroup2(dir))
  {
    sys::close(dir);
    ec = error::invalid_option;
    return fail(path, "not a cgroup2 directory");
  }
  if (where.type() != kind::create_in)
  {
    tree->dir_ = dir;
    tree->path_ = std::move(path);
    ec.clear();
    return tree;
  }

  // A name nobody else uses: our PID and a counter; another process's
  // cgroup of the same name (a PID reused since) makes us try the next.
  for (;;)
  {
    std::string name = "pidfd-asio-" + std::to_string(sys::getpid()) + "-"
        + std::to_string(created_count.fetch_add(1) + 1);
    sys::mkdirat(dir, name.c_str(), 0755, ec);
    if (!ec)
    {
      tree->parent_ = dir;
      tree->name_ = std::move(name);
      break;
    }
    if (ec == errc::file_exists)
      continue;
    sys::close(dir);
    return fail(path);
  }
  tree->path_ = path + "/" + tree->name_;
  tree->dir_ =
      sys::openat(dir, tree->name_.c_str(), O_RDONLY | O_DIRECTORY, ec);
  if (tree->dir_ < 0)
    return fail(tree->path_); // the destructor removes it
  ec.clear();
  return tree;
}

cgroup_tree::~cgroup_tree()
{
  // Nobody watches any more. A cgroup that reads empty is removed even if
  // the kernel refuses at first (try_remove); a populated one cannot be.
  if (parent_ >= 0 && !removed_ && dir_ >= 0)
  {
    read_populated_now();
    remove_retrying();
  }
  else
    remove_locked();
  if (dir_ >= 0)
    sys::close(dir_);
  if (parent_ >= 0)
    sys::close(parent_);
}

void cgroup_tree::read_populated_now() noexcept
{
  error_code ignored;
  const int events = sys::openat(dir_, "cgroup.events", O_RDONLY, ignored);
  if (events < 0)
    return;
  populated(events, ignored);
  sys::close(events);
}

int cgroup_tree::open_procs(error_code& ec) const
{
  return sys::openat(dir_, "cgroup.procs", O_WRONLY, ec);
}

bool cgroup_tree::removed() const
{
  std::lock_guard lock(mutex_);
  return removed_;
}

error_code cgroup_tree::remove_locked() noexcept
{
  if (removed_ || parent_ < 0)
    return {};
  // EBUSY while a process is in it, or is still being released: then it
  // stays, for a later attempt.
  error_code ec;
  sys::unlinkat(parent_, name_.c_str(), AT_REMOVEDIR, ec);
  if (!ec || ec == errc::no_such_file_or_directory)
  {
    removed_ = true;
    return {};
  }
  return ec;
}

error_code cgroup_tree::try_remove() noexcept
{
  std::lock_guard lock(mutex_);
  if (!seen_empty_ || watchers_ > 0)
    return {}; // not known to be empty, or the last watcher's to remove
  return remove_locked();
}

error_code cgroup_tree::close_events() noexcept
{
  {
    std::lock_guard lock(mutex_);
    --watchers_;
  }
  return try_remove();
}

error_code cgroup_tree::remove_retrying() noexcept
{
  using backoff = tree_removal_backoff;
  std::chrono::milliseconds delay = backoff::first;
  std::chrono::milliseconds slept{0};
  for (;;)
  {
    error_code ec = try_remove();
    if (ec != errc::device_or_resource_busy || slept >= backoff::total)
      return ec;
    std::this_thread::sleep_for(delay);
    slept += delay;
    delay = backoff::next(delay);
  }
}

void cgroup_tree::signal(int sig, error_code& ec)
{
  if (sig < 0 || sig >= _NSIG)
  {
    ec = error::invalid_signal;
    return;
  }
  std::lock_guard lock(mutex_);
  if (removed_)
  {
    ec = error::process_done;
    return;
  }
  if (holds_self(dir_))
  {
    ec = errc::make_error_code(errc::resource_deadlock_would_occur);
    return;
  }
  if (sig == SIGKILL && !test_hooks::no_cgroup_kill())
  {
    // cgroup.kill (Linux 5.14) kills the whole subtree at once, forks in
    // flight included. ENOENT: an older kernel.
    sys::write_file(dir_, "cgroup.kill", "1", ec);
    if (ec != errc::no_such_file_or_directory)
      return;
  }
  set_frozen_locked(true, ec);
  if (ec)
  {
    error_code ignored;
    set_frozen_locked(false, ignored);
    return;
  }
  signal_frozen_locked(sig, ec);
  error_code thaw_ec;
  set_frozen_locked(false, thaw_ec);
  if (!ec)
    ec = thaw_ec;
}

void cgroup_tree::set_frozen_locked(bool frozen, error_code& ec)
{
  sys::write_file(dir_, "cgroup.freeze", frozen ? "1" : "0", ec);
  if (ec || !frozen)
    return;
  // Writing is a request: the kernel freezes each task on its way back to
  // user space, and reports "frozen 1" once all are (Linux 5.2).
  int events = sys::openat(dir_, "cgroup.events", O_RDONLY, ec);
  if (events < 0)
    return;
  std::array<char, 256> buf;
  for (std::string_view text = read_events(events, buf, ec);
       !ec && event_value(text, "frozen") != 1;
       text = read_events(events, buf, ec))
  {
    wait_change(events, ec);
    if (ec)
      break;
  }
  sys::close(events);
}

void cgroup_tree::signal_frozen_locked(int sig, error_code& ec)
{
  // This cgroup and its descendants (the tree may have made sub-cgroups of
  // a delegated one), depth first, each by a directory fd. Opened afresh,
  // not a dup of dir_: a dup shares dir_'s offset, which the listing
  // leaves at the end, and the next signal would list no sub-cgroup.
  std::vector<int> pending{sys::openat(dir_, ".", O_RDONLY | O_DIRECTORY, ec)};
  if (pending.back() < 0)
    return;
  ec.clear();
  while (!pending.empty())
  {
    int dir = pending.back();
    pending.pop_back();
    int procs = sys::openat(dir, "cgroup.procs", O_RDONLY, ec);
    std::string text;
    if (procs >= 0)
    {
      read_all(procs, text, ec);
      sys::close(procs);
    }
    for (std::size_t pos = 0; !ec && pos < text.size();)
    {
      std::size_t end = text.find('\n', pos);
      if (end == std::string::npos)
        end = text.size();
      pid_t pid =
          static_cast<pid_t>(std::strtol(text.c_str() + pos, nullptr, 10));
      pos = end + 1;
      // ESRCH: killed by an earlier signal and gone since the listing.
      if (pid > 0)
        sys::kill(pid, sig, ec);
      if (ec == errc::no_such_process)
        ec.clear();
    }
    sys::open_subdirectories(dir, pending);
  }
}

void cgroup_tree::wait_empty(error_code& ec)
{
  int events = open_events(ec);
  if (events < 0)
    return;
  while (populated(events, ec) && !ec)
  {
    wait_change(events, ec);
    if (ec)
      break;
  }
  sys::close(events);
  close_events();
  // Removed here if nobody else watches; else by the last watcher (an
  // asynchronous tree wait), as it completes.
  if (!ec)
    ec = remove_retrying();
}

int cgroup_tree::open_events(error_code& ec)
{
  std::lock_guard lock(mutex_);
  ec.clear();
  if (removed_)
    return -1;
  int fd = sys::openat(dir_, "cgroup.events", O_RDONLY | O_NONBLOCK, ec);
  if (fd >= 0)
    ++watchers_;
  return fd;
}

bool cgroup_tree::populated(int events_fd, error_code& ec)
{
  std::array<char, 256> buf;
  const std::string_view text = read_events(events_fd, buf, ec);
  bool is = !ec && event_value(text, "populated") == 1;
  std::lock_guard lock(mutex_);
  // kernfs fails reads of an open file with ENODEV once its directory is
  // removed, which the kernel allows only for an empty cgroup: the tree is
  // gone. (The library removes its cgroup only once no watcher is left, so
  // this takes someone else's rmdir.)
  if (ec == errc::no_such_device)
    ec.clear();
  if (!ec && !is)
    seen_empty_ = true;
  return is;
}

} // namespace pidfd::detail
