#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "udp/packet_info.hpp"

namespace echod::udp {

// The memory of one recvmmsg() and the sendmmsg() that answers it, owned by a worker and reused
// for every batch: headers, iovecs, source addresses, control buffers and payload buffers are
// fixed arrays set up once, so no datagram allocates. A reply points at its request's payload
// and source address (no copy); only its control message is its own.
//
// Each payload buffer holds max_datagram + 1 bytes, so that a datagram longer than max_datagram
// is seen as such even where the kernel did not truncate it.
//
// Not movable: the headers point into the object itself. Not thread-safe (one per worker).
class DatagramBatch {
 public:
  static constexpr std::size_t kMaxDatagrams = 32;

  explicit DatagramBatch(std::size_t max_datagram);
  DatagramBatch(const DatagramBatch&) = delete;
  DatagramBatch& operator=(const DatagramBatch&) = delete;
  DatagramBatch(DatagramBatch&&) = delete;
  DatagramBatch& operator=(DatagramBatch&&) = delete;
  ~DatagramBatch() = default;

  [[nodiscard]] std::size_t max_datagram() const { return max_datagram_; }

  // Readies `count` (at most kMaxDatagrams) slots for recvmmsg() and drops the replies queued
  // so far. Pass the returned headers to recvmmsg().
  std::span<mmsghdr> prepare_receive(std::size_t count = kMaxDatagrams);

  // Datagram `i` (below the count recvmmsg() returned), as the kernel filled its slot.
  struct Datagram {
    const sockaddr* source;
    socklen_t source_length;
    std::size_t length;  // the datagram's length (msg_len): at most the buffer's size
    bool truncated;      // MSG_TRUNC: the datagram was longer than the buffer
    std::span<const unsigned char> payload;
    std::optional<PacketInfo> arrival;                 // from IP_PKTINFO / IPV6_PKTINFO
    std::optional<std::uint32_t> receive_queue_drops;  // from SO_RXQ_OVFL
  };
  [[nodiscard]] Datagram datagram(std::size_t i) const;
  // Longer than max_datagram, or cut by the kernel: never to be echoed.
  [[nodiscard]] bool oversize(std::size_t i) const;

  // Queues the echo of datagram `i`: its payload back to its source, from the address it
  // arrived at when PKTINFO said which.
  void add_reply(std::size_t i);
  // The queued replies, for sendmmsg(); reply j echoes datagram reply_source(j).
  [[nodiscard]] std::span<mmsghdr> replies() { return std::span(replies_).first(reply_count_); }
  [[nodiscard]] std::size_t reply_count() const { return reply_count_; }
  [[nodiscard]] std::size_t reply_source(std::size_t j) const { return reply_source_[j]; }

  // For tests: the receive header of slot `i`, to fill as recvmmsg() would.
  [[nodiscard]] mmsghdr& receive_header(std::size_t i) { return received_[i]; }

 private:
  struct alignas(cmsghdr) ReceiveControl {
    std::array<unsigned char, kReceiveControlSpace> bytes;
  };
  struct alignas(cmsghdr) ReplyControl {
    std::array<unsigned char, kReplyControlSpace> bytes;
  };

  [[nodiscard]] std::size_t slot_size() const { return max_datagram_ + 1; }

  std::size_t max_datagram_;
  std::vector<unsigned char> payloads_;  // kMaxDatagrams slots of slot_size() bytes
  std::array<mmsghdr, kMaxDatagrams> received_{};
  std::array<iovec, kMaxDatagrams> receive_iov_{};
  std::array<sockaddr_storage, kMaxDatagrams> sources_{};
  std::array<ReceiveControl, kMaxDatagrams> receive_control_{};
  std::array<mmsghdr, kMaxDatagrams> replies_{};
  std::array<iovec, kMaxDatagrams> reply_iov_{};
  std::array<ReplyControl, kMaxDatagrams> reply_control_{};
  std::array<std::uint8_t, kMaxDatagrams> reply_source_{};
  std::size_t reply_count_ = 0;
};

}  // namespace echod::udp
