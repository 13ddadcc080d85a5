//
// examples/test/command_server_test.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Starts the command_server example on an ephemeral loopback port, opens
// several connections at once (one asks for a command that is not
// allowed, one hangs up without reading), checks every reply, and checks
// that the server exits by itself once it has served them all.
//
//   command_server_test PATH_TO_COMMAND_SERVER
//

#include "driver.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using asio::ip::tcp;
using driver::check;

// Sends one request and reads the whole reply; `hang_up` closes the
// connection right after the request instead.
asio::awaitable<void> client(unsigned short port, std::string request,
    std::string& reply, bool hang_up = false)
{
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(
      {asio::ip::address_v4::loopback(), port}, asio::use_awaitable);
  request += "\n";
  co_await asio::async_write(
      socket, asio::buffer(request), asio::use_awaitable);
  if (hang_up)
    co_return;
  // Ends with eof when the server closes the connection.
  co_await asio::async_read(socket, asio::dynamic_buffer(reply, 1 << 20),
      asio::as_tuple(asio::use_awaitable));
}

// The server exits by itself once it has served every connection.
asio::awaitable<void> server_exits(driver::program& server)
{
  co_await server.read_to_end();
  pidfd::exit_status status =
      co_await server.process().async_wait(asio::use_awaitable);
  check(status.success(), "the server " + status.to_string());
}

asio::awaitable<void> test(asio::io_context& ctx, std::string path)
{
  // Seven connections: six requests, and one that hangs up.
  driver::program server(ctx, path, {"-p", "0", "-n", "7"});
  std::optional<std::string> first = co_await server.next_line();
  check(first && first->starts_with("port "), "the server prints its port");
  const auto port = static_cast<unsigned short>(std::stoi(first->substr(5)));

  // All at once: the server serves them on its one thread.
  std::string hello, seq, slow, fail, refused, kernel, ignored;
  co_await (client(port, "hello", hello) && client(port, "seq", seq)
      && client(port, "slow", slow) && client(port, "fail", fail)
      && client(port, "rm -rf /", refused) && client(port, "kernel", kernel)
      && client(port, "seq", ignored, true) && server_exits(server));

  std::string numbers;
  for (int i = 1; i <= 20000; ++i)
    numbers += std::to_string(i) + "\n";
  const std::string ok = "-- exited with code 0\n";
  check(hello == "hello from pidfd-asio\n" + ok, "hello");
  check(seq == numbers + ok, "seq: 20000 lines, all in order");
  check(slow == "tick\ntock\n" + ok, "slow");
  check(fail == "giving up\n-- exited with code 7\n", "fail");
  check(refused.starts_with("error: 'rm -rf /' is not allowed"),
      "rm -rf / is refused");
  check(kernel.starts_with("Linux ") && kernel.ends_with(ok), "kernel");
  check(driver::contains(server.output(), "rejected 'rm -rf /'\n"),
      "the server logs the refusal");
}

int main(int argc, char* argv[])
{
  if (argc != 2)
  {
    std::fprintf(stderr, "usage: command_server_test PATH\n");
    return 2;
  }
  return driver::run([&](asio::io_context& ctx) { return test(ctx, argv[1]); });
}
