//
// src/detail/blocking_pool.cpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
//

#include "detail/blocking_pool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <system_error>

#include <limits.h>
#include <pthread.h>
#include <signal.h>

namespace pidfd::detail::blocking_pool {
namespace {

// A blocked waitid needs a few hundred bytes of stack; 64 KiB leaves room
// for the completion work (a write to an eventfd) and for sanitizers.
constexpr std::size_t stack_size = 64 * 1024;

class pool
{
public:
  void submit(std::function<void()> job)
  {
    std::unique_lock lock(mutex_);
    jobs_.push_back(std::move(job));
    if (idle_ > jobs_.size() - 1)
    {
      ready_.notify_one();
      return;
    }
    ++threads_;
    lock.unlock();
    if (int err = start_thread(); err != 0)
    {
      lock.lock();
      --threads_;
      jobs_.pop_back();
      throw std::system_error(
          err, std::generic_category(), "pidfd wait4 pool: pthread_create");
    }
  }

  bool wait_until_empty(std::chrono::steady_clock::time_point deadline)
  {
    std::unique_lock lock(mutex_);
    return emptied_.wait_until(
        lock, deadline, [this] { return threads_ == 0; });
  }

  bool wait_until_idle(std::chrono::steady_clock::time_point deadline)
  {
    std::unique_lock lock(mutex_);
    return idled_.wait_until(
        lock, deadline, [this] { return jobs_.empty() && busy_ == 0; });
  }

  std::atomic<long long> idle_timeout_ms{10'000};

private:
  int start_thread()
  {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(
        &attr, std::max<std::size_t>(stack_size, PTHREAD_STACK_MIN));
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    // Pool threads must not take the application's signals: block them
    // all, as a library thread should.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t thread;
    int err = pthread_create(&thread, &attr, &pool::run, this);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    pthread_attr_destroy(&attr);
    return err;
  }

  static void* run(void* self)
  {
    static_cast<pool*>(self)->work();
    return nullptr;
  }

  void work()
  {
    std::unique_lock lock(mutex_);
    for (;;)
    {
      if (jobs_.empty())
      {
        ++idle_;
        bool woken = ready_.wait_for(lock,
            std::chrono::milliseconds(idle_timeout_ms.load()),
            [this] { return !jobs_.empty(); });
        --idle_;
        if (!woken)
        {
          if (--threads_ == 0)
            emptied_.notify_all();
          return;
        }
      }
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      ++busy_;
      lock.unlock();
      job();
      job = nullptr; // release what the job holds before idling
      lock.lock();
      if (--busy_ == 0 && jobs_.empty())
        idled_.notify_all();
    }
  }

  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable emptied_;
  std::condition_variable idled_;
  std::deque<std::function<void()>> jobs_;
  std::size_t threads_ = 0;
  std::size_t idle_ = 0;
  std::size_t busy_ = 0;
};

// Never destroyed: detached threads may still use it while static
// destructors run at exit.
pool& instance()
{
  static pool* p = new pool;
  return *p;
}

} // namespace

void submit(std::function<void()> job)
{
  instance().submit(std::move(job));
}

bool wait_until_empty(std::chrono::steady_clock::time_point deadline)
{
  return instance().wait_until_empty(deadline);
}

bool wait_until_idle(std::chrono::steady_clock::time_point deadline)
{
  return instance().wait_until_idle(deadline);
}

void set_idle_timeout(std::chrono::milliseconds timeout) noexcept
{
  instance().idle_timeout_ms.store(timeout.count());
}

} // namespace pidfd::detail::blocking_pool
