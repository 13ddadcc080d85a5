//
// src/detail/proc_stat.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
// Reading /proc/<pid>/stat and status, for what no system call reports.
//

#ifndef PIDFD_SRC_DETAIL_PROC_STAT_HPP
#define PIDFD_SRC_DETAIL_PROC_STAT_HPP

#include <optional>

#include <sys/types.h>

namespace pidfd::detail {

// Field `field` (1-based, as in proc(5)) of /proc/<pid>/stat as a number;
// nullopt if the process or /proc is gone.
std::optional<long long> proc_stat_field(pid_t pid, int field);

// The thread group (process) id of a thread id, from the "Tgid:" line of
// /proc/<tid>/status; nullopt if the thread or /proc is gone. A process's
// own id is its thread group id.
std::optional<pid_t> proc_thread_group(pid_t tid);

// proc(5) field numbers.
constexpr int proc_stat_start_time = 22; // clock ticks after boot
constexpr int proc_stat_exit_code = 52; // waitpid status, Linux 3.5

} // namespace pidfd::detail

#endif // PIDFD_SRC_DETAIL_PROC_STAT_HPP
