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

// Calls f with each directory of a PATH value; an empty entry means the
// current directory, as for execvp.
template <typename F>
void for_each_directory(std::string_view path, F f)
{
  for (std::size_t begin = 0;;)
  {
    const std::size_t end = path.find(':', begin);
    const std::string_view dir = path.substr(begin,
        end == std::string_view::npos ? std::string_view::npos : end - begin);
    f(dir.empty() ? std::string_view(".") : dir);
    if (end == std::string_view::npos)
      return;
    begin = end + 1;
  }
}

// Copies the pieces, one after the other, and a NUL to `out`; returns the
// string, and leaves `out` just past it.
template <typename... Pieces>
char* put(char*& out, Pieces... pieces) noexcept
{
  char* begin = out;
  ((out = std::copy(pieces.begin(), pieces.end(), out)), ...);
  *out++ = '\0';
  return begin;
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
  std::size_t inherited = 0;
  if (env.inherits())
    for (char** e = environ; e && *e; ++e)
      ++inherited;
  // At most every inherited entry and every change, and the terminator.
  char** out = allocate<char*>(inherited + env.changes().size() + 1);
  envp_ = out;
  const char* path = nullptr;
  auto add = [&](char* entry) {
    *out++ = entry;
    if (name_of(entry) == "PATH")
      path = entry + 5;
  };
  // The parent's entries that no change touches are its own strings, not
  // copies: they are as stable as the environ array that the unchanged
  // environment passes (glibc's setenv and unsetenv never free an entry).
  for (std::size_t i = 0; i < inherited; ++i)
    if (!change_of(name_of(environ[i])))
      add(environ[i]);
  for (std::size_t i = 0; i < env.changes().size(); ++i)
  {
    const auto& [name, value] = env.changes()[i];
    // Only the last change of each name is applied.
    if (change_of(name) != &env.changes()[i].second || !value)
      continue;
    char* chars = allocate<char>(name.size() + value->size() + 2);
    add(put(chars, std::string_view(name), std::string_view("="),
        std::string_view(*value)));
  }
  *out = nullptr;
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

  // The arguments and candidates are copied (a string_view need not end in
  // a NUL), all into one block of exactly the size they need.
  std::size_t size = argv0.size() + 1;
  for (std::string_view a : args)
    size += a.size() + 1;
  candidate_count_ = 0;
  if (!search)
  {
    size += program.size() + 1;
    candidate_count_ = 1;
  }
  else
    for_each_directory(path, [&](std::string_view dir) {
      size += dir.size() + 1 + program.size() + 1;
      ++candidate_count_;
    });
  char* chars = allocate<char>(size);
  argv_ = allocate<char*>(args.size() + 2);
  candidates_ = allocate<const char*>(candidate_count_);

  char** arg = argv_;
  *arg++ = put(chars, argv0);
  for (std::string_view a : args)
    *arg++ = put(chars, a);
  *arg = nullptr;

  const char** candidate = candidates_;
  if (!search)
    *candidate = put(chars, program);
  else
    for_each_directory(path, [&](std::string_view dir) {
      *candidate++ = put(chars, dir, std::string_view("/"), program);
    });

  ec.clear();
  return true;
}

} // namespace pidfd::detail
