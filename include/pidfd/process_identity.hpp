//
// pidfd/process_identity.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// A process's identity that is never given to another process, unlike its
// PID: see basic_process::identity().
//

#ifndef PIDFD_PROCESS_IDENTITY_HPP
#define PIDFD_PROCESS_IDENTITY_HPP

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

namespace pidfd {

/// Who a process is, for as long as the machine runs and after: the inode
/// number of its pidfd on pidfs (Linux 6.9), which the kernel never gives
/// to another process while it runs, together with the machine's boot id
/// (@c /proc/sys/kernel/random/boot_id), which makes it unique across
/// reboots too. Two process objects for the same process (spawned,
/// adopted by PID, adopted from a dup of its pidfd, opened from its
/// handle) have equal identities; a process that got a recycled PID has
/// another one. Comparable, ordered, hashable and printable; a
/// default-constructed identity names no process.
class process_identity
{
public:
  /// The boot id: the 16 bytes of the boot's UUID.
  using boot_id_type = std::array<std::uint8_t, 16>;

  process_identity() = default;
  process_identity(std::uint64_t inode, const boot_id_type& boot) noexcept
    : inode_(inode), boot_(boot)
  {
  }

  /// The pidfs inode number.
  std::uint64_t inode() const noexcept { return inode_; }
  /// The boot it belongs to.
  const boot_id_type& boot_id() const noexcept { return boot_; }

  friend bool operator==(
      const process_identity&, const process_identity&) = default;
  friend auto operator<=>(
      const process_identity&, const process_identity&) = default;

  /// "BOOT-UUID/INODE", e.g.
  /// "5d3e8f0c-2b1a-4c9e-9f1e-0a1b2c3d4e5f/7672509".
  std::string to_string() const;

private:
  std::uint64_t inode_ = 0;
  boot_id_type boot_{};
};

/// Writes to_string().
std::ostream& operator<<(std::ostream& out, const process_identity& id);

} // namespace pidfd

template <>
struct std::hash<pidfd::process_identity>
{
  std::size_t operator()(const pidfd::process_identity& id) const noexcept
  {
    // The inode alone is unique within a boot; the boot id mixes in.
    std::uint64_t h = id.inode() * 0x9e3779b97f4a7c15ull;
    for (std::uint8_t b : id.boot_id())
      h = (h ^ b) * 0x100000001b3ull;
    return static_cast<std::size_t>(h);
  }
};

#endif // PIDFD_PROCESS_IDENTITY_HPP
