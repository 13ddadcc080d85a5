//
// src/detail/features.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// Run-time knowledge about the kernel beyond the one-time probe.
//

#ifndef PIDFD_SRC_DETAIL_FEATURES_HPP
#define PIDFD_SRC_DETAIL_FEATURES_HPP

namespace pidfd::detail {

// True while clone3 may be used: the probe found it and no spawn has since
// been refused it.
bool clone3_usable() noexcept;

// A spawn's clone3 failed with err (ENOSYS or EPERM from a seccomp filter
// the probe could not see); later spawns use clone() and pidfd_open.
void note_clone3_unusable(int err) noexcept;

} // namespace pidfd::detail

#endif // PIDFD_SRC_DETAIL_FEATURES_HPP
