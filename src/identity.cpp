//
// src/identity.cpp
// ~~~~~~~~~~~~~~~~
// Process identity and handles on pidfs: see pidfd/engine/identity.hpp.
//

#include "pidfd/engine/identity.hpp"

#include "pidfd/error.hpp"

#include "detail/syscalls.hpp"

#include <cerrno>
#include <cstddef>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <new>
#include <optional>
#include <ostream>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

namespace pidfd {
namespace {

// "%08x-%04x-..." of 16 bytes.
std::string uuid_text(const process_identity::boot_id_type& id)
{
  std::string text;
  char hex[3];
  for (std::size_t i = 0; i < id.size(); ++i)
  {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      text += '-';
    std::snprintf(hex, sizeof hex, "%02x", id[i]);
    text += hex;
  }
  return text;
}

} // namespace

std::string process_identity::to_string() const
{
  return uuid_text(boot_) + "/" + std::to_string(inode_);
}

std::ostream& operator<<(std::ostream& out, const process_identity& id)
{
  return out << id.to_string();
}

} // namespace pidfd

namespace pidfd::detail {
namespace {

using boost::system::error_code;

// From <linux/magic.h> (Linux 6.9); bookworm's headers lack it.
constexpr long pidfs_magic = 0x50494446;
// From <linux/fcntl.h> (Linux 6.17): open_by_handle_at's mount fd for
// pidfs, which needs no mount of it.
constexpr int fd_pidfs_root = -10002;
// MAX_HANDLE_SZ of <linux/exportfs.h>.
constexpr unsigned max_handle_size = 128;
constexpr std::string_view handle_prefix = "pidfd-asio/1 ";

int hex_digit(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

// 32 hex digits with dashes where a UUID has them.
std::optional<process_identity::boot_id_type> parse_uuid(std::string_view text)
{
  process_identity::boot_id_type id{};
  if (text.size() != 36)
    return std::nullopt;
  std::size_t at = 0;
  for (std::size_t i = 0; i < id.size(); ++i)
  {
    if (i == 4 || i == 6 || i == 8 || i == 10)
    {
      if (text[at++] != '-')
        return std::nullopt;
    }
    const int high = hex_digit(text[at]);
    const int low = hex_digit(text[at + 1]);
    if (high < 0 || low < 0)
      return std::nullopt;
    id[i] = static_cast<std::uint8_t>(high * 16 + low);
    at += 2;
  }
  return id;
}

// This boot's id, read once.
const process_identity::boot_id_type* boot_id(error_code& ec)
{
  struct cached
  {
    std::optional<process_identity::boot_id_type> id;
    error_code ec;
  };
  static const cached boot = [] {
    cached c;
    const int fd = sys::openat(
        AT_FDCWD, "/proc/sys/kernel/random/boot_id", O_RDONLY, c.ec);
    if (fd < 0)
      return c;
    char text[64];
    const long n = sys::read(fd, text, sizeof text, c.ec);
    sys::close(fd);
    if (n >= 36)
      c.id = parse_uuid(std::string_view(text, 36));
    if (!c.id && !c.ec)
      c.ec =
          boost::system::errc::make_error_code(boost::system::errc::io_error);
    return c;
  }();
  ec = boot.ec;
  return boot.id ? &*boot.id : nullptr;
}

// A file handle with room for the largest the kernel makes.
class handle_buffer
{
public:
  handle_buffer() : header(*new (storage_) file_handle{}) {}
  file_handle& header;
  // f_handle, the bytes after the header.
  unsigned char* bytes() { return storage_ + offsetof(file_handle, f_handle); }

private:
  alignas(file_handle) unsigned char storage_[sizeof(file_handle)
      + max_handle_size]{};
};

// The type and size of the kernel's pidfs handles, learnt once from a
// pidfd of this process: a handle of another shape is not one of ours.
struct handle_shape
{
  int type = 0;
  unsigned size = 0;
  error_code ec;
};

const handle_shape& kernel_handle_shape()
{
  static const handle_shape shape = [] {
    handle_shape s;
    const int self = sys::pidfd_open(sys::getpid(), 0, s.ec);
    if (self < 0)
      return s;
    handle_buffer h;
    sys::pidfd_file_handle(self, h.header, max_handle_size, s.ec);
    sys::close(self);
    if (!s.ec)
    {
      s.type = h.header.handle_type;
      s.size = h.header.handle_bytes;
    }
    return s;
  }();
  return shape;
}

// A pidfs handle of this type (FILEID_KERNFS) and 8 bytes is the inode
// number, as the kernel stores a u64.
constexpr int fileid_kernfs = 0xfe;

bool on_pidfs(int pidfd)
{
  struct statfs fs
  {
  };
  error_code ignored;
  sys::fstatfs(pidfd, fs, ignored);
  return !ignored && fs.f_type == pidfs_magic;
}

} // namespace

process_identity identity_of(int pidfd, error_code& ec)
{
  if (pidfd < 0 || !on_pidfs(pidfd))
  {
    ec = error::no_identity;
    return {};
  }
  struct stat st
  {
  };
  sys::fstat(pidfd, st, ec);
  if (ec)
    return {};
  const process_identity::boot_id_type* boot = boot_id(ec);
  if (!boot)
    return {};
  return {static_cast<std::uint64_t>(st.st_ino), *boot};
}

std::string export_handle(int pidfd, error_code& ec)
{
  if (pidfd < 0 || !on_pidfs(pidfd))
  {
    ec = error::no_identity;
    return {};
  }
  const process_identity::boot_id_type* boot = boot_id(ec);
  if (!boot)
    return {};
  handle_buffer h;
  sys::pidfd_file_handle(pidfd, h.header, max_handle_size, ec);
  if (ec)
  {
    // Before Linux 6.14 pidfs exports no handles.
    if (ec == boost::system::errc::operation_not_supported)
      ec = error::no_identity;
    return {};
  }
  std::string text(handle_prefix);
  text += uuid_text(*boot) + " " + std::to_string(h.header.handle_type) + " ";
  static constexpr char digits[] = "0123456789abcdef";
  for (unsigned i = 0; i < h.header.handle_bytes; ++i)
  {
    text += digits[h.bytes()[i] >> 4];
    text += digits[h.bytes()[i] & 15];
  }
  return text;
}

int open_handle(std::string_view handle, error_code& ec)
{
  auto invalid = [&ec] {
    ec = error::invalid_handle;
    return -1;
  };
  // "pidfd-asio/1 BOOT-UUID TYPE HEX", exactly.
  if (handle.substr(0, handle_prefix.size()) != handle_prefix)
    return invalid();
  handle.remove_prefix(handle_prefix.size());
  if (handle.size() < 37 || handle[36] != ' ')
    return invalid();
  const std::optional<process_identity::boot_id_type> boot =
      parse_uuid(handle.substr(0, 36));
  handle.remove_prefix(37);
  const std::size_t space = handle.find(' ');
  int type = 0;
  if (!boot || space == std::string_view::npos || space == 0
      || std::from_chars(handle.data(), handle.data() + space, type).ptr
          != handle.data() + space)
    return invalid();
  const std::string_view hex = handle.substr(space + 1);

  // The shape this kernel exports, and nothing else: the kernel itself
  // accepts bytes appended to a pidfs handle, which must not make another
  // string open a process.
  const handle_shape& shape = kernel_handle_shape();
  if (shape.ec)
  {
    ec = shape.ec == boost::system::errc::operation_not_supported
        ? error::no_identity
        : shape.ec;
    return -1;
  }
  if (type != shape.type || hex.size() != 2 * std::size_t(shape.size))
    return invalid();
  handle_buffer h;
  h.header.handle_type = type;
  h.header.handle_bytes = shape.size;
  for (unsigned i = 0; i < shape.size; ++i)
  {
    const int high = hex_digit(hex[2 * i]);
    const int low = hex_digit(hex[2 * i + 1]);
    if (high < 0 || low < 0)
      return invalid();
    h.bytes()[i] = static_cast<unsigned char>(high * 16 + low);
  }

  // Another boot's process has gone, whatever its inode.
  const process_identity::boot_id_type* this_boot = boot_id(ec);
  if (!this_boot)
    return -1;
  if (*boot != *this_boot)
  {
    ec = error::process_gone;
    return -1;
  }

  int fd = sys::open_pidfd_handle(fd_pidfs_root, h.header, ec);
  if (fd < 0 && ec == boost::system::errc::bad_file_descriptor)
  {
    // Before Linux 6.17 the mount fd must be on pidfs: any pidfd is.
    error_code self_ec;
    const int self = sys::pidfd_open(sys::getpid(), 0, self_ec);
    if (self >= 0)
    {
      fd = sys::open_pidfd_handle(self, h.header, ec);
      sys::close(self);
    }
  }
  if (fd < 0)
  {
    // The kernel answers ESTALE for a process that has been reaped.
    if (ec.value() == ESTALE
        && ec.category() == boost::system::system_category())
      ec = error::process_gone;
    return -1;
  }
  if (type == fileid_kernfs && shape.size == 8)
  {
    // The handle is the inode: check that the kernel opened that one.
    std::uint64_t inode = 0;
    std::memcpy(&inode, h.bytes(), sizeof inode);
    struct stat st
    {
    };
    sys::fstat(fd, st, ec);
    if (ec || static_cast<std::uint64_t>(st.st_ino) != inode)
    {
      sys::close(fd);
      return ec ? -1 : invalid();
    }
  }
  ec.clear();
  return fd;
}

} // namespace pidfd::detail
