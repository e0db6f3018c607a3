#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace echod {

// Bytes read from a client that could not be written back yet. No syscalls here.
//
//   +-------------------+------------------+
//   |  consumed bytes   |  readable bytes  |
//   +-------------------+------------------+
//   0      <=        head_      <=     data_.size()
//
// Invariants: head_ <= data_.size(); an empty buffer owns no heap memory (capacity 0), so an
// idle connection costs only the size of this object. Most echoes never touch it: a connection
// reads into its worker's scratch buffer and writes straight back, and only the bytes a partial
// write left over are appended here.
class EchoBuffer {
 public:
  [[nodiscard]] std::size_t readable() const noexcept { return data_.size() - head_; }
  [[nodiscard]] bool empty() const noexcept { return readable() == 0; }
  [[nodiscard]] std::span<const std::byte> readable_bytes() const noexcept {
    return std::span<const std::byte>(data_).subspan(head_);
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return data_.capacity(); }

  // Growing doubles the allocation, but never past `limit` (the most this buffer is meant to
  // hold) unless the bytes need more: what a connection holds is bounded by its cap, not by
  // twice it.
  void append(std::span<const std::byte> bytes, std::size_t limit);
  // Drops the first `count` readable bytes (count <= readable()). Frees the memory once empty.
  void consume(std::size_t count) noexcept;

 private:
  std::vector<std::byte> data_;
  std::size_t head_ = 0;
};

}  // namespace echod
