#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace echod::client {

// The bytes one bench connection sends: a pseudo-random stream that both ends regenerate at any
// offset, so the receiver verifies without keeping a copy of what it sent.
//
// The stream is made of 64-byte blocks of eight 8-byte words. Block b starts with the word
// h = mix(run_key ^ (id << 40 | b)), with mix the splitmix64 finalizer, and its word j is
// h + j * kStep. One mix per block instead of per word keeps generating and checking the stream
// far cheaper than moving it through the kernel, so the client measures the server rather than
// itself. mix is a bijection, so any 8 aligned received bytes that came from some stream can be
// decoded back to (id, offset) by trying the eight values of j: that is how a mismatch is
// classified as duplicated, reordered or crossed bytes rather than plain corruption. Ids are 24
// bits and wrap; a stream is 2^46 bytes long before its blocks repeat.
class StreamPattern {
 public:
  static constexpr unsigned kIdBits = 24;
  static constexpr unsigned kIndexBits = 40;  // of the block index
  static constexpr std::uint64_t kBlockWords = 8;
  static constexpr std::uint64_t kIdMask = (std::uint64_t{1} << kIdBits) - 1;
  static constexpr std::uint64_t kIndexMask = (std::uint64_t{1} << kIndexBits) - 1;

  StreamPattern(std::uint64_t run_key, std::uint32_t id)
      : run_key_(run_key), id_(id & kIdMask), word_base_(run_key ^ (id_ << kIndexBits)) {}

  [[nodiscard]] std::uint32_t id() const { return static_cast<std::uint32_t>(id_); }
  [[nodiscard]] std::uint64_t run_key() const { return run_key_; }

  // The stream's word `index` (bytes [8 * index, 8 * index + 8), little-endian).
  [[nodiscard]] std::uint64_t word(std::uint64_t index) const {
    return block_start(index / kBlockWords) + (index % kBlockWords) * kStep;
  }

  // Writes the stream bytes [offset, offset + out.size()) to `out`.
  void fill(std::uint64_t offset, std::span<unsigned char> out) const {
    unsigned char* p = out.data();
    std::size_t left = out.size();
    std::uint64_t index = offset / 8;
    if (std::size_t skip = offset % 8; skip != 0 && left > 0) {
      unsigned char bytes[8];
      store(word(index++), bytes);
      std::size_t n = std::min(8 - skip, left);
      std::memcpy(p, bytes + skip, n);
      p += n;
      left -= n;
    }
    for (; left >= 8 && index % kBlockWords != 0; left -= 8, p += 8) {
      std::uint64_t w = word(index++);
      std::memcpy(p, &w, 8);
    }
    for (; left >= kBlockBytes; left -= kBlockBytes, p += kBlockBytes, index += kBlockWords) {
      std::uint64_t start = block_start(index / kBlockWords);
      for (std::size_t j = 0; j < kBlockWords; ++j) {
        std::uint64_t w = start + j * kStep;
        std::memcpy(p + 8 * j, &w, 8);
      }
    }
    for (; left >= 8; left -= 8, p += 8) {
      std::uint64_t w = word(index++);
      std::memcpy(p, &w, 8);
    }
    if (left > 0) {
      unsigned char bytes[8];
      store(word(index), bytes);
      std::memcpy(p, bytes, left);
    }
  }

  // Index in `data` of the first byte that differs from the stream at `offset`, or data.size().
  [[nodiscard]] std::size_t first_mismatch(std::uint64_t offset,
                                           std::span<const unsigned char> data) const {
    std::size_t pos = 0;
    std::uint64_t index = offset / 8;
    if (std::size_t skip = offset % 8; skip != 0 && !data.empty()) {
      std::size_t n = std::min(8 - skip, data.size());
      if (auto bad = mismatch_in_word(word(index++), skip, data.first(n)); bad < n) return bad;
      pos = n;
    }
    for (; pos + 8 <= data.size(); pos += 8) {
      if (index % kBlockWords == 0 && pos + kBlockBytes <= data.size()) {
        // A whole block: compare all of it at once, and look closer only when it differs.
        std::uint64_t start = block_start(index / kBlockWords);
        std::uint64_t differ = 0;
        for (std::size_t j = 0; j < kBlockWords; ++j) {
          std::uint64_t got = 0;
          std::memcpy(&got, data.data() + pos + 8 * j, 8);
          differ |= got ^ (start + j * kStep);
        }
        if (differ == 0) {
          pos += kBlockBytes - 8;
          index += kBlockWords;
          continue;
        }
      }
      std::uint64_t got = 0;
      std::memcpy(&got, data.data() + pos, 8);
      std::uint64_t w = word(index++);
      if (got != w) return pos + mismatch_in_word(w, 0, data.subspan(pos, 8));
    }
    if (pos < data.size()) return pos + mismatch_in_word(word(index), 0, data.subspan(pos));
    return data.size();
  }

  struct Origin {
    std::uint32_t id;
    std::uint64_t offset;  // stream offset of data[0]
  };

  // Decodes where the bytes at the start of `data` came from, if they are a piece of some stream
  // with the same run key and an id below `id_limit`. Needs at least 15 bytes to be sure to see
  // a whole aligned word; returns nothing for fewer, or for bytes no stream contains.
  [[nodiscard]] static std::optional<Origin> locate(std::uint64_t run_key,
                                                    std::span<const unsigned char> data,
                                                    std::uint64_t id_limit) {
    for (std::size_t shift = 0; shift < 8 && shift + 8 <= data.size(); ++shift) {
      std::uint64_t w = 0;
      std::memcpy(&w, data.data() + shift, 8);
      for (std::uint64_t j = 0; j < kBlockWords; ++j) {
        std::uint64_t x = unmix(w - j * kStep) ^ run_key;
        std::uint64_t id = x >> kIndexBits;
        std::uint64_t block = x & kIndexMask;
        std::uint64_t offset = (block * kBlockWords + j) * 8;
        // Bounding the block as well as the id keeps a random word from decoding by accident
        // (odds about id_limit * 2^-35 per try, 64 tries).
        if (id < id_limit && block < (std::uint64_t{1} << 29) && offset >= shift) {
          return Origin{static_cast<std::uint32_t>(id), offset - shift};
        }
      }
    }
    return std::nullopt;
  }

  static constexpr std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * kMul1;
    z = (z ^ (z >> 27)) * kMul2;
    return z ^ (z >> 31);
  }

  static constexpr std::uint64_t unmix(std::uint64_t z) {
    z = undo_xorshift(z, 31) * inverse(kMul2);
    z = undo_xorshift(z, 27) * inverse(kMul1);
    return undo_xorshift(z, 30);
  }

 private:
  static constexpr std::size_t kBlockBytes = kBlockWords * 8;
  // Odd, so that j * kStep differs for every j: the eight words of a block are distinct.
  static constexpr std::uint64_t kStep = 0x9e3779b97f4a7c15ULL;

  [[nodiscard]] std::uint64_t block_start(std::uint64_t block) const {
    return mix(word_base_ ^ (block & kIndexMask));
  }

  static void store(std::uint64_t w, unsigned char (&bytes)[8]) { std::memcpy(bytes, &w, 8); }

  // Index in `data` (at most 8 - skip bytes) of the first byte that differs from bytes
  // [skip, ...) of word `w`, or data.size().
  static std::size_t mismatch_in_word(std::uint64_t w, std::size_t skip,
                                      std::span<const unsigned char> data) {
    unsigned char bytes[8];
    store(w, bytes);
    for (std::size_t i = 0; i < data.size(); ++i) {
      if (data[i] != bytes[skip + i]) return i;
    }
    return data.size();
  }

  static constexpr std::uint64_t kMul1 = 0xbf58476d1ce4e5b9ULL;
  static constexpr std::uint64_t kMul2 = 0x94d049bb133111ebULL;

  // Multiplicative inverse modulo 2^64 of an odd number, by Newton's iteration.
  static constexpr std::uint64_t inverse(std::uint64_t a) {
    std::uint64_t x = a;
    for (int i = 0; i < 6; ++i) x *= 2 - a * x;
    return x;
  }

  static constexpr std::uint64_t undo_xorshift(std::uint64_t z, unsigned shift) {
    std::uint64_t x = z;
    for (unsigned s = shift; s < 64; s += shift) x = z ^ (x >> shift);
    return x;
  }

  std::uint64_t run_key_;
  std::uint64_t id_;
  std::uint64_t word_base_;
};

static_assert(StreamPattern::unmix(StreamPattern::mix(0x0123456789abcdefULL)) ==
              0x0123456789abcdefULL);

}  // namespace echod::client
