//
// pidfd/impl/asio_backend.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~
// What the binding must know of the user's Asio backend, and the one
// backend it refuses to be built with.
//

#ifndef PIDFD_IMPL_ASIO_BACKEND_HPP
#define PIDFD_IMPL_ASIO_BACKEND_HPP

#include <boost/asio/detail/config.hpp>
#include <boost/version.hpp>

// Descriptors are served by Asio's io_uring backend rather than its
// reactor.
#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define PIDFD_ASIO_DESCRIPTORS_ON_IO_URING 1
#else
#define PIDFD_ASIO_DESCRIPTORS_ON_IO_URING 0
#endif

// Boost 1.81's io_uring backend submits its cancellations without setting
// their user_data, so each carries whatever its submission queue slot held
// before. Once the queue has wrapped (16,384 submissions), a cancellation's
// completion is taken for some other operation's: a read reports end of
// file or an error early, and the kernel still writes into its buffer
// later. Boost 1.82 (Asio 1.27) fixed it. The binding cancels on its own
// (the reads of a run that is stopped, the waits of a process closed, the
// wait for an idle ring), so a program that never cancels is exposed too.
// Defining PIDFD_ASIO_ALLOW_BOOST_1_81_IO_URING builds it anyway: for
// short-lived programs, such as this project's tests on Debian 12's Boost.
#if PIDFD_ASIO_DESCRIPTORS_ON_IO_URING && BOOST_VERSION < 108200               \
    && !defined(PIDFD_ASIO_ALLOW_BOOST_1_81_IO_URING)
#error                                                                         \
    "pidfd-asio: Boost before 1.82 corrupts memory on its io_uring backend \
once a cancellation's submission slot has been used before (Asio 1.27 fixed \
it): use Boost 1.82 or later, Asio's epoll backend, or define \
PIDFD_ASIO_ALLOW_BOOST_1_81_IO_URING for a short-lived program"
#endif

#endif // PIDFD_IMPL_ASIO_BACKEND_HPP
