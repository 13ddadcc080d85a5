//
// benchmarks/uring_floor.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// The io_uring floors (floors.hpp): what the kernel's io_uring costs a
// parent that reaps its children in a ring, without Asio or pidfd-asio.
// They say how far below the epoll floor a ring can take a spawn+wait
// cycle at all.
//

#include "floors.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/io_uring.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#ifndef P_PIDFD
#define P_PIDFD 3 // Linux 5.4
#endif

namespace bench {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

// IORING_OP_WAITID (Linux 6.7): newer than bookworm's <linux/io_uring.h>.
constexpr unsigned char op_waitid = 50;

void check_exited(const char* who, const siginfo_t& info)
{
  if (info.si_code != CLD_EXITED || info.si_status != 0)
    throw std::runtime_error(format("%s: child failed, si_code %d status %d",
        who, info.si_code, info.si_status));
}

void* map_ring(int fd, std::size_t size, off_t offset)
{
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
      MAP_SHARED | MAP_POPULATE, fd, offset);
  check_errno(p != MAP_FAILED, "mmap of the ring");
  return p;
}

// One io_uring through the kernel interface (bookworm's liburing 2.3 has
// no helper for IORING_OP_WAITID): one thread submits and reaps.
class raw_ring
{
public:
  raw_ring()
  {
    io_uring_params p{};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    p.cq_entries = 4096;
    const long fd = ::syscall(SYS_io_uring_setup, 256, &p);
    check_errno(fd >= 0, "io_uring_setup");
    fd_ = static_cast<int>(fd);
    sq_len_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    cq_len_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP)
      sq_len_ = cq_len_ = std::max(sq_len_, cq_len_);
    sq_map_ = map_ring(fd_, sq_len_, IORING_OFF_SQ_RING);
    cq_map_ = p.features & IORING_FEAT_SINGLE_MMAP
        ? sq_map_
        : map_ring(fd_, cq_len_, IORING_OFF_CQ_RING);
    sqes_len_ = p.sq_entries * sizeof(io_uring_sqe);
    sqes_ =
        static_cast<io_uring_sqe*>(map_ring(fd_, sqes_len_, IORING_OFF_SQES));
    auto* sq = static_cast<char*>(sq_map_);
    auto* cq = static_cast<char*>(cq_map_);
    sq_head_ = reinterpret_cast<unsigned*>(sq + p.sq_off.head);
    sq_tail_ = reinterpret_cast<unsigned*>(sq + p.sq_off.tail);
    sq_mask_ = *reinterpret_cast<unsigned*>(sq + p.sq_off.ring_mask);
    sq_entries_ = p.sq_entries;
    sq_array_ = reinterpret_cast<unsigned*>(sq + p.sq_off.array);
    cq_head_ = reinterpret_cast<unsigned*>(cq + p.cq_off.head);
    cq_tail_ = reinterpret_cast<unsigned*>(cq + p.cq_off.tail);
    cq_mask_ = *reinterpret_cast<unsigned*>(cq + p.cq_off.ring_mask);
    cqes_ = reinterpret_cast<io_uring_cqe*>(cq + p.cq_off.cqes);
  }

  raw_ring(const raw_ring&) = delete;
  raw_ring& operator=(const raw_ring&) = delete;

  ~raw_ring()
  {
    ::munmap(sqes_, sqes_len_);
    if (cq_map_ != sq_map_)
      ::munmap(cq_map_, cq_len_);
    ::munmap(sq_map_, sq_len_);
    ::close(fd_);
  }

  int fd() const noexcept { return fd_; }

  // A zeroed entry, submitted by the next enter(). A full queue is
  // submitted first.
  io_uring_sqe& next_sqe()
  {
    const unsigned tail = *sq_tail_;
    if (tail - __atomic_load_n(sq_head_, __ATOMIC_ACQUIRE) == sq_entries_)
    {
      enter(0);
      return next_sqe();
    }
    const unsigned index = tail & sq_mask_;
    io_uring_sqe& sqe = sqes_[index];
    std::memset(&sqe, 0, sizeof sqe);
    sq_array_[index] = index;
    __atomic_store_n(sq_tail_, tail + 1, __ATOMIC_RELEASE);
    ++to_submit_;
    return sqe;
  }

  // io_uring_enter: submits what is queued and, if wait_for > 0, waits
  // until that many completions are posted.
  void enter(unsigned wait_for)
  {
    while (to_submit_ > 0 || wait_for > 0)
    {
      const long r = ::syscall(SYS_io_uring_enter, fd_, to_submit_, wait_for,
          wait_for > 0 ? IORING_ENTER_GETEVENTS : 0u, nullptr, 0UL);
      if (r < 0 && errno == EINTR)
        continue;
      check_errno(r >= 0, "io_uring_enter");
      to_submit_ -= static_cast<unsigned>(r);
      return;
    }
  }

  // The next posted completion, if any.
  bool pop(io_uring_cqe& out) noexcept
  {
    const unsigned head = *cq_head_;
    if (head == __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE))
      return false;
    out = cqes_[head & cq_mask_];
    __atomic_store_n(cq_head_, head + 1, __ATOMIC_RELEASE);
    return true;
  }

private:
  int fd_ = -1;
  void* sq_map_ = nullptr;
  void* cq_map_ = nullptr;
  std::size_t sq_len_ = 0;
  std::size_t cq_len_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  std::size_t sqes_len_ = 0;
  unsigned* sq_head_ = nullptr;
  unsigned* sq_tail_ = nullptr;
  unsigned sq_mask_ = 0;
  unsigned sq_entries_ = 0;
  unsigned* sq_array_ = nullptr;
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
  unsigned to_submit_ = 0;
};

// user_data of the closes, whose failures only post a completion.
constexpr std::uint64_t close_tag = ~std::uint64_t{0};

// The close of a collected child's pidfd, submitted with the next request;
// its success posts nothing.
void queue_close(raw_ring& ring, int pidfd)
{
  io_uring_sqe& sqe = ring.next_sqe();
  sqe.opcode = IORING_OP_CLOSE;
  sqe.fd = pidfd;
  sqe.flags = IOSQE_CQE_SKIP_SUCCESS;
  sqe.user_data = close_tag;
}

// waitid(P_PIDFD, pidfd, &info, WEXITED) in the kernel: it reaps.
void queue_waitid(raw_ring& ring, int pidfd, siginfo_t& info, std::uint64_t tag)
{
  io_uring_sqe& sqe = ring.next_sqe();
  sqe.opcode = op_waitid;
  sqe.fd = pidfd;
  sqe.len = P_PIDFD;
  sqe.file_index = WEXITED;
  sqe.addr2 = reinterpret_cast<std::uintptr_t>(&info);
  sqe.user_data = tag;
}

void check_completion(const char* who, const io_uring_cqe& cqe)
{
  if (cqe.res < 0)
    throw std::system_error(-cqe.res, std::generic_category(),
        format("%s: %s", who,
            cqe.user_data == close_tag ? "IORING_OP_CLOSE"
                                       : "IORING_OP_WAITID (Linux 6.7)"));
}

// What the io_uring floors share: the ring, the floor's children, their
// requests and the checks of their completions. They differ in how they
// wait for the ring.
class ring_floor
{
protected:
  explicit ring_floor(const char* name) : name_(name) {}

  // S1: starts a child and queues its waitid, with the close of the
  // previous child's pidfd; submitted by the caller's next enter.
  void start_one(const command& cmd)
  {
    const int pidfd = starter_.start(cmd);
    if (previous_ >= 0)
      queue_close(ring_, previous_);
    info_ = siginfo_t{};
    queue_waitid(ring_, pidfd, info_, 0);
    previous_ = pidfd;
  }

  // S1: the completion of start_one()'s waitid.
  void check_one(const io_uring_cqe& cqe) const
  {
    check_completion(name_, cqe);
    check_exited(name_, info_);
  }

  // After the last S1 cycle: its pidfd, whose close no request carries.
  void close_last()
  {
    if (previous_ >= 0)
      ::close(previous_);
    previous_ = -1;
  }

  // S3's spawn phase: n children, each with its waitid queued (user_data:
  // its index in infos_ and pidfds_), all submitted.
  void start_all(const command& cmd, int n)
  {
    infos_.assign(static_cast<std::size_t>(n), siginfo_t{});
    pidfds_.assign(static_cast<std::size_t>(n), -1);
    for (std::size_t k = 0; k < pidfds_.size(); ++k)
    {
      pidfds_[k] = starter_.start(cmd);
      queue_waitid(ring_, pidfds_[k], infos_[k], k);
    }
    ring_.enter(0);
  }

  // S3: the child whose waitid `cqe` completes, its status checked and
  // its pidfd's close queued.
  void collect_one(const io_uring_cqe& cqe)
  {
    check_completion(name_, cqe);
    const auto k = static_cast<std::size_t>(cqe.user_data);
    check_exited(name_, infos_[k]);
    queue_close(ring_, pidfds_[k]);
  }

  const char* name_;
  raw_ring ring_;

private:
  vfork_starter starter_{false};
  int previous_ = -1;
  siginfo_t info_{};
  std::vector<siginfo_t> infos_;
  std::vector<int> pidfds_;
};

// The parent waits in io_uring_enter, or in epoll_wait for the ring's fd.
class uring_floor final : public spawner, ring_floor
{
public:
  explicit uring_floor(bool through_epoll)
    : ring_floor(through_epoll ? "raw_uring_epoll" : "raw_uring"),
      through_epoll_(through_epoll),
      epoll_(through_epoll ? ::epoll_create1(EPOLL_CLOEXEC) : -1)
  {
    if (through_epoll)
    {
      check_errno(epoll_ >= 0, "epoll_create1");
      epoll_event ev{};
      ev.events = EPOLLIN;
      check_errno(::epoll_ctl(epoll_, EPOLL_CTL_ADD, ring_.fd(), &ev) == 0,
          "epoll_ctl");
    }
  }

  ~uring_floor() override
  {
    if (epoll_ >= 0)
      ::close(epoll_);
  }

  void run_sequential(const command& cmd, int n, std::int64_t* done) override
  {
    for (int i = 0; i < n; ++i)
    {
      start_one(cmd);
      const io_uring_cqe cqe = next_completion();
      const std::int64_t t = now_ns();
      check_one(cqe);
      if (done)
        done[i] = t;
    }
    close_last();
  }

  fanout_result run_fanout(const command& cmd, int n) override
  {
    const std::int64_t start = now_ns();
    start_all(cmd, n);
    fanout_result r = spawn_phase_done(start);
    for (int left = n; left > 0;)
    {
      io_uring_cqe cqe = next_completion();
      do
      {
        collect_one(cqe);
        --left;
      } while (ring_.pop(cqe));
    }
    ring_.enter(0); // the last closes
    r.total_ns = now_ns() - start;
    return r;
  }

private:
  // Submits what is queued and waits for a completion.
  io_uring_cqe next_completion()
  {
    io_uring_cqe cqe{};
    if (!through_epoll_)
    {
      ring_.enter(1);
      ring_.pop(cqe);
      return cqe;
    }
    ring_.enter(0);
    while (!ring_.pop(cqe))
    {
      epoll_event ev{};
      const int k = ::epoll_wait(epoll_, &ev, 1, -1);
      check_errno(k >= 0 || errno == EINTR, "epoll_wait");
    }
    return cqe;
  }

  bool through_epoll_;
  int epoll_;
};

// The ring's fd waited for by an Asio descriptor on an io_context (the
// io_uring mechanism's design, without pidfd-asio): each child is started
// from the handler that collected the one before.
class uring_asio_floor final : public spawner, ring_floor
{
public:
  uring_asio_floor() : ring_floor("raw_uring_asio"), ring_fd_(ctx_, ring_.fd())
  {
  }

  ~uring_asio_floor() override { ring_fd_.release(); }

  void run_sequential(const command& cmd, int n, std::int64_t* done) override
  {
    chain_.begin(cmd, n, done);
    start_next();
    ctx_.restart();
    ctx_.run();
    chain_.check_all_collected(name_);
    close_last();
  }

  fanout_result run_fanout(const command& cmd, int n) override
  {
    const std::int64_t start = now_ns();
    start_all(cmd, n);
    fanout_result r = spawn_phase_done(start);
    left_ = n;
    wait_for_all();
    ctx_.restart();
    ctx_.run();
    if (left_ != 0)
      throw std::runtime_error(format("%s: missing completions", name_));
    r.total_ns = now_ns() - start;
    return r;
  }

private:
  void start_next()
  {
    start_one(chain_.cmd());
    ring_.enter(0);
    wait_for_one();
  }

  void wait_for_one()
  {
    ring_fd_.async_wait(
        asio::posix::descriptor_base::wait_read, [this](error_code ec) {
          const std::int64_t t = now_ns();
          check_wait(ec);
          io_uring_cqe cqe{};
          if (!ring_.pop(cqe))
            return wait_for_one();
          check_one(cqe);
          if (chain_.collected(t))
            start_next();
        });
  }

  void wait_for_all()
  {
    ring_fd_.async_wait(
        asio::posix::descriptor_base::wait_read, [this](error_code ec) {
          check_wait(ec);
          io_uring_cqe cqe{};
          while (ring_.pop(cqe))
          {
            collect_one(cqe);
            --left_;
          }
          ring_.enter(0); // the closes queued
          if (left_ > 0)
            wait_for_all();
        });
  }

  static void check_wait(error_code ec)
  {
    if (ec)
      throw std::system_error(ec, "raw_uring_asio: async_wait");
  }

  asio::io_context ctx_;
  asio::posix::stream_descriptor ring_fd_;
  handler_chain chain_;
  int left_ = 0;
};

} // namespace

std::unique_ptr<spawner> make_uring_floor(uring_wait how)
{
  if (how == uring_wait::asio)
    return std::make_unique<uring_asio_floor>();
  return std::make_unique<uring_floor>(how == uring_wait::epoll);
}

} // namespace bench
