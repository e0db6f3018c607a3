#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "client/error_kind.hpp"
#include "client/stream_pattern.hpp"

namespace echod::client {

struct StreamError {
  ErrorKind kind{};
  std::uint64_t offset = 0;                     // stream offset of the first wrong byte
  std::optional<StreamPattern::Origin> origin;  // where the wrong bytes really came from
  std::uint64_t excess_bytes = 0;  // kExcess/kDuplication past the end of what was sent

  [[nodiscard]] std::string describe(std::uint32_t own_id) const;
};

// Checks one connection's echo against the stream it sent, in order, by offset. Holds no copy of
// the sent bytes: they are regenerated from the pattern.
class StreamVerifier {
 public:
  explicit StreamVerifier(StreamPattern pattern) : pattern_(pattern) {}

  void on_sent(std::uint64_t bytes) { sent_ += bytes; }

  // Checks the echoed bytes that follow those already verified and advances received() past the
  // good ones. `id_limit` bounds the stream ids in use, to recognise bytes of other connections.
  // After an error the stream is out of step and the connection should be dropped.
  std::optional<StreamError> verify(std::span<const unsigned char> data, std::uint64_t id_limit);

  [[nodiscard]] const StreamPattern& pattern() const { return pattern_; }
  [[nodiscard]] std::uint64_t sent() const { return sent_; }
  [[nodiscard]] std::uint64_t received() const { return received_; }
  [[nodiscard]] std::uint64_t outstanding() const { return sent_ - received_; }

 private:
  [[nodiscard]] StreamError classify(std::span<const unsigned char> wrong, std::uint64_t offset,
                                     std::uint64_t id_limit) const;

  StreamPattern pattern_;
  std::uint64_t sent_ = 0;
  std::uint64_t received_ = 0;
};

}  // namespace echod::client
