//
// benchmarks/bp2.hpp
// ~~~~~~~~~~~~~~~~~~
// Boost.Process v2 as Boost 1.81 ships it, on std::filesystem
// (BOOST_PROCESS_USE_STD_FS) so that no compiled Boost library is needed.
//
// In that mode the 1.81 headers still use boost::optional and Boost's
// type traits (decay, is_convertible, remove_pointer, unqualified) without
// including them; with Boost.Filesystem, its headers happen to. Include
// them first.
//

#ifndef PIDFD_BENCH_BP2_HPP
#define PIDFD_BENCH_BP2_HPP

#include <boost/optional.hpp>
#include <boost/type_traits.hpp>

#include <boost/process/v2/posix/vfork_launcher.hpp>
#include <boost/process/v2/process.hpp>

#endif // PIDFD_BENCH_BP2_HPP
