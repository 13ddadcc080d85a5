//
// src/detail/blocking_pool.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The library's threads for calls that block: the wait4 mechanism's waits
// (waitid on a PID), and the reaping of children whose io_context was
// destroyed while they ran (reap_in_background).
//

#ifndef PIDFD_SRC_DETAIL_BLOCKING_POOL_HPP
#define PIDFD_SRC_DETAIL_BLOCKING_POOL_HPP

#include <chrono>
#include <cstddef>
#include <functional>

namespace pidfd::detail::blocking_pool {

// Runs job on a pool thread. A blocking wait occupies its thread until the
// child exits, so the pool never queues a job behind a busy thread: it
// starts a new thread whenever none is idle (a fixed cap would deadlock the
// N+1th wait behind N children that wait for it). Threads have small stacks
// and exit after idle_timeout() without work. Throws std::system_error if
// no thread can be started.
void submit(std::function<void()> job);

// Blocks until the pool has no thread left (each exits once idle for
// idle_timeout()) or the deadline passes; true if it emptied. For tests and
// the soak test, which prove that no thread is leaked.
bool wait_until_empty(std::chrono::steady_clock::time_point deadline);

// Blocks until no job is queued or running, or the deadline passes; true
// if the pool went idle. Tests use it to know that the reaping of destroyed
// processes (a pool job each) has finished.
bool wait_until_idle(std::chrono::steady_clock::time_point deadline);

// How long an idle thread lingers before it exits (default 10 s); tests
// shorten it to watch the pool shrink.
void set_idle_timeout(std::chrono::milliseconds timeout) noexcept;

} // namespace pidfd::detail::blocking_pool

#endif // PIDFD_SRC_DETAIL_BLOCKING_POOL_HPP
