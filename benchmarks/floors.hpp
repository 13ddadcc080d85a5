//
// benchmarks/floors.hpp
// ~~~~~~~~~~~~~~~~~~~~~
// What the raw-syscall floors share: their way of starting a child (a
// vfork-style clone on a stack of ours, the pidfd taken with it) and of
// collecting its status; and the io_uring floors (uring_floor.cpp).
//

#ifndef PIDFD_BENCH_FLOORS_HPP
#define PIDFD_BENCH_FLOORS_HPP

#include "bench.hpp"

#include <cstdint>
#include <memory>

namespace bench {

// glibc's clone() with our own stack is what clone3 with CLONE_PIDFD |
// CLONE_VFORK | CLONE_VM does; the parent sleeps until the child has called
// execve, so one stack serves every child. With share_files, the child also
// gets CLONE_FILES and unshares all but fds 0-2 (close_range with
// CLOSE_RANGE_UNSHARE), as pidfd-asio's child does.
class vfork_starter
{
public:
  explicit vfork_starter(bool share_files);

  // Starts cmd; returns the child's pidfd. Throws std::system_error.
  int start(const command& cmd);

private:
  int flags_;
  int (*child_)(void*);
  alignas(64) char stack_[64 * 1024];
};

// S1 as an event-driven program runs it, each child started from the
// handler that collected the one before: what that chain keeps between
// its handlers.
class handler_chain
{
public:
  void begin(const command& cmd, int n, std::int64_t* done) noexcept
  {
    cmd_ = &cmd;
    done_ = done;
    n_ = n;
    finished_ = 0;
  }

  const command& cmd() const noexcept { return *cmd_; }

  // A child collected at `t` (read first thing in its handler): true if
  // another is to start.
  bool collected(std::int64_t t) noexcept
  {
    if (done_)
      done_[finished_] = t;
    return ++finished_ < n_;
  }

  // Once the io_context has run out of work; throws std::runtime_error
  // naming `who` if a handler did not run.
  void check_all_collected(const char* who) const;

private:
  const command* cmd_ = nullptr;
  std::int64_t* done_ = nullptr;
  int n_ = 0;
  int finished_ = 0;
};

// The wait status of the exited child behind `pidfd` (waitid(P_PIDFD),
// which reaps it); the pidfd stays open. Throws std::system_error.
int collect_status(int pidfd);

// How an io_uring floor waits for its ring's completions: in
// io_uring_enter itself, in epoll_wait on the ring's fd, or with an Asio
// descriptor's async_wait on it (the io_uring mechanism's design, without
// pidfd-asio).
enum class uring_wait
{
  enter,
  epoll,
  asio
};

// The io_uring floors: vfork_starter's children, each reaped by an
// IORING_OP_WAITID on one ring, the close of the previous child's pidfd
// in the same submission.
std::unique_ptr<spawner> make_uring_floor(uring_wait how);

} // namespace bench

#endif // PIDFD_BENCH_FLOORS_HPP
