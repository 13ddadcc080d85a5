//
// test/support/cgroup_fs.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// Looking at cgroups through the file system, for the tests that check what
// the library did to them: read here rather than asked of the library.
//

#ifndef PIDFD_TEST_SUPPORT_CGROUP_FS_HPP
#define PIDFD_TEST_SUPPORT_CGROUP_FS_HPP

#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>

namespace pidfd_test {

// The cgroup2 mount, from /proc/self/mountinfo (its fifth field).
inline std::optional<std::string> cgroup2_mount()
{
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line))
  {
    if (line.find(" - cgroup2 ") == std::string::npos)
      continue;
    std::istringstream fields(line);
    std::string skip, mount;
    fields >> skip >> skip >> skip >> skip >> mount;
    return mount;
  }
  return std::nullopt;
}

// The names of the directories in path (child cgroups, for a cgroup).
inline std::vector<std::string> subdirectories(const std::string& path)
{
  std::vector<std::string> out;
  if (DIR* d = ::opendir(path.c_str()))
  {
    while (dirent* e = ::readdir(d))
      if (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") != 0
          && std::strcmp(e->d_name, "..") != 0)
        out.push_back(e->d_name);
    ::closedir(d);
  }
  return out;
}

inline bool path_exists(const std::string& path)
{
  struct stat st
  {
  };
  return ::stat(path.c_str(), &st) == 0;
}

} // namespace pidfd_test

#endif
