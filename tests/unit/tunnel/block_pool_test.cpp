#include "tunnel/block_pool.h"

#include <gtest/gtest.h>

#include <cstring>

namespace pvt::tunnel {
namespace {

constexpr size_t kBlock = 40 * 1024;

TEST(BlockPool, ReusesPacketSizedBlocks) {
  BlockPool pool(kBlock, 4 * 1024, 2);
  void* a = pool.allocate(32 * 1024);
  std::memset(a, 1, 32 * 1024);
  pool.release(a);
  EXPECT_EQ(pool.free_blocks(), 1u);
  void* b = pool.allocate(20 * 1024);  // any packet-sized request takes a pooled block
  EXPECT_EQ(b, a);
  EXPECT_EQ(pool.pooled_hits(), 1u);
  pool.release(b);
}

TEST(BlockPool, SmallAndLargeRequestsBypassThePool) {
  BlockPool pool(kBlock, 4 * 1024, 2);
  void* small = pool.allocate(100);
  void* large = pool.allocate(kBlock + 1);
  pool.release(small);
  pool.release(large);
  EXPECT_EQ(pool.free_blocks(), 0u);
}

TEST(BlockPool, KeepsAtMostTheBoundAndTrimsToZero) {
  BlockPool pool(kBlock, 4 * 1024, 2);
  void* blocks[4];
  for (auto& b : blocks) b = pool.allocate(kBlock);
  for (auto* b : blocks) pool.release(b);
  EXPECT_EQ(pool.free_blocks(), 2u);
  pool.trim();
  EXPECT_EQ(pool.free_blocks(), 0u);
}

TEST(BlockPool, ReallocateKeepsTheContent) {
  BlockPool pool(kBlock, 4 * 1024, 2);
  char* p = static_cast<char*>(pool.allocate(10));
  std::memcpy(p, "0123456789", 10);
  p = static_cast<char*>(pool.reallocate(p, 30 * 1024));  // moves into a pooled block
  EXPECT_EQ(std::memcmp(p, "0123456789", 10), 0);
  char* same = static_cast<char*>(pool.reallocate(p, 31 * 1024));  // fits: stays
  EXPECT_EQ(same, p);
  p = static_cast<char*>(pool.reallocate(same, 100 * 1024));  // too big: out of the pool
  EXPECT_EQ(std::memcmp(p, "0123456789", 10), 0);
  pool.release(p);
  EXPECT_EQ(pool.free_blocks(), 1u);           // the pooled block went back
  void* fresh = pool.reallocate(nullptr, 10);  // like realloc(NULL, n): a new block
  EXPECT_NE(fresh, nullptr);
  pool.release(fresh);
}

}  // namespace
}  // namespace pvt::tunnel
