#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace echod::client {

// What went wrong with one connection. A connection stops at its first error, so each error
// counted is one connection (or, in churn mode, one connection attempt).
enum class ErrorKind : std::uint8_t {
  kConnect,      // connect() failed or timed out
  kRefused,      // the server closed (EOF or reset) a connection before echoing any byte of it
  kReset,        // the connection failed with an errno (ECONNRESET, EPIPE, ...) while in use
  kTimeout,      // bytes outstanding and nothing arrived for --timeout
  kLoss,         // the server closed the connection with bytes not yet echoed, after echoing some
  kClosed,       // the server closed a connection that had nothing outstanding
  kCorruption,   // echoed bytes differ from what was sent and match no known stream position
  kDuplication,  // echoed bytes repeat an earlier part of this connection's stream
  kReordering,   // echoed bytes come from a later part of this connection's stream
  kCrossed,      // echoed bytes belong to another connection's stream
  kExcess,       // more bytes came back than were sent
};

inline constexpr std::size_t kErrorKindCount = 11;

constexpr std::string_view error_kind_name(ErrorKind kind) {
  constexpr std::array<std::string_view, kErrorKindCount> kNames = {
      "connect",    "refused",     "reset",      "timeout", "loss",  "closed",
      "corruption", "duplication", "reordering", "crossed", "excess"};
  return kNames[static_cast<std::size_t>(kind)];
}

class ErrorCounts {
 public:
  void add(ErrorKind kind, std::uint64_t n = 1) { counts_[static_cast<std::size_t>(kind)] += n; }
  [[nodiscard]] std::uint64_t count(ErrorKind kind) const {
    return counts_[static_cast<std::size_t>(kind)];
  }
  [[nodiscard]] std::uint64_t total() const {
    std::uint64_t sum = 0;
    for (auto n : counts_) sum += n;
    return sum;
  }
  void merge(const ErrorCounts& other) {
    for (std::size_t i = 0; i < kErrorKindCount; ++i) counts_[i] += other.counts_[i];
  }

 private:
  std::array<std::uint64_t, kErrorKindCount> counts_{};
};

}  // namespace echod::client
