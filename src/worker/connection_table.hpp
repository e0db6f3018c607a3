#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "net/connection.hpp"

namespace echod {

// A worker's connections, in slots that are reused. A connection is named by a 64-bit token:
// slot index in the low 32 bits, the slot's generation in bits 32-62 (bit 63 is always clear,
// so other event sources can use tokens with it set). The generation changes whenever a slot
// is freed, so an event for a connection that is already closed finds nothing.
//
// Thread contract: owned by one worker; every method runs on that worker's thread.
class ConnectionTable {
 public:
  static constexpr std::uint64_t kTagBit = std::uint64_t{1} << 63;

  // Returns the new connection's token.
  std::uint64_t insert(Connection connection);
  // nullptr when the token is stale.
  [[nodiscard]] Connection* find(std::uint64_t token) noexcept;
  // Destroys the connection (closing its fd, which also takes it out of epoll).
  void erase(std::uint64_t token) noexcept;
  // Moves the connection out (its fd stays open) and frees its slot. The token must be live.
  Connection take(std::uint64_t token) noexcept;

  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  // fn(token, Connection&); fn may erase or take the connection it is given.
  template <typename Fn>
  void for_each(Fn&& fn) {
    for (std::size_t index = 0; index < slots_.size(); ++index) {
      if (slots_[index].connection) fn(make_token(index), *slots_[index].connection);
    }
  }

 private:
  struct Slot {
    std::optional<Connection> connection;
    std::uint32_t generation = 0;
  };

  [[nodiscard]] std::uint64_t make_token(std::size_t index) const noexcept;
  void free_slot(std::uint32_t index) noexcept;

  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_;  // indices of empty slots
  std::size_t size_ = 0;
};

}  // namespace echod
