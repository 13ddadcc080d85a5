//
// pidfd/pty.hpp
// ~~~~~~~~~~~~~
// The master side of a child's pseudo-terminal, as an Asio stream.
//

#ifndef PIDFD_PTY_HPP
#define PIDFD_PTY_HPP

#include "pidfd/impl/asio_backend.hpp"
#include "pidfd/impl/handler_associator.hpp"
#include "pidfd/engine/terminal.hpp"
#include "pidfd/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/detail/buffer_sequence_adapter.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <cerrno>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace pidfd {

namespace detail {

// True for the EIO a pty master reads once the last holder of the
// terminal side has closed it: the end of the child's output. Linux first
// hands out every byte still buffered (n_tty flushes the pending input
// before it reports the hang-up), so nothing is lost by stopping here.
inline bool is_pty_hangup(const boost::system::error_code& ec) noexcept
{
  return ec.value() == EIO && ec.category() == boost::system::system_category();
}

// Completes a read of the master, with that EIO turned into eof; the
// associator below forwards the handler's executor, allocator and
// cancellation slot, so the wrapper is invisible to Asio.
template <typename Handler>
struct pty_read_handler
{
  Handler handler_;

  const Handler& handler() const noexcept { return handler_; }

  void operator()(boost::system::error_code ec, std::size_t n)
  {
    if (is_pty_hangup(ec))
      ec = boost::asio::error::eof;
    std::move(handler_)(ec, n);
  }
};

// Writes terminal input for basic_pty::async_write_some: at once if the
// master has room, else once it has room or the terminal side is closed
// (then broken_pipe). The wait for room ends at a hang-up too: epoll
// reports EPOLLHUP, and io_uring's poll POLLHUP, whatever was asked for;
// and Asio's epoll reactor re-arms the fd (EPOLL_CTL_MOD) as a wait
// starts, so a hang-up that came before is reported to it.
template <typename Descriptor, typename ConstBufferSequence>
struct pty_write_op
{
  Descriptor* descriptor_;
  ConstBufferSequence buffers_;
  enum class state
  {
    starting,
    waiting,
    completing // at once, through the executor
  } state_ = state::starting;
  boost::system::error_code ec_{};
  std::size_t n_ = 0;

  template <typename Self>
  void operator()(Self& self, boost::system::error_code ec = {})
  {
    switch (state_)
    {
    case state::starting:
      // Nothing is written while waiting: any cancellation may end it.
      self.reset_cancellation_state(boost::asio::enable_total_cancellation());
      if (try_write())
      {
        // Never inside the initiating function.
        state_ = state::completing;
        boost::asio::post(descriptor_->get_executor(), std::move(self));
        return;
      }
      break;
    case state::waiting:
      if (ec) // cancelled, or the pty closed
      {
        self.complete(ec, 0);
        return;
      }
      if (try_write())
      {
        self.complete(ec_, n_);
        return;
      }
      break;
    case state::completing:
      self.complete(ec_, n_);
      return;
    }
    state_ = state::waiting;
    descriptor_->async_wait(
        boost::asio::posix::descriptor_base::wait_write, std::move(self));
  }

  // True if done: written, or failed other than for want of room.
  bool try_write()
  {
    boost::asio::detail::buffer_sequence_adapter<boost::asio::const_buffer,
        ConstBufferSequence>
        bufs(buffers_);
    n_ = bufs.all_empty() ? 0
                          : write_terminal(descriptor_->native_handle(),
                              bufs.buffers(), bufs.count(), false, ec_);
    return ec_ != boost::asio::error::would_block;
  }
};

} // namespace detail

/// The master side of a pseudo-terminal whose terminal side a child has as
/// its stdin, stdout or stderr (stdio::pty()).
/**
 * A stream: async_read_some() and async_write_some() (and the sync pair)
 * make it work with @c asio::async_read_until, @c asio::async_write and
 * the like. What the child writes to its terminal is read here; what is
 * written here is the child's terminal input, with the line discipline's
 * editing, echo and signals (@c "\x03" sends SIGINT to the foreground
 * process group) unless pty_options::raw turned them off. Newlines the
 * child writes come out as @c "\r\n" (the terminal's @c ONLCR).
 *
 * Once the last process holding the terminal side has closed it (the
 * child and whatever it started have exited), reads complete with
 * @c boost::asio::error::eof, after all the output written before, and
 * writes with @c boost::asio::error::broken_pipe, pending ones included
 * (Linux itself would take the input into a buffer nobody reads, then
 * block for ever). A master raises no SIGPIPE. Should a process open the
 * terminal side again, by its name, writes work again.
 *
 * The master is close-on-exec, and no child spawned later inherits it;
 * destroying the object closes it, which hangs up the terminal (the
 * session's processes get SIGHUP).
 *
 * @par Thread Safety
 * @e Distinct @e objects: Safe.@n
 * @e Shared @e objects: Unsafe (as @c posix::basic_stream_descriptor).
 */
template <typename Executor = boost::asio::any_io_executor>
class basic_pty
{
public:
  /// The type of the executor associated with the object.
  using executor_type = Executor;

  /// Rebinds the pty type to another executor.
  template <typename Executor1>
  struct rebind_executor
  {
    /// The pty type when rebound to the specified executor.
    using other = basic_pty<Executor1>;
  };

  /// The native handle: the master's fd.
  using native_handle_type = int;

  /// Constructs a pty that is not open; spawn opens it.
  explicit basic_pty(const executor_type& ex) : descriptor_(ex) {}

  /// Constructs a pty that is not open, using the execution context's
  /// executor.
  template <typename ExecutionContext>
  explicit basic_pty(ExecutionContext& context,
      std::enable_if_t<std::is_convertible_v<ExecutionContext&,
          boost::asio::execution_context&>>* = nullptr)
    : descriptor_(context)
  {
  }

  /// Move-constructs; @c other is no longer open.
  basic_pty(basic_pty&& other) noexcept = default;

  /// Move-constructs from a pty with another executor type.
  template <typename Executor1>
  basic_pty(basic_pty<Executor1>&& other,
      std::enable_if_t<std::is_convertible_v<Executor1, Executor>>* = nullptr)
    : descriptor_(std::move(other.descriptor_))
  {
  }

  /// Move-assigns; the master this object held is closed.
  basic_pty& operator=(basic_pty&& other) noexcept = default;

  basic_pty(const basic_pty&) = delete;
  basic_pty& operator=(const basic_pty&) = delete;

  /// Closes the master, if open; outstanding operations complete with
  /// @c operation_aborted.
  ~basic_pty() = default;

  /// The executor associated with the object.
  executor_type get_executor() noexcept { return descriptor_.get_executor(); }

  /// True if the object holds a master.
  bool is_open() const { return descriptor_.is_open(); }

  /// The master's fd.
  native_handle_type native_handle() { return descriptor_.native_handle(); }

  /// Takes ownership of a pty master (spawn does this).
  void assign(native_handle_type fd, boost::system::error_code& ec)
  {
    descriptor_.assign(fd, ec);
  }

  /// Takes ownership of a pty master.
  /** @throws boost::system::system_error */
  void assign(native_handle_type fd)
  {
    boost::system::error_code ec;
    assign(fd, ec);
    if (ec)
      detail::throw_error(ec, "assign");
  }

  /// Closes the master; outstanding operations complete with
  /// @c operation_aborted.
  void close(boost::system::error_code& ec) { descriptor_.close(ec); }

  /// Closes the master.
  /** @throws boost::system::system_error */
  void close()
  {
    boost::system::error_code ec;
    close(ec);
    if (ec)
      detail::throw_error(ec, "close");
  }

  /// Gives up ownership of the master, which the caller must close;
  /// outstanding operations complete with @c operation_aborted.
  native_handle_type release() { return descriptor_.release(); }

  /// Cancels the outstanding operations: they complete with
  /// @c operation_aborted.
  void cancel(boost::system::error_code& ec) { descriptor_.cancel(ec); }

  /// Cancels the outstanding operations.
  /** @throws boost::system::system_error */
  void cancel()
  {
    boost::system::error_code ec;
    cancel(ec);
    if (ec)
      detail::throw_error(ec, "cancel");
  }

  /// Sets the terminal's window size (TIOCSWINSZ); the kernel sends
  /// SIGWINCH to the terminal's foreground process group if it changed.
  /**
   * @param rows The number of rows, at least 1.
   * @param cols The number of columns, at least 1.
   * @param ec Set to error::invalid_window_size for 0 rows or columns (the
   * size is then unchanged), or to the @c errno of the @c ioctl (e.g.
   * @c errc::bad_file_descriptor if the pty is not open).
   */
  void resize(
      unsigned short rows, unsigned short cols, boost::system::error_code& ec)
  {
    detail::resize_terminal(descriptor_.native_handle(), rows, cols, ec);
  }

  /// Sets the terminal's window size; see the @c error_code overload.
  /** @throws boost::system::system_error */
  void resize(unsigned short rows, unsigned short cols)
  {
    boost::system::error_code ec;
    resize(rows, cols, ec);
    if (ec)
      detail::throw_error(ec, "resize");
  }

  /// Reads some of the child's terminal output, blocking.
  /**
   * @returns The number of bytes read; 0 with @c ec set to
   * @c boost::asio::error::eof once the terminal side is closed and
   * everything written to it has been read.
   */
  template <typename MutableBufferSequence>
  std::size_t read_some(
      const MutableBufferSequence& buffers, boost::system::error_code& ec)
  {
    std::size_t n = descriptor_.read_some(buffers, ec);
    if (detail::is_pty_hangup(ec))
      ec = boost::asio::error::eof;
    return n;
  }

  /// Reads some of the child's terminal output, blocking.
  /** @throws boost::system::system_error (eof at the end). */
  template <typename MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers)
  {
    boost::system::error_code ec;
    std::size_t n = read_some(buffers, ec);
    if (ec)
      detail::throw_error(ec, "read_some");
    return n;
  }

  /// Writes some terminal input for the child, blocking.
  /**
   * @returns The number of bytes written; 0 with @c ec set to
   * @c boost::asio::error::broken_pipe once the terminal side is closed.
   */
  template <typename ConstBufferSequence>
  std::size_t write_some(
      const ConstBufferSequence& buffers, boost::system::error_code& ec)
  {
    // Not the descriptor's write_some: once the buffer is full, it polls
    // for POLLOUT and writes again, and a hang-up would make that a spin.
    boost::asio::detail::buffer_sequence_adapter<boost::asio::const_buffer,
        ConstBufferSequence>
        bufs(buffers);
    ec.clear();
    return bufs.all_empty() ? 0
                            : detail::write_terminal(native_handle(),
                                bufs.buffers(), bufs.count(), true, ec);
  }

  /// Writes some terminal input for the child, blocking.
  /** @throws boost::system::system_error (broken_pipe at the end). */
  template <typename ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers)
  {
    boost::system::error_code ec;
    std::size_t n = write_some(buffers, ec);
    if (ec)
      detail::throw_error(ec, "write_some");
    return n;
  }

  /// Reads some of the child's terminal output.
  /**
   * @param buffers Where to read to; the memory must stay valid until the
   * operation completes.
   * @param token The completion token.
   *
   * @par Completion Signature
   * @code void(boost::system::error_code ec, std::size_t n) @endcode
   * @c ec is @c boost::asio::error::eof once the terminal side is closed
   * and everything written to it has been read (the @c EIO the kernel
   * reports then is never seen).
   *
   * @par Per-Operation Cancellation
   * As @c posix::basic_stream_descriptor::async_read_some: @c terminal,
   * @c partial and @c total.
   */
  template <typename MutableBufferSequence,
      typename ReadToken =
          boost::asio::default_completion_token_t<executor_type>>
  auto async_read_some(const MutableBufferSequence& buffers,
      ReadToken&& token =
          boost::asio::default_completion_token_t<executor_type>())
  {
    return boost::asio::async_initiate<ReadToken,
        void(boost::system::error_code, std::size_t)>(
        initiate_async_read_some(this), token, buffers);
  }

  /// Writes some terminal input for the child.
  /**
   * @param buffers What to write; the memory must stay valid until the
   * operation completes.
   * @param token The completion token.
   *
   * @par Completion Signature
   * @code void(boost::system::error_code ec, std::size_t n) @endcode
   * @c ec is @c boost::asio::error::broken_pipe once the terminal side is
   * closed, also for a write that was waiting for the child to read.
   *
   * @par Per-Operation Cancellation
   * @c terminal, @c partial and @c total: a cancelled write has written
   * nothing.
   */
  template <typename ConstBufferSequence,
      typename WriteToken =
          boost::asio::default_completion_token_t<executor_type>>
  auto async_write_some(const ConstBufferSequence& buffers,
      WriteToken&& token =
          boost::asio::default_completion_token_t<executor_type>())
  {
    return boost::asio::async_initiate<WriteToken,
        void(boost::system::error_code, std::size_t)>(
        initiate_async_write_some(this), token, buffers);
  }

private:
  template <typename Executor1>
  friend class basic_pty;

  class initiate_async_read_some
  {
  public:
    using executor_type = Executor;

    explicit initiate_async_read_some(basic_pty* self) noexcept : self_(self) {}

    executor_type get_executor() const noexcept
    {
      return self_->get_executor();
    }

    template <typename ReadHandler, typename MutableBufferSequence>
    void operator()(
        ReadHandler&& handler, const MutableBufferSequence& buffers) const
    {
      self_->descriptor_.async_read_some(buffers,
          detail::pty_read_handler<std::decay_t<ReadHandler>>{
              std::forward<ReadHandler>(handler)});
    }

  private:
    basic_pty* self_;
  };

  class initiate_async_write_some
  {
  public:
    using executor_type = Executor;

    explicit initiate_async_write_some(basic_pty* self) noexcept : self_(self)
    {
    }

    executor_type get_executor() const noexcept
    {
      return self_->get_executor();
    }

    template <typename WriteHandler, typename ConstBufferSequence>
    void operator()(
        WriteHandler&& handler, const ConstBufferSequence& buffers) const
    {
      boost::asio::async_compose<WriteHandler,
          void(boost::system::error_code, std::size_t)>(
          detail::pty_write_op<descriptor_type, ConstBufferSequence>{
              &self_->descriptor_, buffers},
          handler, self_->descriptor_);
    }

  private:
    basic_pty* self_;
  };

  using descriptor_type = boost::asio::posix::basic_stream_descriptor<Executor>;

  descriptor_type descriptor_;
};

/// A pty using the type-erased @c boost::asio::any_io_executor.
using pty = basic_pty<>;

} // namespace pidfd

namespace boost::asio {

// The read wrapper is the user's handler as far as Asio is concerned: its
// associated executor, allocator, cancellation slot (and any other
// associator) are the handler's.
template <template <typename, typename> class Associator, typename Handler,
    typename DefaultCandidate>
struct associator<Associator, pidfd::detail::pty_read_handler<Handler>,
    DefaultCandidate>
  : pidfd::detail::handler_associator<Associator,
        pidfd::detail::pty_read_handler<Handler>, Handler, DefaultCandidate>
{
};

} // namespace boost::asio

#endif // PIDFD_PTY_HPP
