// Reusable memory blocks of one size, for the two hot paths of the worker:
//  - libssh2's packets, given to the session through libssh2_session_init_ex. libssh2 allocates
//    and frees every incoming ~32 KiB packet; with glibc's defaults the heap top shrinks and
//    grows again for each one (~190,000 page faults per GiB received), which halves receive
//    throughput (measured with libssh2 1.10 on loopback: 213 MB/s, ~400 MB/s without the
//    trimming). Raising glibc's trim threshold (mallopt M_TRIM_THRESHOLD) fixes the speed but
//    keeps freed memory resident for the life of the process.
//  - the relay's per-direction buffers, which glibc would otherwise map and unmap (they are above
//    its mmap threshold) every time a connection's buffer fills and drains.
// The pool keeps a bounded number of free blocks instead, and the worker gives them all back when
// it has been idle for a few seconds.
#pragma once

#include <cstddef>
#include <vector>

namespace pvt::tunnel {

class BlockPool {
 public:
  // Requests in (smallest, block_size] are served from blocks of block_size bytes; others go to
  // the C library directly.
  BlockPool(size_t block_size, size_t smallest, size_t max_free_blocks)
      : block_size_(block_size), smallest_(smallest), max_free_(max_free_blocks) {}
  ~BlockPool();
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  void* allocate(size_t size);
  void release(void* p);
  void* reallocate(void* p, size_t size);

  // Gives every pooled block back to the C library (when the worker is idle or the session gone).
  void trim();

  size_t block_size() const { return block_size_; }
  size_t free_blocks() const { return free_.size(); }
  size_t pooled_hits() const { return hits_; }
  // Bytes handed out right now (pooled blocks count in full): a leak shows here first.
  size_t live_bytes() const { return live_; }

 private:
  size_t block_size_;
  size_t smallest_;
  size_t max_free_;
  std::vector<void*> free_;  // raw blocks (header included)
  size_t hits_ = 0;
  size_t live_ = 0;
};

// libssh2's packets: at most 35,000 bytes (32 KiB payload plus headers and MAC).
inline BlockPool make_packet_pool() { return BlockPool(40 * 1024, 4 * 1024, 32); }

}  // namespace pvt::tunnel
