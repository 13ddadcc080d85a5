//
// benchmarks/code_size/call_sites.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// A user's translation unit with 0, 1 or 2 wait call sites (CALL_SITES),
// each with a handler type of its own: of a pidfd::process (PROCESS) or of
// a steady_timer, the yardstick. scripts/code-size compiles it each way and
// compares the code each call site adds.
//

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#ifdef PROCESS
#include <pidfd/process.hpp>
#include <pidfd/spawn.hpp>
#endif

#include <chrono>
#include <cstdio>

int main()
{
  boost::asio::io_context ctx;
#ifdef PROCESS
  pidfd::process w = pidfd::spawn(ctx, "true", {});
#define HANDLER(n)                                                             \
  [](boost::system::error_code ec, pidfd::exit_status s) {                     \
    std::printf(n " %s %d\n", ec.message().c_str(), s.code());                 \
  }
#else
  boost::asio::steady_timer w(ctx, std::chrono::milliseconds(1));
#define HANDLER(n)                                                             \
  [](boost::system::error_code ec) {                                           \
    std::printf(n " %s\n", ec.message().c_str());                              \
  }
#endif
#if CALL_SITES >= 1
  w.async_wait(HANDLER("first"));
#endif
#if CALL_SITES >= 2
  w.async_wait(HANDLER("second"));
#endif
  ctx.run();
}
