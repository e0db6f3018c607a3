#include "udp/echo_pass.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>

#include "sys/system_error.hpp"

namespace echod::udp {
namespace {

void set_option(int fd, int level, int name, const char* what) {
  int one = 1;
  if (::setsockopt(fd, level, name, &one, sizeof(one)) != 0) throw_errno(what);
}

// Sends the batch's replies; counts each as sent or dropped.
void send_replies(int fd, DatagramBatch& batch, EchoPassCounters& counters) {
  auto replies = batch.replies();
  std::size_t next = 0;
  while (next < replies.size()) {
    auto rest = replies.subspan(next);
    ++counters.send_calls;
    int sent = ::sendmmsg(fd, rest.data(), static_cast<unsigned>(rest.size()), MSG_DONTWAIT);
    if (sent > 0) {
      for (std::size_t j = next; j < next + static_cast<std::size_t>(sent); ++j) {
        ++counters.sent;
        counters.sent_bytes += replies[j].msg_len;
      }
      next += static_cast<std::size_t>(sent);
      continue;  // a short count: the next call reports what stopped it
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
      // The send buffer is full: drop the rest of this batch rather than queue it.
      counters.drops.add(DropReason::kTxDropped, replies.size() - next);
      return;
    }
    // This reply was refused (EACCES for a broadcast destination, EPERM from a firewall,
    // EHOSTUNREACH...): drop it, send the others.
    counters.drops.add(DropReason::kTxFailed);
    ++next;
  }
}

}  // namespace

void enable_receive_options(int fd, int family) {
  if (family == AF_INET6) {
    set_option(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, "setsockopt(IPV6_RECVPKTINFO)");
  } else {
    set_option(fd, IPPROTO_IP, IP_PKTINFO, "setsockopt(IP_PKTINFO)");
  }
  set_option(fd, SOL_SOCKET, SO_RXQ_OVFL, "setsockopt(SO_RXQ_OVFL)");
}

EchoPassResult run_echo_pass(int fd, DatagramBatch& batch, const EchoPassContext& context,
                             EchoPassCounters& counters, RateTable::Clock::time_point now) {
  std::array<RateTable::Request, DatagramBatch::kMaxDatagrams> requests{};
  std::array<std::size_t, DatagramBatch::kMaxDatagrams> request_slot{};
  std::array<std::optional<DropReason>, DatagramBatch::kMaxDatagrams> verdicts{};
  for (std::size_t round = 0; round < context.max_batches; ++round) {
    auto headers = batch.prepare_receive();
    ++counters.receive_calls;
    int received = ::recvmmsg(fd, headers.data(), static_cast<unsigned>(headers.size()),
                              MSG_DONTWAIT, nullptr);
    if (received < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {EchoPassEnd::kDrained, 0};
      return {EchoPassEnd::kError, errno};
    }
    const auto count = static_cast<std::size_t>(received);
    std::size_t candidates = 0;
    for (std::size_t i = 0; i < count; ++i) {
      auto datagram = batch.datagram(i);
      ++counters.received;
      counters.received_bytes += datagram.length;
      if (datagram.receive_queue_drops) counters.receive_queue_drops = datagram.receive_queue_drops;
      const PacketInfo* arrival = datagram.arrival ? &*datagram.arrival : nullptr;
      Arrival what{datagram.source, datagram.source_length, arrival,
                   arrival != nullptr && arrival->ifindex == context.loopback_ifindex};
      if (auto reason = context.guard != nullptr ? context.guard->check(what) : std::nullopt) {
        counters.drops.add(*reason);
        continue;
      }
      if (batch.oversize(i)) {
        counters.drops.add(DropReason::kOversize);
        continue;
      }
      bool exempt = context.exempt != nullptr &&
                    context.exempt->covers(datagram.source, datagram.source_length);
      requests[candidates] = {datagram.source, datagram.source_length, datagram.length, exempt};
      request_slot[candidates] = i;
      ++candidates;
    }
    if (context.rates != nullptr && candidates > 0) {
      context.rates->admit(std::span(requests).first(candidates),
                           std::span(verdicts).first(candidates), now);
    } else {
      std::fill(verdicts.begin(), verdicts.begin() + static_cast<std::ptrdiff_t>(candidates),
                std::nullopt);
    }
    for (std::size_t c = 0; c < candidates; ++c) {
      if (verdicts[c]) {
        counters.drops.add(*verdicts[c]);
      } else {
        batch.add_reply(request_slot[c]);
      }
    }
    if (batch.reply_count() > 0) send_replies(fd, batch, counters);
    if (count < headers.size()) return {EchoPassEnd::kDrained, 0};
  }
  return {EchoPassEnd::kBudgetSpent, 0};
}

}  // namespace echod::udp
