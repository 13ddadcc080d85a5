//
// benchmarks/bp2_src.cpp
// ~~~~~~~~~~~~~~~~~~~~~~
// Boost.Process v2 (Boost 1.81) is not header-only: its sources are compiled
// here, once. BOOST_PROCESS_USE_STD_FS (set in CMakeLists.txt) makes it use
// std::filesystem, so no compiled Boost library is needed.
//

#include "bp2.hpp"

#include <boost/process/v2/src.hpp>
