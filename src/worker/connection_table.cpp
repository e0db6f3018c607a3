#include "worker/connection_table.hpp"

#include <cassert>

namespace echod {
namespace {

constexpr std::uint32_t kGenerationMask = 0x7fffffffU;

std::uint32_t slot_of(std::uint64_t token) { return static_cast<std::uint32_t>(token); }
std::uint32_t generation_of(std::uint64_t token) {
  return static_cast<std::uint32_t>(token >> 32) & kGenerationMask;
}

}  // namespace

std::uint64_t ConnectionTable::make_token(std::size_t index) const noexcept {
  return (std::uint64_t{slots_[index].generation & kGenerationMask} << 32) | index;
}

std::uint64_t ConnectionTable::insert(Connection connection) {
  std::size_t index = 0;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = slots_.size();
    slots_.emplace_back();
    free_.reserve(slots_.capacity());  // so that erase() never allocates
  }
  slots_[index].connection.emplace(std::move(connection));
  ++size_;
  return make_token(index);
}

Connection* ConnectionTable::find(std::uint64_t token) noexcept {
  if ((token & kTagBit) != 0) return nullptr;
  std::uint32_t index = slot_of(token);
  if (index >= slots_.size()) return nullptr;
  Slot& slot = slots_[index];
  if (!slot.connection || (slot.generation & kGenerationMask) != generation_of(token)) {
    return nullptr;
  }
  return &*slot.connection;
}

void ConnectionTable::erase(std::uint64_t token) noexcept {
  if (find(token) == nullptr) return;
  free_slot(slot_of(token));
}

Connection ConnectionTable::take(std::uint64_t token) noexcept {
  assert(find(token) != nullptr);
  std::uint32_t index = slot_of(token);
  Connection connection = std::move(*slots_[index].connection);
  free_slot(index);
  return connection;
}

void ConnectionTable::free_slot(std::uint32_t index) noexcept {
  slots_[index].connection.reset();
  ++slots_[index].generation;
  free_.push_back(index);
  --size_;
}

}  // namespace echod
