//
// pidfd/spawn_options.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// Options for pidfd::spawn.
//

#ifndef PIDFD_SPAWN_OPTIONS_HPP
#define PIDFD_SPAWN_OPTIONS_HPP

#include <optional>
#include <string>

namespace pidfd {

/// How a child is started. An aggregate, so designated initialisers work:
/// <tt>pidfd::spawn(ctx, "ls", {"-l"}, {.argv0 = "list"})</tt>.
/**
 * The child always starts with only file descriptors 0, 1 and 2 of the
 * parent open (every other fd is closed in the child, even those opened
 * without @c O_CLOEXEC), with the parent's environment and working
 * directory, and with the parent's signal mask; signal handlers are reset
 * to their defaults by @c execve as usual (ignored signals stay ignored).
 */
struct spawn_options
{
  /// argv[0] for the child; defaults to the program as given to spawn.
  std::optional<std::string> argv0;
};

} // namespace pidfd

#endif // PIDFD_SPAWN_OPTIONS_HPP
