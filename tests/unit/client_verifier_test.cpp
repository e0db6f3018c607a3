#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "client/stream_pattern.hpp"
#include "client/stream_verifier.hpp"

namespace echod::client {
namespace {

constexpr std::uint64_t kRunKey = 0x5eed5eed12345678ULL;
constexpr std::uint64_t kIdLimit = 16;

std::vector<unsigned char> stream_bytes(const StreamPattern& pattern, std::uint64_t offset,
                                        std::size_t size) {
  std::vector<unsigned char> bytes(size);
  pattern.fill(offset, bytes);
  return bytes;
}

TEST(StreamPatternTest, MixIsInvertible) {
  std::mt19937_64 random(1);
  for (int i = 0; i < 10000; ++i) {
    std::uint64_t x = random();
    EXPECT_EQ(StreamPattern::unmix(StreamPattern::mix(x)), x);
  }
}

TEST(StreamPatternTest, FillIsTheSameStreamFromAnyOffsetAndSplit) {
  StreamPattern pattern(kRunKey, 3);
  auto whole = stream_bytes(pattern, 0, 1000);
  for (std::uint64_t offset : {0UL, 1UL, 7UL, 8UL, 9UL, 15UL, 16UL, 333UL, 992UL, 999UL}) {
    for (std::size_t size : {0UL, 1UL, 3UL, 8UL, 9UL, 17UL}) {
      if (offset + size > whole.size()) continue;
      auto part = stream_bytes(pattern, offset, size);
      EXPECT_TRUE(std::equal(part.begin(), part.end(), whole.begin() + static_cast<long>(offset)))
          << "offset " << offset << " size " << size;
      EXPECT_EQ(pattern.first_mismatch(offset, part), size);
    }
  }
}

TEST(StreamPatternTest, FirstMismatchFindsTheExactByte) {
  StreamPattern pattern(kRunKey, 3);
  for (std::uint64_t offset : {0UL, 5UL}) {
    for (std::size_t bad : {0UL, 1UL, 6UL, 7UL, 8UL, 63UL, 64UL, 99UL}) {
      auto bytes = stream_bytes(pattern, offset, 100);
      bytes[bad] ^= 0x10;
      EXPECT_EQ(pattern.first_mismatch(offset, bytes), bad) << "offset " << offset;
    }
  }
}

TEST(StreamPatternTest, StreamsWithDifferentIdsOrKeysDiffer) {
  auto a = stream_bytes(StreamPattern(kRunKey, 1), 0, 64);
  auto b = stream_bytes(StreamPattern(kRunKey, 2), 0, 64);
  auto c = stream_bytes(StreamPattern(kRunKey + 1, 1), 0, 64);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
}

TEST(StreamPatternTest, LocateDecodesIdAndOffsetAtAnyAlignment) {
  StreamPattern pattern(kRunKey, 9);
  std::vector<std::uint64_t> offsets = {4093, 1'000'000'007};
  for (std::uint64_t offset = 0; offset < 140; ++offset) offsets.push_back(offset);  // every word
  for (std::uint64_t offset : offsets) {
    auto bytes = stream_bytes(pattern, offset, 15);
    auto origin = StreamPattern::locate(kRunKey, bytes, kIdLimit);
    ASSERT_TRUE(origin.has_value()) << "offset " << offset;
    EXPECT_EQ(origin->id, 9u);
    EXPECT_EQ(origin->offset, offset);
  }
}

TEST(StreamPatternTest, LocateRejectsForeignBytes) {
  std::vector<unsigned char> zeros(64, 0);
  EXPECT_FALSE(StreamPattern::locate(kRunKey, zeros, kIdLimit).has_value());
  auto other_run = stream_bytes(StreamPattern(kRunKey ^ 0xff00ff00ff00ULL, 1), 0, 64);
  EXPECT_FALSE(StreamPattern::locate(kRunKey, other_run, kIdLimit).has_value());
  auto id_too_high = stream_bytes(StreamPattern(kRunKey, kIdLimit + 5), 0, 64);
  EXPECT_FALSE(StreamPattern::locate(kRunKey, id_too_high, kIdLimit).has_value());
}

class StreamVerifierTest : public ::testing::Test {
 protected:
  StreamPattern pattern_{kRunKey, 4};
  StreamVerifier verifier_{pattern_};

  void send(std::size_t bytes) { verifier_.on_sent(bytes); }
  std::vector<unsigned char> sent_bytes(std::uint64_t offset, std::size_t size) const {
    return stream_bytes(pattern_, offset, size);
  }
};

TEST_F(StreamVerifierTest, AcceptsTheEchoInAnySplit) {
  send(1000);
  auto bytes = sent_bytes(0, 1000);
  std::size_t pos = 0;
  for (std::size_t step : {1UL, 2UL, 7UL, 8UL, 100UL, 500UL}) {
    auto piece = std::span(bytes).subspan(pos, std::min(step, bytes.size() - pos));
    EXPECT_FALSE(verifier_.verify(piece, kIdLimit).has_value());
    pos += piece.size();
  }
  EXPECT_FALSE(verifier_.verify(std::span(bytes).subspan(pos), kIdLimit).has_value());
  EXPECT_EQ(verifier_.received(), 1000u);
  EXPECT_EQ(verifier_.outstanding(), 0u);
}

TEST_F(StreamVerifierTest, FlippedByteIsCorruptionAtItsOffset) {
  send(512);
  auto bytes = sent_bytes(0, 512);
  bytes[300] ^= 0x01;
  auto error = verifier_.verify(bytes, kIdLimit);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, ErrorKind::kCorruption);
  EXPECT_EQ(error->offset, 300u);
  EXPECT_EQ(verifier_.received(), 300u);
}

TEST_F(StreamVerifierTest, ShortWrongTailIsCorruption) {
  send(10);
  std::vector<unsigned char> bytes = sent_bytes(0, 10);
  bytes[9] ^= 0x80;
  auto error = verifier_.verify(bytes, kIdLimit);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, ErrorKind::kCorruption);
  EXPECT_EQ(error->offset, 9u);
}

TEST_F(StreamVerifierTest, RepeatedBytesAreDuplication) {
  send(200);
  ASSERT_FALSE(verifier_.verify(sent_bytes(0, 100), kIdLimit).has_value());
  auto error = verifier_.verify(sent_bytes(40, 60), kIdLimit);  // 40..99 again
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, ErrorKind::kDuplication);
  EXPECT_EQ(error->offset, 100u);
  ASSERT_TRUE(error->origin.has_value());
  EXPECT_EQ(error->origin->offset, 40u);
  EXPECT_EQ(error->origin->id, 4u);
}

TEST_F(StreamVerifierTest, RepeatedBytesAfterTheEndAreDuplicationNotJustExcess) {
  send(100);
  ASSERT_FALSE(verifier_.verify(sent_bytes(0, 100), kIdLimit).has_value());
  auto error = verifier_.verify(sent_bytes(0, 32), kIdLimit);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, ErrorKind::kDuplication);
  EXPECT_EQ(error->excess_bytes, 32u);
}

TEST_F(StreamVerifierTest, LaterBytesFirstIsReordering) {
  send(256);
  auto error = verifier_.verify(sent_bytes(128, 64), kIdLimit);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, ErrorKind::kReordering);
  EXPECT_EQ(error->offset, 0u);
  ASSERT_TRUE(error->origin.has_value());
  EXPECT_EQ(error->origin->offset, 128u);
}

TEST_F(StreamVerifierTest, AnotherConnectionsBytesAreCrossed) {
  send(256);
  ASSERT_FALSE(verifier_.verify(sent_bytes(0, 50), kIdLimit).has_value());
  auto foreign = stream_bytes(StreamPattern(kRunKey, 11), 50, 64);
  auto error = verifier_.verify(foreign, kIdLimit);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, ErrorKind::kCrossed);
  EXPECT_EQ(error->offset, 50u);
  ASSERT_TRUE(error->origin.has_value());
  EXPECT_EQ(error->origin->id, 11u);
  EXPECT_EQ(error->origin->offset, 50u);
  EXPECT_NE(error->describe(4).find("stream 11"), std::string::npos);
}

TEST_F(StreamVerifierTest, MoreThanSentIsExcess) {
  send(64);
  auto bytes = sent_bytes(0, 64);
  bytes.insert(bytes.end(), {'h', 'e', 'l', 'l', 'o'});
  auto error = verifier_.verify(bytes, kIdLimit);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, ErrorKind::kExcess);
  EXPECT_EQ(error->offset, 64u);
  EXPECT_EQ(error->excess_bytes, 5u);
  EXPECT_EQ(verifier_.received(), 64u);
}

TEST_F(StreamVerifierTest, NothingSentMeansAnyByteIsExcess) {
  std::vector<unsigned char> byte = {42};
  auto error = verifier_.verify(byte, kIdLimit);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, ErrorKind::kExcess);
}

TEST_F(StreamVerifierTest, OutstandingCountsWhatHasNotComeBack) {
  send(300);
  ASSERT_FALSE(verifier_.verify(sent_bytes(0, 120), kIdLimit).has_value());
  EXPECT_EQ(verifier_.outstanding(), 180u);
}

TEST(ErrorCountsTest, CountsByKindAndMerges) {
  ErrorCounts a;
  ErrorCounts b;
  a.add(ErrorKind::kLoss);
  b.add(ErrorKind::kLoss, 2);
  b.add(ErrorKind::kCrossed);
  a.merge(b);
  EXPECT_EQ(a.count(ErrorKind::kLoss), 3u);
  EXPECT_EQ(a.count(ErrorKind::kCrossed), 1u);
  EXPECT_EQ(a.total(), 4u);
  EXPECT_EQ(error_kind_name(ErrorKind::kExcess), "excess");
}

}  // namespace
}  // namespace echod::client
