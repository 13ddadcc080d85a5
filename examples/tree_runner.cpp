//
// examples/tree_runner.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
// A build-job runner that stops a whole tree on timeout: the job (for
// example "make -j8") runs in a cgroup of its own, so that when it runs
// out of time, its SIGTERM, the grace period and the SIGKILL reach every
// process it started (compilers, shells, a daemonised helper), and the run
// ends only when the cgroup is empty.
//
//   tree_runner [-t MS] [-g MS] [-p PARENT] [COMMAND]
//
// COMMAND runs under /bin/sh -c; without one, a demo job that starts three
// background sleeps and never finishes. PARENT is the cgroup to create the
// job's cgroup under (relative paths are under the cgroup2 mount; default:
// its root, which needs root). Prints the job's end and its output.
//

#include <pidfd/asio.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int usage()
{
  std::fprintf(stderr,
      "usage: tree_runner [-t MS] [-g MS] [-p PARENT] "
      "[COMMAND]\n");
  return 2;
}

} // namespace

int main(int argc, char** argv)
{
  using std::chrono::milliseconds;
  long timeout_ms = 300, grace_ms = 200;
  std::string parent = ".";
  std::string command = "for i in 1 2 3; do sleep 1000 & done; "
                        "echo started 3 jobs; wait";
  int i = 1;
  for (; i + 1 < argc && argv[i][0] == '-'; i += 2)
  {
    if (std::strcmp(argv[i], "-t") == 0)
      timeout_ms = std::atol(argv[i + 1]);
    else if (std::strcmp(argv[i], "-g") == 0)
      grace_ms = std::atol(argv[i + 1]);
    else if (std::strcmp(argv[i], "-p") == 0)
      parent = argv[i + 1];
    else
      return usage();
  }
  if (i < argc)
    command = argv[i++];
  if (i < argc)
    return usage();

  boost::asio::io_context ctx;
  pidfd::run_options options{.timeout = milliseconds(timeout_ms),
      .grace = milliseconds(grace_ms),
      // Once the job is gone, a descendant that still holds the output
      // gets this long before it is killed with the rest of the tree.
      .wait_delay = milliseconds(100),
      .stop_scope = pidfd::terminate_scope::tree};
  options.spawn.cgroup = pidfd::cgroup_placement::create_in(parent);
  options.spawn.err = pidfd::stdio::merge_with_stdout();

  int rc = 1;
  pidfd::async_run(ctx, "/bin/sh", {"-c", command}, std::move(options),
      [&](boost::system::error_code ec, pidfd::run_result r) {
        if (ec)
        {
          std::fprintf(stderr, "tree_runner: %s (the job's cgroup under %s)\n",
              ec.message().c_str(), parent.c_str());
          return;
        }
        std::fputs(r.out.c_str(), stdout);
        std::printf("job %s%s after %lld ms; its tree is gone\n",
            r.status.to_string().c_str(),
            r.timed_out ? " (timed out, tree stopped)" : "",
            static_cast<long long>(
                std::chrono::duration_cast<milliseconds>(r.elapsed).count()));
        rc = r.status.success() ? 0 : 1;
      });
  try
  {
    ctx.run();
  }
  catch (const std::exception& e)
  {
    std::fprintf(stderr, "tree_runner: %s\n", e.what());
  }
  return rc;
}
