//
// src/process_state.cpp
// ~~~~~~~~~~~~~~~~~~~~~
// One process, whatever its wait mechanism: the collect step, the blocking
// wait, signals, closing, and the states the engine creates for adopted
// processes.
//

#include "pidfd/engine/process_state.hpp"
#include "pidfd/engine/wait_ring.hpp"

#include "pidfd/error.hpp"

#include "detail/cgroup.hpp"
#include "detail/syscalls.hpp"
#include "detail/blocking_pool.hpp"

#include <boost/system/system_error.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include <unistd.h>

namespace pidfd::detail {
namespace {

using boost::system::error_code;
namespace errc = boost::system::errc;

// What Asio calls operation_aborted, without Asio: ECANCELED in the
// system category (the generic one would compare unequal).
error_code aborted() noexcept
{
  return {ECANCELED, boost::system::system_category()};
}

// The same ending without the resource usage (spawn_options::
// resource_usage false), whichever mechanism collected it.
exit_status without_usage(const exit_status& s) noexcept
{
  exit_status bare = exit_status::from_wait_status(s.native());
  if (std::optional<core_dump_info> core = s.core_dump())
    bare.set_core_dump(*core);
  return bare;
}

} // namespace

process_state::process_state(const process_init& init) noexcept
  : mechanism_(init.mechanism), target_(init.target),
    kill_on_destroy_(init.kill_on_destroy), own_group_(init.own_group),
    waits_on_ring_(mechanism_ && mechanism_->waits_on_ring()), tree_(init.tree)
{
  if (!mechanism_)
  {
    // Gone before we could watch it: waits report ECHILD.
    result_ = {errc::make_error_code(errc::no_child_process), {}};
    done_.store(true, std::memory_order_release);
  }
}

process_state::~process_state()
{
  // No lock: no other thread holds this state any more.
  if (begin_close_locked())
    close_fd_locked(nullptr);
}

int process_state::pidfd() const
{
  std::lock_guard lock(mutex_);
  return pidfd_locked();
}

int process_state::pidfd_locked() const noexcept
{
  const int fd = mechanism_ ? mechanism_->pidfd(target_) : -1;
  if (fd < 0)
    return -1;
  if (!pidfd_non_blocking_)
  {
    sys::set_non_blocking(fd);
    pidfd_non_blocking_ = true;
  }
  return fd;
}

bool process_state::collected(wait_result& out) const
{
  // No lock: result_ is final once done_ is set.
  if (!done_.load(std::memory_order_acquire))
    return false;
  out = result_;
  return true;
}

bool process_state::try_collect(wait_result& out, wait_ring* ring)
{
  bool pending = false;
  {
    std::lock_guard lock(mutex_);
    if (collect_locked(out, &pending))
      return true;
    if (!pending || !ring)
      return false;
  }
  // The ring reaped the child: its completion has the status.
  ring->harvest();
  std::lock_guard lock(mutex_);
  return collect_locked(out);
}

bool process_state::collect_locked(wait_result& out, bool* pending)
{
  if (!done_)
  {
    if (closed_ || !mechanism_->collect(target_, result_))
      return false;
    if (ring_reaps_ != 0 && result_.ec == errc::no_child_process)
    {
      // Gone, and a reap of the ring's may be the reason: the status is
      // in its completion (ring_reaped()), or comes with it if the
      // kernel is reaping the child right now.
      result_ = {};
      if (pending)
        *pending = true;
      return false;
    }
    if (!target_.usage && result_.status.usage_known())
      result_.status = without_usage(result_.status);
    done_.store(true, std::memory_order_release);
  }
  out = result_;
  return true;
}

void process_state::ring_reaped(int res, int code, int status, pid_t pid)
{
  std::lock_guard lock(mutex_);
  ring_reaped_locked(res, code, status, pid);
}

void process_state::ring_reaped_locked(int res, int code, int status, pid_t pid)
{
  if (ring_reaps_ != 0)
    --ring_reaps_;
  if (done_)
    return;
  if (res == 0 && pid != 0)
  {
    result_ = {{}, mechanism_->reaped_status(target_, code, status)};
    done_.store(true, std::memory_order_release);
  }
  else if (res == -ECHILD)
  {
    // Reaped by someone else, as collect() reports it for our own child.
    result_ = {errc::make_error_code(errc::no_child_process), {}};
    done_.store(true, std::memory_order_release);
  }
  // Otherwise not reaped: cancelled, or (a pidfd made non-blocking since)
  // the kernel's waitid found WNOHANG and the child still running.
}

void process_state::settle_ring_reaps(wait_ring& ring)
{
  auto backoff = backoff_delays::first;
  for (;;)
  {
    {
      std::lock_guard lock(mutex_);
      if (ring_reaps_ == 0)
        return;
    }
    if (!ring.harvest())
    {
      std::this_thread::sleep_for(backoff);
      backoff = backoff_delays::next(backoff);
    }
  }
}

collect_step process_state::step(std::uint64_t generation, wait_result& out)
{
  // Without the lock when the outcome is known already (the ring reaped
  // the child): done_ first (collected()), then the generation, so that
  // at the moment
  // the generation is read both held, as under the lock. A wait aborted
  // before that moment sees a new generation and takes the lock; the
  // abort of a handle destroyed with kill_on_destroy kills nothing once
  // done_ is set, so the status read here is never its killed child's.
  if (collected(out)
      && (generation == any_generation
          || generation == generation_.load(std::memory_order_acquire)))
    return collect_step::collected;
  std::lock_guard lock(mutex_);
  // One lock for the cancellation check and the collection, so that a
  // handle destroyed with kill_on_destroy cannot have its killed child's
  // status collected by the wait it aborted.
  if (generation != any_generation && generation != generation_)
  {
    out = {aborted(), {}};
    return collect_step::collected;
  }
  if (collect_locked(out))
    return collect_step::collected;
  if (closed_)
  {
    out = {aborted(), {}};
    return collect_step::collected;
  }
  // Not readable: a stale readiness event, or a wait that has not waited
  // yet. Readable but not collectable: ptrace (see collect_step::backoff).
  return mechanism_->readable(target_) ? collect_step::backoff
                                       : collect_step::rearm;
}

void process_state::wait_blocking(wait_result& out, wait_ring* ring)
{
  error_code ec;
  int fd;
  bool collect_first;
  {
    std::lock_guard lock(mutex_);
    if (!prepare_wait_locked(ec))
    {
      if (ec || !collect_locked(out))
        out = {ec ? ec : aborted(), {}};
      return;
    }
    fd = target_.fd;
    collect_first = mechanism_->collect_before_blocking();
  }
  // Readiness first, then the collect step, where the mechanism allows:
  // poll returns at once for a process that has exited already, and a
  // running one costs no collection before it blocks.
  auto backoff = backoff_delays::first;
  for (collect_step next = collect_first ? step(any_generation, out)
                                         : collect_step::rearm;
       ; next = step(any_generation, out))
  {
    switch (next)
    {
    case collect_step::collected:
      return;
    case collect_step::rearm:
      sys::wait_readable(fd, ec);
      if (ec)
      {
        out = {ec, {}};
        return;
      }
      break;
    case collect_step::backoff:
      // Gone, with the status in the ring's completion queue (see
      // collect_locked()): taken from there at once if it is in yet.
      if (ring && ring->harvest())
        break;
      std::this_thread::sleep_for(backoff);
      backoff = backoff_delays::next(backoff);
      break;
    }
  }
}

void process_state::signal(int sig, error_code& ec)
{
  send(sig, ec, &wait_mechanism::signal);
}

void process_state::signal_group(int sig, error_code& ec)
{
  send(sig, ec, &wait_mechanism::signal_group);
}

void process_state::send(int sig, error_code& ec,
    void (wait_mechanism::*how)(wait_target&, int, error_code&) const)
{
  if (sig < 0 || sig >= _NSIG)
  {
    ec = error::invalid_signal;
    return;
  }
  std::lock_guard lock(mutex_);
  if (done_)
  {
    // The kernel accepts a signal for a zombie and returns 0; a process
    // that has exited is done for us, as for Go's os.Process.Signal.
    ec = error::process_done;
    return;
  }
  if (closed_)
  {
    ec = error::no_process;
    return;
  }
  (mechanism_->*how)(target_, sig, ec);
}

void process_state::signal_tree(int sig, error_code& ec)
{
  if (tree_)
    tree_->signal(sig, ec);
  else if (own_group_)
    signal_group(sig, ec);
  else if (sig < 0 || sig >= _NSIG)
    ec = error::invalid_signal;
  else
    ec = error::no_tree;
}

void process_state::kill_tree(error_code& ec)
{
  signal_tree(SIGKILL, ec);
  if (!ec && tree_)
    tree_->wait_empty(ec);
}

int process_state::open_tree_events(error_code& ec) const
{
  if (!tree_)
  {
    ec = error::no_cgroup;
    return -1;
  }
  return tree_->open_events(ec);
}

bool process_state::tree_populated(int events_fd, error_code& ec) const
{
  return tree_->populated(events_fd, ec);
}

error_code process_state::close_tree_events() const noexcept
{
  return tree_ ? tree_->close_events() : error_code();
}

error_code process_state::remove_tree() const noexcept
{
  return tree_ ? tree_->try_remove() : error_code();
}

std::uint64_t process_state::cancel_generation() const
{
  return generation_.load(std::memory_order_acquire);
}

bool process_state::prepare_wait_locked(error_code& ec)
{
  ec.clear();
  if (closed_)
  {
    ec = aborted();
    return false;
  }
  if (done_)
    return false;
  mechanism_->start_waiting(target_, ec);
  return !ec;
}

bool process_state::begin_close_locked() noexcept
{
  if (closed_)
    return false;
  closed_ = true;
  new_generation_locked();
  if (mechanism_)
    mechanism_->detach(target_); // before the fd number may be reused
  return true;
}

void process_state::close_fd_locked(wait_ring* ring) noexcept
{
  if (target_.fd >= 0 && ring)
    ring->close(target_.fd);
  else if (target_.fd >= 0)
    sys::close(target_.fd);
  target_.fd = -1;
}

int process_state::release_fd_locked() noexcept
{
  const int pidfd = pidfd_locked();
  const int fd = std::exchange(target_.fd, -1);
  if (pidfd < 0 && fd >= 0)
  {
    // A readiness fd that is no pidfd (the wait4 fallback's eventfd):
    // nothing to hand over. The mechanism still reaps.
    sys::close(fd);
  }
  return pidfd;
}

bool process_state::abandon_locked()
{
  if (closed_ || done_ || target_.origin == process_origin::adopted
      || target_.fd < 0)
    return false;
  if (kill_on_destroy_)
  {
    error_code ignored;
    mechanism_->signal(target_, SIGKILL, ignored);
  }
  new_generation_locked(); // the owner's waits end now
  return !mechanism_->reaps_abandoned(target_);
}

void reap_in_background(std::shared_ptr<process_state> state)
{
  auto job = [state] {
    wait_result ignored;
    state->wait_blocking(ignored);
    std::lock_guard lock(state->mutex_);
    if (state->begin_close_locked())
      state->close_fd_locked(nullptr);
  };
  try
  {
    blocking_pool::submit(job);
  }
  catch (const std::system_error&)
  {
    // No thread to be had: reap here, after a SIGKILL, rather than leave a
    // zombie that nothing will ever collect.
    boost::system::error_code ignored;
    state->signal(SIGKILL, ignored);
    job();
  }
}

// ---- creating states -------------------------------------------------------

namespace {

// A process that does not exist (any more): no mechanism, its pid kept.
process_init gone(pid_t pid) noexcept
{
  return {nullptr, {-1, pid, process_origin::adopted, true, nullptr}};
}

} // namespace

process_init adopt_pid(pid_t pid, error_code& ec)
{
  ec.clear();
  if (pid <= 0)
  {
    // 0 and negative values name process groups for kill(), never one
    // process.
    ec = errc::make_error_code(errc::invalid_argument);
    return {};
  }
  const wait_mechanism& mechanism = chosen_mechanism();
  wait_target target = mechanism.watch(pid, -1, process_origin::adopted, ec);
  if (ec == errc::no_such_process)
  {
    ec.clear();
    return gone(pid);
  }
  if (ec)
    return {};
  return {&mechanism, std::move(target)};
}

process_init adopt_pidfd(int pidfd, error_code& ec)
{
  std::optional<pid_t> pid = sys::pidfd_pid(pidfd, ec);
  if (!pid)
  {
    // No fdinfo entry: not an open fd.
    if (ec == errc::no_such_file_or_directory)
      ec = errc::make_error_code(errc::bad_file_descriptor);
    return {};
  }
  // Pid -1: the process was already reaped; keep the fd so that the kernel
  // may still report its exit status. Only the pidfd mechanism takes a
  // caller's pidfd, whichever the probe chose.
  const wait_mechanism& mechanism = pidfd_mechanism();
  wait_target target =
      mechanism.watch(*pid, pidfd, process_origin::adopted, ec);
  if (ec)
    return {};
  return {&mechanism, std::move(target)};
}

} // namespace pidfd::detail
