//
// benchmarks/heap.cpp
// ~~~~~~~~~~~~~~~~~~~
// Heap in use per waiting child, a count where S3's peak RSS is a
// sample of a drifting machine:
//
//   bench_heap N
//
// spawns N `sleep 30` children, each with a pending async_wait (a plain
// callback, as S3's asio_cb), runs the io_context until nothing more is
// ready (the waits are armed, the ring's polls submitted), and prints the
// growth of glibc's heap in use (mallinfo2().uordblks) divided by N, with
// the mechanism that PIDFD_ASIO_MECHANISM chose. The process objects sit
// in a vector reserved beforehand, so that only the library's memory is
// counted. Then the children are killed and reaped. One warm-up spawn
// first makes what a context makes once (its service, its ring).
//

#include <pidfd/asio.hpp>

#include <boost/asio/io_context.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <malloc.h>

int main(int argc, char** argv)
{
  const int n = argc > 1 ? std::atoi(argv[1]) : 0;
  if (n <= 0)
  {
    std::fprintf(stderr, "usage: bench_heap N\n");
    return 2;
  }
  boost::asio::io_context ctx;
  std::vector<pidfd::process> children;
  children.reserve(static_cast<std::size_t>(n));
  int ended = 0;
  auto on_exit = [&](boost::system::error_code ec, pidfd::exit_status) {
    ended += ec ? 0 : 1;
  };
  {
    pidfd::process warm = pidfd::spawn(ctx, "/bin/true", {});
    warm.async_wait(on_exit);
    ctx.run();
    ctx.restart();
  }
  const std::size_t before = ::mallinfo2().uordblks;
  for (int i = 0; i < n; ++i)
  {
    children.push_back(pidfd::spawn(ctx, "/bin/sleep", {"30"}));
    children.back().async_wait(on_exit);
  }
  ctx.poll();
  const std::size_t after = ::mallinfo2().uordblks;
  const char* mechanism = std::getenv("PIDFD_ASIO_MECHANISM");
  std::printf("%.1f B heap in use per waiting child (N = %d, "
              "PIDFD_ASIO_MECHANISM=%s)\n",
      static_cast<double>(after - before) / n, n,
      mechanism ? mechanism : "(unset)");
  for (pidfd::process& p : children)
    p.signal(SIGKILL);
  ctx.restart();
  ctx.run();
  return ended == n + 1 ? 0 : 1;
}
