#include "net/echo_buffer.hpp"

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

namespace echod {
namespace {

constexpr std::size_t kNoLimit = SIZE_MAX;

std::vector<std::byte> bytes(std::size_t size, std::size_t seed) {
  std::vector<std::byte> data(size);
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::byte>((seed + i) % 256);
  return data;
}

TEST(EchoBufferTest, EmptyBufferOwnsNoMemory) {
  EchoBuffer buffer;
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.capacity(), 0U);
}

TEST(EchoBufferTest, KeepsOrderAcrossAppendAndConsume) {
  EchoBuffer buffer;
  auto a = bytes(100, 1);
  auto b = bytes(50, 2);
  buffer.append(a, kNoLimit);
  buffer.consume(30);
  buffer.append(b, kNoLimit);
  ASSERT_EQ(buffer.readable(), 120U);
  std::vector<std::byte> expected(a.begin() + 30, a.end());
  expected.insert(expected.end(), b.begin(), b.end());
  auto view = buffer.readable_bytes();
  EXPECT_EQ(std::vector<std::byte>(view.begin(), view.end()), expected);
}

TEST(EchoBufferTest, ReleasesMemoryWhenDrained) {
  EchoBuffer buffer;
  buffer.append(bytes(4096, 3), kNoLimit);
  EXPECT_GE(buffer.capacity(), 4096U);
  buffer.consume(4000);
  EXPECT_EQ(buffer.readable(), 96U);
  buffer.consume(96);
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.capacity(), 0U);
}

TEST(EchoBufferTest, ReusesConsumedFrontBeforeGrowing) {
  EchoBuffer buffer;
  buffer.append(bytes(1000, 4), kNoLimit);
  std::size_t capacity = buffer.capacity();
  buffer.consume(900);
  buffer.append(bytes(capacity - 200, 5), kNoLimit);  // fits once the front is reclaimed
  EXPECT_EQ(buffer.capacity(), capacity);
  EXPECT_EQ(buffer.readable(), 100U + capacity - 200);
}

TEST(EchoBufferTest, GrowthStopsAtTheLimit) {
  // Doubling 40,000 bytes of room to take 20,000 more would allocate 80,000.
  constexpr std::size_t kLimit = 65536;
  EchoBuffer buffer;
  buffer.append(bytes(40000, 6), kLimit);
  buffer.append(bytes(20000, 7), kLimit);
  buffer.append(bytes(5536, 8), kLimit);
  EXPECT_EQ(buffer.readable(), kLimit);
  EXPECT_EQ(buffer.capacity(), kLimit);
  // Bytes beyond the limit still fit (the caller decides what to hold).
  buffer.append(bytes(10, 9), kLimit);
  EXPECT_EQ(buffer.readable(), kLimit + 10);
}

}  // namespace
}  // namespace echod
