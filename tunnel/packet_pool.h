// Memory for libssh2, given to the session through libssh2_session_init_ex.
//
// libssh2 allocates and frees every incoming packet (~32 KiB). With glibc's defaults the heap top
// shrinks and grows again for each one (~190,000 page faults per GiB received), which halves
// receive throughput (../shared/LIBSSH2-NOTES.md). Raising glibc's trim threshold fixes the speed
// but keeps freed memory resident for the life of the process; this pool keeps a bounded number
// of packet-sized blocks instead, and the worker releases them when the session has been idle.
#pragma once

#include <cstddef>
#include <vector>

namespace pvt::tunnel {

class PacketPool {
 public:
  // Requests in (kSmallest, kBlockSize] are served from blocks of kBlockSize bytes: SSH packets
  // are at most 35,000 bytes in libssh2 (payload 32 KiB plus headers and MAC).
  static constexpr size_t kBlockSize = 40 * 1024;
  static constexpr size_t kSmallest = 4 * 1024;

  explicit PacketPool(size_t max_free_blocks = 32) : max_free_(max_free_blocks) {}
  ~PacketPool();
  PacketPool(const PacketPool&) = delete;
  PacketPool& operator=(const PacketPool&) = delete;

  void* allocate(size_t size);
  void release(void* p);
  void* reallocate(void* p, size_t size);

  // Gives every pooled block back to the C library (when the session is idle or gone).
  void trim();

  size_t free_blocks() const { return free_.size(); }
  // Bytes libssh2 holds right now (pooled blocks count in full): a leak shows here first.
  size_t live_bytes() const { return live_; }
  size_t pooled_hits() const { return hits_; }

 private:
  size_t max_free_;
  std::vector<void*> free_;  // raw blocks (header included)
  size_t hits_ = 0;
  size_t live_ = 0;
};

}  // namespace pvt::tunnel
