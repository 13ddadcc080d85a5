//
// src/detail/features.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// Run-time knowledge about the kernel beyond the one-time probe.
//

#ifndef PIDFD_SRC_DETAIL_FEATURES_HPP
#define PIDFD_SRC_DETAIL_FEATURES_HPP

namespace pidfd {
struct kernel_features;
} // namespace pidfd

namespace pidfd::detail {

// Replaces what kernel_support() reports (and so the mechanisms used), for
// tests that exercise the fallbacks on a kernel that has everything; the
// probe does not run. Call it before anything else uses the library, while
// no other thread does; only processes created afterwards follow it.
void set_kernel_support_for_testing(const kernel_features& features);

// True while clone3 may be used: the probe found it and no spawn has since
// been refused it.
bool clone3_usable() noexcept;

// A spawn's clone3 failed with err (ENOSYS or EPERM from a seccomp filter
// the probe could not see); later spawns use clone() and pidfd_open.
void note_clone3_unusable(int err) noexcept;

} // namespace pidfd::detail

#endif // PIDFD_SRC_DETAIL_FEATURES_HPP
