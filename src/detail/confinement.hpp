//
// src/detail/confinement.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// The parent's half of spawn_options' confinement steps (resource limits,
// scheduling, no_new_privs, signal state, seccomp): checking them, putting
// them into the child's plan, and explaining a step the child failed.
//

#ifndef PIDFD_SRC_DETAIL_CONFINEMENT_HPP
#define PIDFD_SRC_DETAIL_CONFINEMENT_HPP

#include "pidfd/spawn_error_info.hpp"
#include "pidfd/spawn_options.hpp"

#include "detail/spawn_child.hpp"

#include <boost/system/error_code.hpp>

#include <string>

namespace pidfd::detail {

// Refuses an option: ec = error::invalid_option, `info` naming the part
// and, in `detail`, the option and its value. Returns false, for
// `return refuse_option(...)` in a check.
bool refuse_option(boost::system::error_code& ec, spawn_error_info& info,
    spawn_error_info::part failed, std::string detail);

// Checks what needs no system call (ranges, soft above hard, signals that
// cannot change): error::invalid_option with `info` naming the option and
// its value.
bool check_confinement(const spawn_options& options,
    boost::system::error_code& ec, spawn_error_info& info);

// Fills plan.confine from checked options.
void plan_confinement(const spawn_options& options, child_plan& plan);

// For a failure in one of the child's confinement stages: sets info.failed
// and returns the detail (the option, its value, and what the errno means
// there). Empty for any other stage.
std::string explain_confinement_failure(const child_plan& plan,
    const spawn_options& options, spawn_error_info& info);

// For a clone that failed with `err` while new namespaces were asked for:
// sets info.failed and returns the detail naming them; empty if the
// failure is not theirs (no namespaces, or out of memory or processes).
std::string explain_clone_failure(
    int err, const spawn_options& options, spawn_error_info& info);

} // namespace pidfd::detail

#endif // PIDFD_SRC_DETAIL_CONFINEMENT_HPP
