//
// test/cmake_test/consumer/main.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// A program that uses pidfd-asio the way a user's would: through the
// umbrella header, linked against an installed or embedded library.
//

#include <pidfd/asio.hpp>

#include <boost/asio/io_context.hpp>

#include <cstdio>

int main()
{
  boost::asio::io_context ctx;
  pidfd::process child = pidfd::spawn(ctx, "true");
  pidfd::exit_status status;
  child.async_wait([&](boost::system::error_code ec, pidfd::exit_status s) {
    if (ec)
      std::printf("wait failed: %s\n", ec.message().c_str());
    status = s;
  });
  ctx.run();
  std::printf("pidfd-asio %s: true %s\n", PIDFD_ASIO_VERSION_STRING,
      status.to_string().c_str());
  return status.success() ? 0 : 1;
}
