//
// pidfd/engine/identity.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// The engine's half of basic_process::identity(), export_handle() and
// open_handle(): a pidfd's pidfs inode and boot id, and its file handle
// as a string that can be stored and opened again later.
//

#ifndef PIDFD_ENGINE_IDENTITY_HPP
#define PIDFD_ENGINE_IDENTITY_HPP

#include "pidfd/process_identity.hpp"

#include <boost/system/error_code.hpp>

#include <string>
#include <string_view>

namespace pidfd::detail {

// The identity of the process `pidfd` refers to; error::no_identity for -1
// or a pidfd that is not on pidfs.
process_identity identity_of(int pidfd, boost::system::error_code& ec);

// "pidfd-asio/1 BOOT-UUID TYPE HEX": the boot, and the kernel's file
// handle of the pidfd (its type and bytes); error::no_identity without
// pidfs handles (Linux 6.14).
std::string export_handle(int pidfd, boost::system::error_code& ec);

// A new pidfd (close-on-exec, non-blocking) of the process `handle` names,
// or -1 with error::invalid_handle (not one of ours, changed, or of
// another kernel's format) or error::process_gone (reaped, or another
// boot).
int open_handle(std::string_view handle, boost::system::error_code& ec);

} // namespace pidfd::detail

#endif // PIDFD_ENGINE_IDENTITY_HPP
