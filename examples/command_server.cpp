//
// examples/command_server.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~
// A TCP server on 127.0.0.1: a client sends one line naming a command from
// a fixed list, the server runs it and streams its output back through a
// pipe as it is produced, then a last line with the exit status, and
// closes. Sockets, pipes and child processes all wait in one io_context,
// on one thread, however many clients are connected.
//
//   command_server [-p PORT] [-n MAX_CONNECTIONS]
//
// PORT 0 (the default) picks a free port; the port is printed first, as
// "port N". With -n the server stops accepting after that many connections
// and exits once they are served.
//
//   $ echo seq | nc 127.0.0.1 PORT
//

#include <pidfd/asio.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <vector>

namespace asio = boost::asio;
using asio::ip::tcp;

// The only commands a client can run: a name maps to a fixed argv, so no
// client text ever reaches a shell or an argument list.
const std::map<std::string, std::vector<std::string>> commands = {
    {"hello", {"echo", "hello from pidfd-asio"}},
    {"kernel", {"uname", "-sr"}},
    {"seq", {"seq", "1", "20000"}},
    {"slow", {"sh", "-c", "echo tick; sleep 0.2; echo tock"}},
    {"fail", {"sh", "-c", "echo giving up; exit 7"}},
};

// Errors end a session quietly; a client that went away is no concern of
// the other sessions.
constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);

// Runs a command with its stdout and stderr in one pipe whose read end is
// ours, and copies that to the socket until end of file (the child, and
// anything it started that kept the pipe, has closed its end). Returns how
// the command ended.
asio::awaitable<std::string> run_command(
    tcp::socket& socket, const std::vector<std::string>& argv)
{
  auto ex = socket.get_executor();
  asio::readable_pipe out(ex);
  // kill_on_destroy: if we return early (the client went away), the child
  // is killed as `child` goes out of scope, and reaped in the background.
  boost::system::error_code ec;
  pidfd::process child = pidfd::spawn(ex, argv[0],
      std::vector<std::string>(argv.begin() + 1, argv.end()),
      {.in = pidfd::stdio::null(),
          .out = pidfd::stdio::pipe(out),
          .err = pidfd::stdio::merge_with_stdout(),
          .kill_on_destroy = true},
      ec);
  if (ec)
    co_return "error: " + ec.message();

  std::vector<char> buf(4096);
  for (;;)
  {
    auto [read_ec, n] =
        co_await out.async_read_some(asio::buffer(buf), no_throw);
    if (read_ec) // asio::error::eof, normally
      break;
    auto [write_ec, ignored] =
        co_await asio::async_write(socket, asio::buffer(buf, n), no_throw);
    if (write_ec)
      co_return "client gone: " + write_ec.message();
  }

  auto [wait_ec, status] = co_await child.async_wait(no_throw);
  co_return wait_ec ? "error: " + wait_ec.message() : status.to_string();
}

// One client: read the request line, run the command or refuse it, and
// end with a line that says how it went.
asio::awaitable<void> session(tcp::socket socket)
{
  std::string line;
  auto [read_ec, n] = co_await asio::async_read_until(
      socket, asio::dynamic_buffer(line, 100), '\n', no_throw);
  if (read_ec) // closed early, or more than 100 bytes without a newline
    co_return;
  std::string name = line.substr(0, n - 1);
  if (name.ends_with('\r'))
    name.pop_back();

  std::string reply;
  if (auto found = commands.find(name); found != commands.end())
  {
    const std::string result = co_await run_command(socket, found->second);
    std::printf("ran '%s': %s\n", name.c_str(), result.c_str());
    reply = "-- " + result + "\n";
  }
  else
  {
    std::printf("rejected '%s'\n", name.c_str());
    reply = "error: '" + name + "' is not allowed; try:";
    for (const auto& [allowed, argv] : commands)
      reply += " " + allowed;
    reply += "\n";
  }
  co_await asio::async_write(socket, asio::buffer(reply), no_throw);
}

// Accepts connections, each served by its own coroutine; max == 0 means
// no limit.
asio::awaitable<void> listen(tcp::acceptor& acceptor, long max)
{
  for (long served = 0; max == 0 || served < max; ++served)
  {
    tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(
        acceptor.get_executor(), session(std::move(socket)), asio::detached);
  }
  acceptor.close();
}

int main(int argc, char* argv[])
{
  long port = 0, max = 0;
  for (int i = 1; i < argc; i += 2)
  {
    const std::string opt = argv[i];
    const long value =
        i + 1 < argc ? std::strtol(argv[i + 1], nullptr, 10) : -1;
    if (opt == "-p")
      port = value;
    else if (opt == "-n")
      max = value;
    if ((opt != "-p" && opt != "-n") || port < 0 || port > 65535 || max < 0)
    {
      std::fprintf(
          stderr, "usage: command_server [-p PORT] [-n MAX_CONNECTIONS]\n");
      return 2;
    }
  }

  asio::io_context ctx;
  // Loopback only: this server runs programs for anyone who connects.
  tcp::acceptor acceptor(ctx,
      {asio::ip::address_v4::loopback(), static_cast<unsigned short>(port)});
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::printf("port %u\n", acceptor.local_endpoint().port());

  // A failed accept (out of fds, say) ends the server with the exception;
  // sessions handle their own errors.
  asio::co_spawn(ctx, listen(acceptor, max), [](std::exception_ptr e) {
    if (e)
      std::rethrow_exception(e);
  });
  ctx.run();
  return 0;
}
