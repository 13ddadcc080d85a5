//
// src/run.cpp
// ~~~~~~~~~~~
//

#include "pidfd/run.hpp"

#include "detail/syscalls.hpp"

#include <boost/asio/error.hpp>

namespace pidfd::detail {

boost::system::error_code write_no_sigpipe(
    int fd, const char*& data, std::size_t& size)
{
  while (size > 0)
  {
    long n = sys::write_no_sigpipe(fd, data, size);
    if (n < 0)
    {
      if (n == -EAGAIN)
        return boost::asio::error::would_block;
      // EPIPE: the child closed its stdin; what it did not read is its
      // choice, not an error of the run.
      return {static_cast<int>(-n), boost::system::system_category()};
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

} // namespace pidfd::detail
