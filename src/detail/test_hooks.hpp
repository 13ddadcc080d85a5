//
// src/detail/test_hooks.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// The switches by which tests reach the paths of older kernels on a
// kernel that has everything: every one the engine reads is here.
//

#ifndef PIDFD_SRC_DETAIL_TEST_HOOKS_HPP
#define PIDFD_SRC_DETAIL_TEST_HOOKS_HPP

namespace pidfd::detail::test_hooks {

// Each is read once from the environment ("1" turns it on), and is off in
// any process that does not set it. seccomp cannot stand in for these (as
// it does for clone3 and the pidfd calls in test/kernel_levels): it cannot
// filter openat or ioctl by path or by request.

// PIDFD_ASIO_TEST_NO_CGROUP_KILL: cgroup.kill is treated as missing, as on
// Linux < 5.14, so that signals to a tree take the freeze-signal-thaw path
// even for SIGKILL.
bool no_cgroup_kill() noexcept;

// PIDFD_ASIO_TEST_NO_TIOCGPTPEER: a pty's terminal side is opened by its
// name (TIOCGPTN), as on Linux < 4.13.
bool no_tiocgptpeer() noexcept;

// PIDFD_ASIO_TEST_ASSUME_AUTOKILL: the probe reports Linux 7.1's
// CLONE_PIDFD_AUTOKILL as known without asking, so that a die_with_owner
// spawn tries the flags, and on a kernel that refuses them (EINVAL) takes
// the fallback then.
bool assume_autokill() noexcept;

// PIDFD_ASIO_TEST_NO_RING_WAITID: the probe reports IORING_OP_WAITID as
// missing, as on Linux < 6.7, so that the io_uring mechanism polls for
// every child, those spawned without resource usage too. (seccomp cannot
// filter an io_uring opcode either.)
bool refuse_ring_waitid() noexcept;

} // namespace pidfd::detail::test_hooks

#endif // PIDFD_SRC_DETAIL_TEST_HOOKS_HPP
