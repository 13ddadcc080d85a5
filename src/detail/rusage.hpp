//
// src/detail/rusage.hpp
// ~~~~~~~~~~~~~~~~~~~~~
// The resource usage a wait collects (waitid or wait4 with a rusage),
// attached to the exit status: shared by every wait mechanism.
//

#ifndef PIDFD_SRC_DETAIL_RUSAGE_HPP
#define PIDFD_SRC_DETAIL_RUSAGE_HPP

#include "pidfd/exit_status.hpp"

#include <chrono>
#include <cstdint>

#include <sys/resource.h>

namespace pidfd::detail {

inline std::chrono::microseconds to_micros(const timeval& tv) noexcept
{
  return std::chrono::seconds(tv.tv_sec)
      + std::chrono::microseconds(tv.tv_usec);
}

// ru_maxrss is in KiB; exit_status reports bytes.
inline void attach_usage(exit_status& s, const rusage& usage) noexcept
{
  s.set_usage(to_micros(usage.ru_utime), to_micros(usage.ru_stime),
      static_cast<std::uint64_t>(usage.ru_maxrss) * 1024);
}

} // namespace pidfd::detail

#endif
