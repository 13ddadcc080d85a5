//
// pidfd/impl/run.hpp
// ~~~~~~~~~~~~~~~~~~
// The composed operation behind async_run.
//

#ifndef PIDFD_IMPL_RUN_HPP
#define PIDFD_IMPL_RUN_HPP

#include <boost/asio/append.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/asio/write.hpp>
#include <boost/smart_ptr/allocate_unique.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pidfd::detail {

// What a cancellation request reaches: the run, while it lasts.
class run_cancel_target
{
public:
  virtual void cancel_requested(boost::asio::cancellation_type type) = 0;

protected:
  ~run_cancel_target() = default;
};

// Shared by a run and the handler it installs in the caller's
// cancellation slot, which may outlive the run (it stays in the slot until
// the run completes, and a request it posted may still be queued). From
// the default allocator, not the handler's: memory from the handler's
// allocator must be freed before the upcall, and a queued request may
// still hold this after it.
struct run_control
{
  // Every request so far, set where the slot is emitted: a run that has
  // not started when it is asked to stop spawns nothing.
  std::atomic<unsigned> requested{0};
  // The run, while it lasts; set and used on the run's strand only.
  run_cancel_target* target = nullptr;
};

// What the caller's cancellation slot holds: a request, noted at once and
// carried to the run's strand (the slot may be emitted from any handler of
// the caller's, on any thread).
template <typename Strand>
struct run_cancellation
{
  std::shared_ptr<run_control> control;
  Strand strand;

  void operator()(boost::asio::cancellation_type type) const
  {
    if (type == boost::asio::cancellation_type::none)
      return;
    control->requested.fetch_or(static_cast<unsigned>(type));
    boost::asio::post(strand, [c = control, type] {
      if (c->target)
        c->target->cancel_requested(type);
    });
  }
};

// One run: spawn, then in parallel the reads of stdout and stderr, the
// write of the input and the wait for the child, bounded by the timeout
// and by cancellation. Every part runs on one strand, so none of them runs
// at the same time as another, whatever threads run the io_context. The
// parts' handlers share ownership of the run; it completes when the last
// of them is done, and its memory comes from the handler's allocator.
//
// Everything but the upcall is here, in a class that knows the handler's
// allocator and not the handler: the parts and their handlers are compiled
// once for every handler with that allocator (most use the default one),
// not once per call site. run_op adds the handler.
//
// The run's progress is three small records, each changed only by the
// events in the table below:
//
//   state_  the child's lifecycle (run_core::state).
//   io_     the I/O under way: reading stdout (or the pty), reading
//           stderr, writing stdin (run_core::io).
//   tree_   with terminate_scope::tree, what is left of the child's tree
//           once it is collected (run_core::tree).
//
// The I/O objects exist only when the options need them: the pipes of the
// captured streams, or the pty; the child once it is spawned; a timer once
// it is armed (all std::optional members: no memory of their own).
//
//   event                 in state          transition, and what it does
//   --------------------  ----------------  --------------------------------
//   start                 starting          options refused, spawn failed or
//                                           cancelled already: complete now;
//                                           else spawned: -> running (and
//                                           tree_ -> live with a tree
//                                           scope), the reads, the write
//                                           and the wait begin, the
//                                           deadline is armed
//   output ended          any               io_ loses the stream; part_done
//   input written         any               io_ loses stdin; part_done
//   child collected       running           -> exited
//                         stopping          -> stopped; grace cancelled
//                         (either)          with I/O under way: the wait
//                                           delay is armed, or without one
//                                           a stopped child's I/O stops
//                                           (stop_io); part_done
//   deadline              running           timed_out; stop (graceful)
//                         exited            timed_out; stop_io
//                         otherwise         nothing
//   output past the limit running           stop (graceful)
//   (overflow::stop)      exited, stopped   stop_io
//                         stopping          nothing
//   cancel (any type)     running           stop (SIGKILL if terminal)
//                         stopping          SIGKILL if terminal
//                         exited            stop_io
//                         stopped           nothing
//                         (all four)        the run will complete with
//                                           operation_aborted
//                         finished          nothing
//   grace expired         stopping          SIGKILL
//                         otherwise         nothing
//   wait delay expired    exited, stopped   stop_io
//                         finished          nothing
//   tree empty            tree_ draining    tree_ -> ended; part_done
//
//   stop (graceful)       running -> stopping: stop_signal, the grace timer
//                         armed (SIGKILL if the signal failed)
//   stop (terminal)       running -> stopping: SIGKILL
//   stop_io               the reads and the write are cancelled
//                         (output_cut if a read was under way); a live
//                         tree is ended with SIGKILL (end_tree)
//   part_done             acts once no I/O is under way, the child is
//                         collected and the tree is not draining: a live
//                         tree with a cgroup is ended (end_tree: killed if
//                         the child was stopped; -> draining); else
//                         -> finished, and the timers are cancelled
template <typename Strand, typename Allocator>
class run_core
  : public run_cancel_target,
    public std::enable_shared_from_this<run_core<Strand, Allocator>>
{
public:
  using clock = std::chrono::steady_clock;
  using allocator_type = Allocator;

  run_core(const Allocator& allocator, const Strand& strand,
      std::string program, std::vector<std::string> args, run_options options,
      std::shared_ptr<captured_fds> fds, std::shared_ptr<run_control> control)
    : allocator_(allocator), strand_(strand), program_(std::move(program)),
      args_(std::move(args)), options_(std::move(options)),
      fds_(std::move(fds)), control_(std::move(control)),
      scratch_(nullptr, scratch_deleter(allocator))
  {
  }

  run_core(const run_core&) = delete;
  run_core& operator=(const run_core&) = delete;

  // The io_context may be destroyed with the run under way: its handlers
  // are then destroyed, and with them the run (the child is killed, as
  // spawn_options::kill_on_destroy says).
  virtual ~run_core() { control_->target = nullptr; }

  // Starts the run on its strand: the spawn happens there, not inside
  // async_run. `self` is the only owner so far.
  static void post_start(std::shared_ptr<run_core> self)
  {
    run_core& run = *self;
    boost::asio::post(run.strand_,
        boost::asio::bind_allocator(
            run.allocator_, [self = std::move(self)]() mutable {
              run_core& op = *self;
              op.start(std::move(self));
            }));
  }

  // Reached only while the run lasts: control_->target is set once the
  // child is spawned, and cleared when the run completes.
  void cancel_requested(boost::asio::cancellation_type type) override
  {
    if (state_ == state::finished)
      return;
    error_ = boost::asio::error::operation_aborted;
    const bool terminal = (type & boost::asio::cancellation_type::terminal)
        != boost::asio::cancellation_type::none;
    switch (state_)
    {
    case state::running:
    case state::exited:
      return stop(terminal);
    case state::stopping:
      // A graceful stop under way becomes SIGKILL at a terminal request.
      if (terminal)
        kill();
      return;
    case state::starting: // not reached: no target yet
    case state::stopped:
    case state::finished:
      return;
    }
  }

protected:
  // The upcall, once `self` (the last owner) has let the run go; see
  // run_op.
  virtual void upcall(std::shared_ptr<run_core> self,
      boost::system::error_code ec, run_result result) = 0;

private:
  // The child's lifecycle; see the table above.
  enum class state : unsigned char
  {
    starting, // the options checked, then the spawn: no child yet
    running, // the run has not asked the child to stop
    stopping, // it has (stop_signal or SIGKILL), and the wait goes on
    exited, // collected, having ended by itself
    stopped, // collected after the run asked it to stop
    finished // every part is done; the last handler completes the run
  };

  // The I/O under way, one bit each.
  enum io : unsigned char
  {
    reading_out = 1, // stdout, or the pty
    reading_err = 2,
    writing_in = 4
  };

  // With terminate_scope::tree, once the child is collected, what is left
  // of its tree is ended (end_tree) before the run finishes.
  enum class tree : unsigned char
  {
    not_in_scope, // terminate_scope::process: stops reach the child alone
    live, // not ended yet
    draining, // waiting for its cgroup to be empty (and removed)
    ended
  };

  bool collected() const noexcept
  {
    return state_ == state::exited || state_ == state::stopped
        || state_ == state::finished;
  }

  bool stops_tree() const noexcept
  {
    return options_.stop_scope == terminate_scope::tree;
  }

  // Runs on the strand.
  void start(std::shared_ptr<run_core> self)
  {
    if (!streams_can_be_honoured())
      return complete(std::move(self), error::invalid_option);
    if (fds_->ec)
    {
      result_.spawn_error = fds_->info;
      return complete(std::move(self), fds_->ec);
    }
    // Checked before anything runs: a stop that could not be carried out
    // would leave the child running.
    if (options_.grace < clock::duration::zero())
      return complete(std::move(self), error::invalid_grace_period);
    if (options_.stop_signal <= 0 || options_.stop_signal >= _NSIG)
      return complete(std::move(self), error::invalid_signal);
    if (options_.wait_delay && *options_.wait_delay < clock::duration::zero())
      return complete(std::move(self), error::invalid_wait_delay);
    // A child on a pty, or given a controlling_terminal, leads a session,
    // and so a group, of its own.
    if (stops_tree() && !options_.spawn.cgroup && !options_.on_pty
        && !options_.spawn.controlling_terminal
        && options_.spawn.process_group == process_group_mode::inherit)
      return complete(std::move(self), error::no_tree);
    // Cancelled before it started: nothing to stop, so nothing is spawned.
    if (control_->requested.load() != 0)
      return complete(std::move(self), boost::asio::error::operation_aborted);

    // On a pty, the terminal carries all three streams: one output, like
    // a merged stderr. Otherwise a stream the caller left to inherit() is
    // captured (its pipe exists), and one it sent elsewhere (a file, an
    // fd, a pipe of its own, stderr merged with stdout) goes there,
    // uncaptured.
    if (options_.on_pty)
    {
      pty_.emplace(strand_);
      options_.spawn.in = stdio::pty(*pty_);
      options_.spawn.out = stdio::pty(*pty_);
      options_.spawn.err = stdio::pty(*pty_);
    }
    else
    {
      if (options_.spawn.out.type() == stdio::kind::inherit)
        options_.spawn.out = stdio::pipe(out_.emplace(strand_));
      if (options_.spawn.err.type() == stdio::kind::inherit)
        options_.spawn.err = stdio::pipe(err_.emplace(strand_));
      if (options_.input)
        options_.spawn.in = stdio::pipe(in_.emplace(strand_));
    }
    // The run owns its child: however the run ends, even by the io_context
    // being destroyed, the child does not outlive it.
    options_.spawn.kill_on_destroy = true;

    start_ = clock::now();
    boost::system::error_code ec;
    // Kept even when the spawn failed: whatever it returned goes with the
    // run's memory, before the upcall.
    child_.emplace(spawn(
        strand_, program_, args_, options_.spawn, ec, result_.spawn_error));
    fds_.reset(); // the child has its copies now
    if (ec)
      return complete(std::move(self), ec);
    state_ = state::running;
    if (stops_tree())
      tree_ = tree::live;
    control_->target = this;
    // An exception from on_spawn leaves this function, and the io_context's
    // run(), with the run's state: destroying it kills the child.
    if (options_.on_spawn)
      options_.on_spawn(run_child(impl_of(*child_)));

    if (pty_)
      read(*pty_, result_.out, reading_out, result_.out_truncated);
    if (out_)
      read(*out_, result_.out, reading_out, result_.out_truncated);
    if (err_)
      read(*err_, result_.err, reading_err, result_.err_truncated);
    start_input();
    wait();
    if (options_.timeout)
    {
      deadline_.emplace(strand_, start_ + *options_.timeout);
      ++pending_;
      deadline_->async_wait(
          part_handler([](run_core& op, boost::system::error_code e) {
            op.on_deadline(e);
          }));
    }
  }

  // An intermediate handler: owns the run, carries the handler's
  // allocator, and runs `f` on the run's strand (the I/O objects' executor).
  template <typename F>
  auto part_handler(F f)
  {
    return boost::asio::bind_allocator(allocator(),
        [self = this->shared_from_this(), f](auto... args) mutable {
          run_core& op = *self;
          --op.pending_;
          f(op, args...);
          op.maybe_complete(std::move(self));
        });
  }

  // Two sources for one stream cannot both be honoured: refused, naming
  // them, rather than one of them silently dropped.
  bool streams_can_be_honoured()
  {
    const stdio* streams[] = {
        &options_.spawn.in, &options_.spawn.out, &options_.spawn.err};
    const char* names[] = {
        "stdin: spawn.in", "stdout: spawn.out", "stderr: spawn.err"};
    for (int fd = 0; fd < 3; ++fd)
    {
      const stdio::kind kind = streams[fd]->type();
      // A merged stderr asks for what the pty does anyway.
      const bool fits_pty = kind == stdio::kind::inherit
          || (fd == 2 && kind == stdio::kind::stdout_merge);
      if (options_.on_pty && !fits_pty)
        return refuse_streams(fd,
            std::string(names[fd])
                + " together with on_pty (the pty carries all three "
                  "streams)");
    }
    if (options_.input && options_.spawn.in.type() != stdio::kind::inherit)
      return refuse_streams(
          0, "stdin: spawn.in together with input (two sources for stdin)");
    return true;
  }

  bool refuse_streams(int fd, std::string detail)
  {
    result_.spawn_error.failed = spawn_error_info::part::stdio;
    result_.spawn_error.child_fd = fd;
    result_.spawn_error.detail = std::move(detail);
    return false;
  }

  const allocator_type& allocator() const noexcept { return allocator_; }

  // From a pipe, or from the pty (whose end of output is eof too).
  template <typename Stream>
  void read(Stream& pipe, std::string& into, io part, bool& truncated)
  {
    io_ |= part;
    read_more(pipe, into, part, truncated);
  }

  // Reads until EOF, or until the run stops the reading (a cancel). Up to
  // the output limit into `into`; past it into a scratch buffer whose
  // contents are dropped (both streams may share it: nothing reads it).
  template <typename Stream>
  void read_more(Stream& pipe, std::string& into, io part, bool& truncated)
  {
    constexpr std::size_t chunk = 64 * 1024;
    const std::size_t size = into.size();
    const std::size_t room = std::min(chunk, options_.output_limit - size);
    boost::asio::mutable_buffer target;
    if (room > 0)
    {
      into.resize(size + room);
      target = boost::asio::buffer(into.data() + size, room);
    }
    else
    {
      if (!scratch_)
        scratch_ = boost::allocate_unique_noinit<char[]>(allocator_, chunk);
      target = boost::asio::buffer(&scratch_[0], chunk);
    }
    ++pending_;
    pipe.async_read_some(target,
        part_handler([&pipe, &into, part, &truncated, size, room](run_core& op,
                         boost::system::error_code ec, std::size_t n) {
          if (room > 0)
            into.resize(size + n);
          else if (n > 0 && !truncated)
          {
            truncated = true;
            if (op.options_.on_overflow == run_options::overflow::stop)
              op.stop(false);
          }
          if (ec)
          {
            op.io_ &= ~part;
            op.part_done();
          }
          else
            op.read_more(pipe, into, part, truncated);
        }));
  }

  void start_input()
  {
    if (!options_.input)
      return;
    io_ |= writing_in;
    if (pty_)
    {
      // A pty master raises no SIGPIPE: once the terminal side is closed,
      // writes fail with broken_pipe (basic_pty), which ends the input as
      // EPIPE does a pipe's.
      ++pending_;
      boost::asio::async_write(*pty_, boost::asio::buffer(*options_.input),
          part_handler(
              [](run_core& op, boost::system::error_code, std::size_t) {
                op.io_ &= ~writing_in;
                op.part_done();
              }));
      return;
    }
    data_ = options_.input->data();
    size_ = options_.input->size();
    // Asio's pipe writes would raise SIGPIPE in the parent if the child
    // closes its stdin early; write_no_sigpipe writes instead, and room_
    // waits for the pipe to accept more through a descriptor on a
    // duplicate fd (writable_pipe has no async_wait, and one fd cannot be
    // registered with the reactor twice), made the first time the pipe is
    // full.
    if (make_non_blocking(in_->native_handle()))
      size_ = 0;
    write_more();
  }

  void write_more()
  {
    while (size_ > 0 && in_->is_open())
    {
      boost::system::error_code ec =
          write_no_sigpipe(in_->native_handle(), data_, size_);
      if (ec != boost::asio::error::would_block)
        break;
      if (!room_)
      {
        const int fd = duplicate_fd(in_->native_handle(), ec);
        if (fd < 0)
          break;
        room_.emplace(strand_).assign(fd, ec);
        if (ec)
        {
          close_fd(fd);
          break;
        }
      }
      ++pending_;
      room_->async_wait(room_->wait_write,
          part_handler([](run_core& op, boost::system::error_code e) {
            if (e)
              op.end_input();
            else
              op.write_more();
          }));
      return;
    }
    end_input();
  }

  void end_input()
  {
    boost::system::error_code ignored;
    if (room_)
      room_->close(ignored);
    in_->close(ignored); // EOF for the child
    io_ &= ~writing_in;
    part_done();
  }

  void wait()
  {
    ++pending_;
    child_->async_wait(part_handler(
        [](run_core& op, boost::system::error_code ec, exit_status status) {
          if (!op.error_)
            op.error_ = ec;
          op.result_.status = status;
          if (op.state_ == state::stopping)
          {
            op.state_ = state::stopped;
            if (op.grace_)
              op.grace_->cancel();
          }
          else
            op.state_ = state::exited;
          op.after_collection();
          op.part_done();
        }));
  }

  // A descendant may hold the pipes after the child has gone. With a wait
  // delay the I/O gets that long to end; without one, a child that was
  // stopped takes the I/O with it, and one that exited by itself leaves
  // it to end by itself (or at the timeout).
  void after_collection()
  {
    if (!io_)
      return;
    if (!options_.wait_delay)
    {
      if (state_ == state::stopped)
        stop_io();
      return;
    }
    delay_.emplace(strand_, *options_.wait_delay);
    ++pending_;
    delay_->async_wait(
        part_handler([](run_core& op, boost::system::error_code e) {
          if (!e && op.state_ != state::finished)
            op.stop_io();
        }));
  }

  // The timeout bounds all of the work, not just the wait: a grandchild
  // may keep the output open, or hold stdin without reading, after the
  // child itself has exited.
  void on_deadline(boost::system::error_code ec)
  {
    if (ec || (state_ != state::running && state_ != state::exited))
      return;
    result_.timed_out = true;
    stop(false);
  }

  // Stops the child (gracefully, or with SIGKILL when terminal); the I/O
  // stops once it is collected (after the wait delay, if any). A child
  // collected already leaves only the I/O to stop.
  void stop(bool terminal)
  {
    if (collected())
      return stop_io();
    if (state_ == state::stopping)
      return;
    state_ = state::stopping;
    if (terminal)
      return kill();
    boost::system::error_code ec; // process_done: the wait collects it
    send(options_.stop_signal, ec);
    if (ec && ec != error::process_done)
      return kill(); // never leave the child running
    grace_.emplace(strand_, options_.grace);
    ++pending_;
    grace_->async_wait(
        part_handler([](run_core& op, boost::system::error_code e) {
          if (!e && op.state_ == state::stopping)
            op.kill();
        }));
  }

  void kill()
  {
    boost::system::error_code ignored; // process_done if it has exited
    send(SIGKILL, ignored);
  }

  // To the child, or to its tree.
  void send(int sig, boost::system::error_code& ec)
  {
    if (stops_tree())
      child_->signal_tree(sig, ec);
    else
      child_->signal(sig, ec);
  }

  void stop_io()
  {
    if (io_ & (reading_out | reading_err))
      result_.output_cut = true;
    // What is left of the tree may hold the pipes: it goes with the I/O.
    if (tree_ == tree::live && collected())
      end_tree(true);
    boost::system::error_code ignored;
    if (out_)
      out_->cancel(ignored);
    if (err_)
      err_->cancel(ignored);
    if (pty_)
      pty_->cancel(ignored);
    if (room_)
      room_->cancel(ignored);
    if (in_)
      in_->close(ignored);
  }

  // Once the child is collected: what is left of its tree is killed (when
  // the run stopped it, or stops the I/O), and its cgroup is waited for
  // until it is empty, so that one the run created is removed before the
  // run completes. The kernel may refuse that rmdir for a moment after the
  // cgroup reads empty; the tree wait retries it, and its error is the
  // run's if the removal failed. A tree the child left running by itself
  // is not waited for (its cgroup stays).
  void end_tree(bool kill)
  {
    tree_ = tree::ended;
    boost::system::error_code ignored;
    if (kill)
      child_->signal_tree(SIGKILL, ignored);
    if (!impl_of(*child_)->has_cgroup())
      return;
    tree_ = tree::draining;
    ++pending_;
    async_wait_tree_impl(impl_of(*child_), strand_,
        part_handler([](run_core& op, boost::system::error_code ec) {
          if (!op.error_)
            op.error_ = ec;
          op.tree_ = tree::ended;
          op.part_done();
        }),
        !kill);
  }

  // The child collected, its output ended and its input written (and its
  // tree ended): the timers go.
  void part_done()
  {
    if (io_ || !collected() || tree_ == tree::draining)
      return;
    if (tree_ == tree::live && impl_of(*child_)->has_cgroup())
      return end_tree(state_ == state::stopped);
    state_ = state::finished;
    if (deadline_)
      deadline_->cancel();
    if (grace_)
      grace_->cancel();
    if (delay_)
      delay_->cancel();
  }

  // Only once no handler of the run is left (pending_ == 0) is the caller
  // of maybe_complete the run's last owner: the upcall then frees the
  // run's memory before the caller's handler runs.
  void maybe_complete(std::shared_ptr<run_core> self)
  {
    if (state_ == state::finished && pending_ == 0)
      complete(std::move(self), error_);
  }

  void complete(std::shared_ptr<run_core> self, boost::system::error_code ec)
  {
    control_->target = nullptr;
    if (state_ != state::starting)
      result_.elapsed = clock::now() - start_;
    run_core& run = *self;
    run.upcall(std::move(self), ec, std::move(result_));
  }

  using timer = boost::asio::basic_waitable_timer<clock,
      boost::asio::wait_traits<clock>, Strand>;

  Allocator allocator_;
  Strand strand_;
  std::string program_;
  std::vector<std::string> args_;
  run_options options_;
  std::shared_ptr<captured_fds> fds_;
  std::shared_ptr<run_control> control_;

  // Made only when the options need them (see start). Destroyed in the
  // reverse order: the timers, the child (killed, as kill_on_destroy
  // says), then its pty and pipes.
  std::optional<boost::asio::basic_readable_pipe<Strand>> out_, err_;
  std::optional<boost::asio::basic_writable_pipe<Strand>> in_;
  std::optional<boost::asio::posix::basic_stream_descriptor<Strand>> room_;
  std::optional<basic_pty<Strand>> pty_; // with run_options::on_pty
  std::optional<basic_process<Strand>> child_; // once spawn has run
  std::optional<timer> deadline_; // with run_options::timeout
  std::optional<timer> grace_; // once stop_signal is sent
  std::optional<timer> delay_; // with run_options::wait_delay, once needed
  // Output past the limit, from the handler's allocator.
  using scratch_deleter = boost::alloc_noinit_deleter<char[], Allocator>;
  std::unique_ptr<char[], scratch_deleter> scratch_;

  run_result result_;
  // What the run completes with: operation_aborted once it is cancelled,
  // else the wait's error, else the tree wait's (a cgroup not removed).
  boost::system::error_code error_;
  clock::time_point start_{};
  const char* data_ = nullptr; // the input not written yet
  std::size_t size_ = 0;
  // The run's handlers not yet called (the parts', the timers'): each
  // owns the run, and only the last may complete it (maybe_complete).
  int pending_ = 0;
  state state_ = state::starting;
  unsigned char io_ = 0; // the io bits under way
  tree tree_ = tree::not_in_scope;
};

// A run_core and the handler it completes: the only part of a run compiled
// for each handler type.
template <typename Strand, typename Handler>
class run_op final
  : public run_core<Strand, boost::asio::associated_allocator_t<Handler>>
{
  using core = run_core<Strand, boost::asio::associated_allocator_t<Handler>>;
  using handler_executor = boost::asio::associated_executor_t<Handler, Strand>;

public:
  template <typename... Args>
  run_op(Handler&& handler, const Strand& strand, Args&&... args)
    : core(boost::asio::get_associated_allocator(handler), strand,
        std::forward<Args>(args)...),
      handler_(std::move(handler)),
      work_(boost::asio::get_associated_executor(handler_, strand))
  {
  }

private:
  // The upcall, after the run's memory has gone back to the handler's
  // allocator: `self` is the last owner.
  void upcall(std::shared_ptr<core> self, boost::system::error_code ec,
      run_result result) override
  {
    auto slot = boost::asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected())
      slot.clear();
    auto handler = std::move(handler_);
    auto work = std::move(work_);
    self.reset();
    auto ex = work.get_executor();
    work.reset();
    boost::asio::dispatch(
        ex, boost::asio::append(std::move(handler), ec, std::move(result)));
  }

  Handler handler_;
  boost::asio::executor_work_guard<handler_executor> work_;
};

template <typename Executor>
class initiate_run
{
public:
  using executor_type = Executor;

  explicit initiate_run(const Executor& ex) : ex_(ex) {}

  executor_type get_executor() const noexcept { return ex_; }

  template <typename Handler>
  void operator()(Handler&& handler, std::string program,
      std::vector<std::string> args, run_options options,
      std::shared_ptr<captured_fds> fds) const
  {
    using strand_type = decltype(boost::asio::make_strand(ex_));
    using handler_type = std::decay_t<Handler>;
    using op_type = run_op<strand_type, handler_type>;
    strand_type strand = boost::asio::make_strand(ex_);
    auto control = std::make_shared<run_control>();
    // Cancellation is the run's to carry out: a cancelled run stops its
    // child and completes once the child is collected.
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected())
      slot.template emplace<run_cancellation<strand_type>>(
          run_cancellation<strand_type>{control, strand});
    using op_allocator =
        typename std::allocator_traits<boost::asio::associated_allocator_t<
            handler_type>>::template rebind_alloc<op_type>;
    op_allocator alloc(boost::asio::get_associated_allocator(handler));
    auto op =
        std::allocate_shared<op_type>(alloc, std::forward<Handler>(handler),
            strand, std::move(program), std::move(args), std::move(options),
            std::move(fds), std::move(control));
    op_type::post_start(std::move(op));
  }

private:
  Executor ex_;
};

} // namespace pidfd::detail

#endif // PIDFD_IMPL_RUN_HPP
