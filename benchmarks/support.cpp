//
// benchmarks/support.cpp
// ~~~~~~~~~~~~~~~~~~~~~~
//

#include "bench.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <dirent.h>
#include <unistd.h>
#include <sys/resource.h>
#include <time.h>

namespace bench {

std::int64_t now_ns() noexcept
{
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void check_errno(bool ok, const char* what)
{
  if (!ok)
    throw std::system_error(errno, std::generic_category(), what);
}

std::string format(const char* fmt, ...)
{
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0)
    return {};
  return std::string(buf, std::min<std::size_t>(n, sizeof buf - 1));
}

// ---- statistics -----------------------------------------------------------

double median(std::vector<double> v)
{
  if (v.empty())
    return NAN;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<double> v, double q)
{
  if (v.empty())
    return NAN;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(q * v.size()));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

double min_of(const std::vector<double>& v)
{
  return v.empty() ? NAN : *std::min_element(v.begin(), v.end());
}

double max_of(const std::vector<double>& v)
{
  return v.empty() ? NAN : *std::max_element(v.begin(), v.end());
}

std::vector<double> ratios(
    const std::vector<double>& a, const std::vector<double>& b)
{
  std::vector<double> r;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    r.push_back(a[i] / b[i]);
  return r;
}

table::table(std::vector<std::string> header)
{
  rows_.push_back(std::move(header));
}

void table::add(std::vector<std::string> row)
{
  row.resize(rows_.front().size());
  rows_.push_back(std::move(row));
}

void table::print(std::FILE* out) const
{
  std::vector<std::size_t> width(rows_.front().size(), 3);
  for (const auto& row : rows_)
    for (std::size_t i = 0; i < row.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  auto line = [&](const std::vector<std::string>& row) {
    std::fputc('|', out);
    for (std::size_t i = 0; i < row.size(); ++i)
      std::fprintf(out, " %-*s |", static_cast<int>(width[i]), row[i].c_str());
    std::fputc('\n', out);
  };
  line(rows_.front());
  std::fputc('|', out);
  for (std::size_t w : width)
    std::fprintf(out, "%s|", std::string(w + 2, '-').c_str());
  std::fputc('\n', out);
  for (std::size_t i = 1; i < rows_.size(); ++i)
    line(rows_[i]);
  std::fputc('\n', out);
}

// ---- the process we run in ------------------------------------------------

long raise_nofile_limit()
{
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
  return static_cast<long>(lim.rlim_cur);
}

namespace {

// A "Name:   value" field of /proc/self/status, or -1.
long status_field(const char* name)
{
  std::FILE* f = std::fopen("/proc/self/status", "re");
  if (!f)
    return -1;
  char line[256];
  long value = -1;
  const std::size_t len = std::strlen(name);
  while (std::fgets(line, sizeof line, f))
  {
    if (std::strncmp(line, name, len) == 0 && line[len] == ':')
    {
      value = std::strtol(line + len + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return value;
}

} // namespace

int count_threads()
{
  return static_cast<int>(status_field("Threads"));
}

int count_fds()
{
  DIR* d = ::opendir("/proc/self/fd");
  if (!d)
    return -1;
  int n = 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.')
      ++n;
  ::closedir(d);
  return n - 1; // the directory's own fd
}

long peak_rss_kib()
{
  return status_field("VmHWM");
}

// Children of the calling thread not yet reaped (running or zombie), from
// /proc/self/task/TID/children (CONFIG_PROC_CHILDREN); -1 if unavailable.
int count_live_children()
{
  const std::string path =
      format("/proc/self/task/%d/children", static_cast<int>(::gettid()));
  std::FILE* f = std::fopen(path.c_str(), "re");
  if (!f)
    return -1;
  int n = 0;
  long pid = 0;
  while (std::fscanf(f, "%ld", &pid) == 1)
    ++n;
  std::fclose(f);
  return n;
}

fanout_result spawn_phase_done(std::int64_t start)
{
  fanout_result r;
  r.spawn_ns = now_ns() - start;
  r.threads = count_threads();
  r.fds = count_fds();
  r.live_children = count_live_children();
  return r;
}

// ---- command --------------------------------------------------------------

command::command(std::string program, std::vector<std::string> args)
  : program_(std::move(program)), path_(program_), args_(std::move(args)),
    pidfd_args_(args_)
{
  argv_.push_back(program_.data());
  for (std::string& a : args_)
    argv_.push_back(a.data());
  argv_.push_back(nullptr);
}

} // namespace bench
