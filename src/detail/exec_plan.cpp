//
// src/detail/exec_plan.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~
//

#include "detail/exec_plan.hpp"

#include "pidfd/error.hpp"

#include <algorithm>
#include <cstdlib>

#include <unistd.h>

namespace pidfd::detail {
namespace {

// glibc's execvp default when PATH is unset (confstr _CS_PATH).
constexpr std::string_view default_path = "/bin:/usr/bin";

bool has_nul(std::string_view s) noexcept
{
  return s.find('\0') != std::string_view::npos;
}

// "NAME=value" -> "NAME".
std::string_view name_of(std::string_view entry) noexcept
{
  return entry.substr(0, entry.find('='));
}

} // namespace

const char* exec_plan::build_environment(
    const environment& env, boost::system::error_code& ec, std::string& detail)
{
  ec.clear();
  if (env.inherits() && env.changes().empty())
  {
    envp_ = environ;
    return nullptr; // the caller reads PATH only if it needs it
  }
  for (const auto& [name, value] : env.changes())
  {
    // A NUL is the error error.hpp documents for every string execve
    // gets (program, argument, environment entry); a name execve could
    // take but that is no variable name is a bad option.
    const bool nul = has_nul(name) || (value && has_nul(*value));
    if (nul || name.empty() || name.find('=') != std::string::npos)
    {
      ec = nul ? error::embedded_nul : error::invalid_option;
      detail = "environment variable \""
          + name.substr(0, std::min(name.find('\0'), std::size_t{64})) + "\"";
      return nullptr;
    }
  }
  // The last change of a name wins.
  auto change_of =
      [&](std::string_view name) -> const std::optional<std::string>* {
    const std::optional<std::string>* found = nullptr;
    for (const auto& [n, v] : env.changes())
      if (n == name)
        found = &v;
    return found;
  };
  env_storage_.clear();
  if (env.inherits())
    for (char** e = environ; e && *e; ++e)
      if (!change_of(name_of(*e)))
        env_storage_.emplace_back(*e);
  for (std::size_t i = 0; i < env.changes().size(); ++i)
  {
    const auto& [name, value] = env.changes()[i];
    // Only the last change of each name is applied.
    if (change_of(name) != &env.changes()[i].second || !value)
      continue;
    env_storage_.push_back(name + "=" + *value);
  }
  env_pointers_.clear();
  const char* path = nullptr;
  for (std::string& entry : env_storage_)
  {
    env_pointers_.push_back(entry.data());
    if (name_of(entry) == "PATH")
      path = entry.c_str() + 5;
  }
  env_pointers_.push_back(nullptr);
  envp_ = env_pointers_.data();
  return path;
}

bool exec_plan::build(std::string_view program,
    std::span<const std::string_view> args, const spawn_options& options,
    boost::system::error_code& ec, std::string& detail)
{
  if (program.empty())
  {
    ec = error::empty_program;
    return false;
  }
  std::string_view argv0 = options.argv0 ? *options.argv0 : program;
  bool bad = has_nul(program) || has_nul(argv0);
  for (std::string_view a : args)
    bad = bad || has_nul(a);
  if (bad)
  {
    ec = error::embedded_nul;
    return false;
  }

  const char* child_path = build_environment(options.env, ec, detail);
  if (ec)
    return false;

  const bool search = program.find('/') == std::string_view::npos;
  std::string_view path;
  if (search)
  {
    if (envp_ == environ)
      child_path = std::getenv("PATH");
    path = child_path ? std::string_view(child_path) : default_path;
  }

  // All strings go into one buffer; pointers are taken once it is full, so
  // it never reallocates under them.
  std::size_t size = argv0.size() + 1;
  for (std::string_view a : args)
    size += a.size() + 1;
  size += search ? path.size()
          + (program.size() + 2)
              * (1 + std::count(path.begin(), path.end(), ':'))
                 : program.size() + 1;
  storage_.clear();
  storage_.reserve(size);

  std::vector<std::size_t> offsets;
  offsets.reserve(args.size() + 1);
  auto append = [&](std::string_view s) {
    offsets.push_back(storage_.size());
    storage_.append(s);
    storage_.push_back('\0');
  };
  append(argv0);
  for (std::string_view a : args)
    append(a);
  const std::size_t arg_count = offsets.size();

  if (!search)
    append(program);
  else
  {
    for (std::size_t begin = 0;;)
    {
      std::size_t end = path.find(':', begin);
      std::string_view dir = path.substr(begin,
          end == std::string_view::npos ? std::string_view::npos : end - begin);
      // An empty entry means the current directory, as for execvp.
      offsets.push_back(storage_.size());
      storage_.append(dir.empty() ? std::string_view(".") : dir);
      storage_.push_back('/');
      storage_.append(program);
      storage_.push_back('\0');
      if (end == std::string_view::npos)
        break;
      begin = end + 1;
    }
  }

  argv_.clear();
  argv_.reserve(arg_count + 1);
  for (std::size_t i = 0; i < arg_count; ++i)
    argv_.push_back(storage_.data() + offsets[i]);
  argv_.push_back(nullptr);

  candidates_.clear();
  for (std::size_t i = arg_count; i < offsets.size(); ++i)
    candidates_.push_back(storage_.data() + offsets[i]);

  ec.clear();
  return true;
}

} // namespace pidfd::detail
