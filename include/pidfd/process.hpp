//
// pidfd/process.hpp
// ~~~~~~~~~~~~~~~~~
//

#ifndef PIDFD_PROCESS_HPP
#define PIDFD_PROCESS_HPP

#include "pidfd/basic_process.hpp"

namespace pidfd {

/// A process using the type-erased @c boost::asio::any_io_executor.
using process = basic_process<>;

} // namespace pidfd

#endif // PIDFD_PROCESS_HPP
