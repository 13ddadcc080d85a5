//
// examples/pty_driver.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// expect(1) in a page: runs an interactive program on a pseudo-terminal,
// waits for each of its prompts, answers it, and prints the whole session
// as a terminal would have shown it. The program sees a real terminal
// (isatty, a window size, ^C), so it prompts and flushes as it would for
// a person; a pipe would have it buffer its output, or refuse to run.
//
//   pty_driver                                    the built-in demo
//   pty_driver -e 'Name? ' -s Ada -- sh -c 'printf "Name? "; read n'
//   pty_driver -t 2000 -e '$ ' -s 'ls /' -e '$ ' -s exit -- env PS1='$ ' sh -i
//
// -e TEXT waits for TEXT, -s LINE then types LINE and Enter (pairs, in
// order); -t MS is how long each wait may take (default 5000). Exits 0 if
// every prompt came and the program succeeded.
//

#include <pidfd/asio.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

struct step
{
  std::string expect; // wait for this text
  std::string send; // then type this line
};

struct script
{
  std::vector<step> steps;
  std::vector<std::string> command; // program and arguments
  std::chrono::milliseconds timeout{5000};
};

// The session as a terminal shows it: its "\r\n" line ends as "\n".
void show(const std::string& text)
{
  std::string shown;
  for (std::size_t i = 0; i < text.size(); ++i)
    if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n'))
      shown += text[i];
  std::fwrite(shown.data(), 1, shown.size(), stdout);
  std::fflush(stdout);
}

asio::awaitable<int> drive(const script& s)
{
  auto ex = co_await asio::this_coro::executor;
  pidfd::pty term(ex);
  pidfd::spawn_options options;
  options.in = pidfd::stdio::pty(term);
  options.out = pidfd::stdio::pty(term);
  options.err = pidfd::stdio::pty(term);
  options.terminal.rows = 24;
  options.terminal.cols = 80;
  // If this driver gives up (or throws), the program does not linger.
  options.kill_on_destroy = true;
  const std::vector<std::string> args(s.command.begin() + 1, s.command.end());
  pidfd::process child = pidfd::spawn(ex, s.command[0], args, options);

  std::string seen; // read, not yet shown
  for (const step& st : s.steps)
  {
    // The prompt or the timer, whichever comes first; the loser is
    // cancelled (a cancelled read leaves the terminal as it was).
    asio::steady_timer timer(ex, s.timeout);
    auto first =
        co_await (asio::async_read_until(term, asio::dynamic_buffer(seen),
                      st.expect, asio::as_tuple(asio::use_awaitable))
            || timer.async_wait(asio::use_awaitable));
    if (first.index() == 1)
    {
      show(seen);
      std::printf("\n[no \"%s\" within %lld ms; stopping the program]\n",
          st.expect.c_str(), static_cast<long long>(s.timeout.count()));
      pidfd::exit_status status = co_await child.async_terminate(
          std::chrono::seconds(2), asio::use_awaitable);
      std::printf("[%s]\n", status.to_string().c_str());
      co_return 1;
    }
    auto [ec, n] = std::get<0>(first);
    if (ec)
    {
      // eof: the program ended (closed its terminal) before the prompt.
      show(seen);
      pidfd::exit_status status =
          co_await child.async_wait(asio::use_awaitable);
      std::printf("\n[ended before \"%s\": %s]\n", st.expect.c_str(),
          status.to_string().c_str());
      co_return 1;
    }
    show(seen.substr(0, n));
    seen.erase(0, n);
    // Enter is "\r" on a terminal; the line discipline turns it into the
    // "\n" the program reads (ICRNL), and echoes the line back.
    const std::string line = st.send + "\r";
    co_await asio::async_write(term, asio::buffer(line), asio::use_awaitable);
  }

  // The rest of the session: everything until the terminal is closed.
  auto [ec, n] = co_await asio::async_read(
      term, asio::dynamic_buffer(seen), asio::as_tuple(asio::use_awaitable));
  (void)n;
  show(seen);
  pidfd::exit_status status = co_await child.async_wait(asio::use_awaitable);
  std::printf("[%s]\n", status.to_string().c_str());
  co_return ec == asio::error::eof&& status.success() ? 0 : 1;
}

int main(int argc, char** argv)
{
  script s;
  int i = 1;
  for (; i < argc; ++i)
  {
    const std::string arg = argv[i];
    if ((arg == "-e" || arg == "-s" || arg == "-t") && i + 1 < argc)
    {
      const char* value = argv[++i];
      if (arg == "-e")
        s.steps.push_back({value, ""});
      else if (arg == "-t")
        s.timeout = std::chrono::milliseconds(std::atoi(value));
      else if (!s.steps.empty())
        s.steps.back().send = value;
      continue;
    }
    if (arg == "--")
      ++i;
    break;
  }
  for (; i < argc; ++i)
    s.command.emplace_back(argv[i]);
  if (s.command.empty())
  {
    // The demo: a program that asks two questions and checks it is on a
    // terminal (a pipe would not do).
    s.command = {"sh", "-c",
        "test -t 0 || exit 2; printf 'Name? '; read name; "
        "printf 'Favourite number? '; read n; "
        "echo \"Hello, $name: $((n * 2)) is twice yours.\""};
    s.steps = {{"Name? ", "Ada"}, {"number? ", "21"}};
  }

  try
  {
    asio::io_context ctx;
    int code = 1;
    asio::co_spawn(ctx, drive(s), [&](std::exception_ptr e, int c) {
      if (e)
        std::rethrow_exception(e);
      code = c;
    });
    ctx.run();
    return code;
  }
  catch (const std::exception& e)
  {
    std::fprintf(stderr, "pty_driver: %s\n", e.what());
    return 1;
  }
}
