//
// test/support/counting_allocator.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// An allocator that counts what goes through it, for the tests that check
// an operation honours its handler's associated allocator.
//

#ifndef PIDFD_TEST_SUPPORT_COUNTING_ALLOCATOR_HPP
#define PIDFD_TEST_SUPPORT_COUNTING_ALLOCATOR_HPP

#include <cstddef>
#include <memory>

namespace pidfd_test {

// Counts allocations made through it, as Asio's
// system_timer_custom_allocation_test does.
struct allocation_counts
{
  int allocations = 0;
  int outstanding = 0;
};

template <typename T>
class counting_allocator
{
public:
  using value_type = T;

  explicit counting_allocator(allocation_counts& counts) noexcept
    : counts_(&counts)
  {
  }

  template <typename U>
  counting_allocator(const counting_allocator<U>& other) noexcept
    : counts_(other.counts_)
  {
  }

  T* allocate(std::size_t n)
  {
    ++counts_->allocations;
    ++counts_->outstanding;
    return std::allocator<T>().allocate(n);
  }

  void deallocate(T* p, std::size_t n)
  {
    --counts_->outstanding;
    std::allocator<T>().deallocate(p, n);
  }

  bool operator==(const counting_allocator& other) const noexcept
  {
    return counts_ == other.counts_;
  }

private:
  template <typename>
  friend class counting_allocator;

  allocation_counts* counts_;
};

} // namespace pidfd_test

#endif // PIDFD_TEST_SUPPORT_COUNTING_ALLOCATOR_HPP
