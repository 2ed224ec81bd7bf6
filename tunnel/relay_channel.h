// One connection the VPS forwarded to us, relayed between its SSH channel and a TCP connection
// to the local target. Both directions are independent, so a half-close (EOF one way while data
// still flows the other) is carried through: EOF from the VPS becomes shutdown(SHUT_WR) towards
// the target, and the target's EOF becomes SSH_MSG_CHANNEL_EOF. Flow control is the buffers':
// a full buffer stops reading on its side — on the SSH side that leaves the channel's window
// closed, so the VPS stops sending instead of queueing in our memory.
#pragma once

#include <libssh2.h>
#include <poll.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/config.h"
#include "tunnel/block_pool.h"
#include "tunnel/relay_activity.h"

namespace pvt::tunnel {

struct RelayTotals {
  uint64_t from_vps = 0;  // bytes written to the local target
  uint64_t to_vps = 0;    // bytes written into SSH channels
};

class RelayChannel {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts the non-blocking connect to `target`; a failure shows as finished() with error().
  // Buffers come from `buffers` (one block per direction while it holds data).
  RelayChannel(LIBSSH2_CHANNEL* channel, const config::HostPort& target, BlockPool& buffers,
               Clock::time_point now);
  ~RelayChannel();
  RelayChannel(const RelayChannel&) = delete;
  RelayChannel& operator=(const RelayChannel&) = delete;

  // What to wait for on the local socket.
  pollfd local_events() const;
  // Moves what can be moved without blocking; `revents` from poll for the local socket.
  // Returns true if any byte moved or any state changed.
  bool pump(short revents, RelayTotals& totals, Clock::time_point now);

  // Both directions are done (or one failed): the channel can be freed.
  bool finished() const { return finished_; }
  const std::string& error() const { return error_; }
  LIBSSH2_CHANNEL* channel() const { return channel_; }
  // Hands the channel over for closing (libssh2_channel_free may need several calls).
  LIBSSH2_CHANNEL* release_channel();

  // Stops both directions at once (drain timeout, shutdown).
  void abort(const std::string& why);

  // When the connection is idle (RelayActivity) if nothing moves until then; nullopt while it
  // has bytes buffered, is connecting, closing or finished, or a request waits for its answer.
  std::optional<Clock::time_point> idle_at() const;
  // Ends both directions cleanly, as when both sides have sent EOF: the next pump() shuts the
  // target's socket for writing and sends SSH_MSG_CHANNEL_EOF, then the channel is closed.
  // For idle connections while draining: nothing buffered is lost.
  void close_idle();

 private:
  // Bytes in flight one way, in one pooled block that goes back to the pool whenever the
  // buffer runs empty, so idle connections hold no buffer at all.
  class Buffer {
   public:
    explicit Buffer(BlockPool& pool) : pool_(pool) {}
    ~Buffer() { release(); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    size_t size() const { return tail_ - head_; }
    bool full() const { return size() >= pool_.block_size(); }
    const char* front() const { return block_ + head_; }
    // Contiguous room at the end (moving the data to the front first if that makes room).
    char* room(size_t& length);
    void produced(size_t n) { tail_ += n; }
    void consume(size_t n);

   private:
    void release();
    BlockPool& pool_;
    char* block_ = nullptr;
    size_t head_ = 0;
    size_t tail_ = 0;
  };

  bool finish_connect();
  bool vps_to_local(RelayTotals& totals, Clock::time_point now);
  bool local_to_vps(short revents, RelayTotals& totals, Clock::time_point now);
  void check_done();

  LIBSSH2_CHANNEL* channel_;
  int fd_ = -1;
  bool connecting_ = true;
  Buffer to_local_;
  Buffer to_vps_;
  size_t pending_write_ = 0;  // a channel write that returned EAGAIN: repeat with this length
  bool vps_eof_ = false;      // the VPS sent EOF (or closed)
  bool local_shut_ = false;   // ...and we passed it on with shutdown(SHUT_WR)
  bool local_eof_ = false;    // the target sent EOF
  bool eof_sent_ = false;     // ...and we passed it on with SSH_MSG_CHANNEL_EOF
  bool finished_ = false;
  RelayActivity activity_;
  std::string error_;
};

}  // namespace pvt::tunnel
