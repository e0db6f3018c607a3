#include "net/echo_buffer.hpp"

#include <algorithm>
#include <cassert>

namespace echod {

void EchoBuffer::append(std::span<const std::byte> bytes, std::size_t limit) {
  if (head_ > 0 && data_.size() + bytes.size() > data_.capacity()) {
    // Reuse the consumed front before growing.
    data_.erase(data_.begin(), data_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
  std::size_t needed = data_.size() + bytes.size();
  if (needed > data_.capacity()) {
    data_.reserve(std::max(needed, std::min(2 * data_.capacity(), limit)));
  }
  data_.insert(data_.end(), bytes.begin(), bytes.end());
}

void EchoBuffer::consume(std::size_t count) noexcept {
  assert(count <= readable());
  head_ += count;
  if (head_ == data_.size()) {
    std::vector<std::byte>().swap(data_);
    head_ = 0;
  }
}

}  // namespace echod
