//
// test/engine_headers.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~
// The engine's headers (include/pidfd/engine/) are what the compiled
// library and the header-only binding share: they must hold no Asio type,
// so that one build of the library serves any Asio configuration. This
// file fails to compile if one of them brings in an Asio header.
//

#include "pidfd/engine/backoff_timer.hpp"
#include "pidfd/engine/launch.hpp"
#include "pidfd/engine/process_state.hpp"
#include "pidfd/engine/run_support.hpp"
#include "pidfd/engine/terminal.hpp"
#include "pidfd/engine/wait_mechanism.hpp"
#include "pidfd/engine/wait_ring.hpp"

// Every Asio header includes its configuration header first.
#ifdef BOOST_ASIO_DETAIL_CONFIG_HPP
#error "an engine header includes Asio: it belongs in include/pidfd/impl/"
#endif
