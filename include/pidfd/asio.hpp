//
// pidfd/asio.hpp
// ~~~~~~~~~~~~~~
// Everything pidfd-asio offers, in one include.
//

#ifndef PIDFD_ASIO_HPP
#define PIDFD_ASIO_HPP

#include "pidfd/basic_process.hpp"
#include "pidfd/cgroup_placement.hpp"
#include "pidfd/error.hpp"
#include "pidfd/exit_status.hpp"
#include "pidfd/kernel_support.hpp"
#include "pidfd/process.hpp"
#include "pidfd/pty.hpp"
#include "pidfd/run.hpp"
#include "pidfd/spawn.hpp"
#include "pidfd/spawn_error_info.hpp"
#include "pidfd/spawn_options.hpp"
#include "pidfd/version.hpp"

#endif // PIDFD_ASIO_HPP
