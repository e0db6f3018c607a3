#include "udp/datagram_batch.hpp"

#include <algorithm>
#include <cassert>
#include <stdexcept>

namespace echod::udp {

DatagramBatch::DatagramBatch(std::size_t max_datagram) : max_datagram_(max_datagram) {
  if (max_datagram > 65535) throw std::invalid_argument("max_datagram above 65535");
  // The pages of this reservation are touched only as datagrams fill them.
  payloads_.resize(kMaxDatagrams * slot_size());
  for (std::size_t i = 0; i < kMaxDatagrams; ++i) {
    receive_iov_[i].iov_base = payloads_.data() + i * slot_size();
  }
}

std::span<mmsghdr> DatagramBatch::prepare_receive(std::size_t count) {
  count = std::min(count, kMaxDatagrams);
  reply_count_ = 0;
  for (std::size_t i = 0; i < count; ++i) {
    receive_iov_[i].iov_len = slot_size();
    msghdr& header = received_[i].msg_hdr;
    header.msg_name = &sources_[i];
    header.msg_namelen = sizeof(sockaddr_storage);
    header.msg_iov = &receive_iov_[i];
    header.msg_iovlen = 1;
    header.msg_control = receive_control_[i].bytes.data();
    header.msg_controllen = kReceiveControlSpace;
    header.msg_flags = 0;
    received_[i].msg_len = 0;
  }
  return std::span(received_).first(count);
}

DatagramBatch::Datagram DatagramBatch::datagram(std::size_t i) const {
  assert(i < kMaxDatagrams);
  const msghdr& header = received_[i].msg_hdr;
  const std::size_t length = std::min<std::size_t>(received_[i].msg_len, slot_size());
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr_storage as sockaddr.
  const auto* source = reinterpret_cast<const sockaddr*>(&sources_[i]);
  return Datagram{
      source,
      header.msg_namelen,
      length,
      (header.msg_flags & MSG_TRUNC) != 0,
      std::span<const unsigned char>(payloads_.data() + i * slot_size(), length),
      read_packet_info(header),
      read_receive_queue_drops(header),
  };
}

bool DatagramBatch::oversize(std::size_t i) const {
  return (received_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 || received_[i].msg_len > max_datagram_;
}

void DatagramBatch::add_reply(std::size_t i) {
  assert(i < kMaxDatagrams && reply_count_ < kMaxDatagrams);
  const std::size_t j = reply_count_++;
  const msghdr& request = received_[i].msg_hdr;
  reply_iov_[j].iov_base = receive_iov_[i].iov_base;
  reply_iov_[j].iov_len = std::min<std::size_t>(received_[i].msg_len, max_datagram_);
  msghdr& reply = replies_[j].msg_hdr;
  reply.msg_name = request.msg_name;
  reply.msg_namelen = request.msg_namelen;
  reply.msg_iov = &reply_iov_[j];
  reply.msg_iovlen = 1;
  reply.msg_flags = 0;
  std::size_t control_length = 0;
  if (auto arrival = read_packet_info(request)) {
    control_length = write_reply_control(*arrival, reply_control_[j].bytes);
  }
  reply.msg_control = control_length > 0 ? reply_control_[j].bytes.data() : nullptr;
  reply.msg_controllen = control_length;
  replies_[j].msg_len = 0;
  reply_source_[j] = static_cast<std::uint8_t>(i);
}

}  // namespace echod::udp
