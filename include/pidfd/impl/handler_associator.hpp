//
// pidfd/impl/handler_associator.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The associations of a wrapper that holds a user's handler.
//

#ifndef PIDFD_IMPL_HANDLER_ASSOCIATOR_HPP
#define PIDFD_IMPL_HANDLER_ASSOCIATOR_HPP

namespace pidfd::detail {

// For a boost::asio::associator specialisation of a Wrapper that holds a
// Handler (w.handler()): the wrapper's associated executor, allocator,
// cancellation slot and any other association are the handler's, so that
// the wrapper is invisible to Asio. (A member cancellation_slot_type in
// the wrapper takes precedence over it, as for any handler.)
template <template <typename, typename> class Associator, typename Wrapper,
    typename Handler, typename DefaultCandidate>
struct handler_associator : Associator<Handler, DefaultCandidate>
{
  static typename Associator<Handler, DefaultCandidate>::type get(
      const Wrapper& w) noexcept
  {
    return Associator<Handler, DefaultCandidate>::get(w.handler());
  }

  static auto get(const Wrapper& w, const DefaultCandidate& c) noexcept
      -> decltype(Associator<Handler, DefaultCandidate>::get(w.handler(), c))
  {
    return Associator<Handler, DefaultCandidate>::get(w.handler(), c);
  }
};

} // namespace pidfd::detail

#endif // PIDFD_IMPL_HANDLER_ASSOCIATOR_HPP
