#include "tunnel/block_pool.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace pvt::tunnel {
namespace {

// Every block starts with a header that records its usable size, so release() and reallocate()
// know a pooled block from any other; 16 bytes keep the payload aligned like malloc's.
struct alignas(16) Header {
  size_t capacity;
};

void* payload(Header* h) { return h + 1; }
Header* header(void* p) { return static_cast<Header*>(p) - 1; }

}  // namespace

BlockPool::~BlockPool() { trim(); }

void* BlockPool::allocate(size_t size) {
  const bool pooled = size > smallest_ && size <= block_size_;
  Header* h = nullptr;
  if (pooled && !free_.empty()) {
    h = static_cast<Header*>(free_.back());
    free_.pop_back();
    ++hits_;
    live_ += block_size_;
    return payload(h);
  }
  const size_t capacity = pooled ? block_size_ : size;
  h = static_cast<Header*>(std::malloc(sizeof(Header) + capacity));
  if (h == nullptr) return nullptr;
  h->capacity = capacity;
  live_ += capacity;
  return payload(h);
}

void BlockPool::release(void* p) {
  if (p == nullptr) return;
  Header* h = header(p);
  live_ -= h->capacity;
  if (h->capacity == block_size_ && free_.size() < max_free_) {
    free_.push_back(h);
    return;
  }
  std::free(h);
}

void* BlockPool::reallocate(void* p, size_t size) {
  if (p == nullptr) return allocate(size);
  Header* h = header(p);
  if (size <= h->capacity && (h->capacity == block_size_ || size * 2 > h->capacity)) return p;
  void* fresh = allocate(size);
  if (fresh == nullptr) return nullptr;
  std::memcpy(fresh, p, h->capacity < size ? h->capacity : size);
  release(p);
  return fresh;
}

void BlockPool::trim() {
  for (void* block : free_) std::free(block);
  free_.clear();
  free_.shrink_to_fit();
}

}  // namespace pvt::tunnel
