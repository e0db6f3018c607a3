#include "worker/pending_headers.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace echod {
namespace {

using Kind = PendingHeaders::Outcome::Kind;

// recv() that retries on EINTR; -1 with errno set on failure.
ssize_t receive(int fd, std::byte* data, std::size_t size, int flags) {
  ssize_t n = 0;
  do {
    n = ::recv(fd, data, size, flags);
  } while (n < 0 && errno == EINTR);
  return n;
}

}  // namespace

std::uint64_t PendingHeaders::add(UniqueFd fd, const SocketAddress& peer, std::uint32_t listener_id,
                                  ProxyMode mode, Clock::time_point deadline,
                                  AdmissionTicket reserved) {
  const std::uint64_t token = ConnectionTable::kTagBit | kTokenBit | next_id_++;
  Entry entry{std::move(fd),
              peer,
              listener_id,
              mode,
              deadline,
              0,
              std::make_unique_for_overwrite<std::array<std::byte, kMaxProxyHeaderLength>>(),
              std::move(reserved)};
  entries_.emplace(token, std::move(entry));
  return token;
}

std::optional<PendingHeaders::Entry> PendingHeaders::take(std::uint64_t token) {
  auto it = entries_.find(token);
  if (it == entries_.end()) return std::nullopt;
  Entry entry = std::move(it->second);
  entries_.erase(it);
  return entry;
}

PendingHeaders::Outcome PendingHeaders::on_ready(std::uint64_t token) {
  Outcome outcome;
  auto it = entries_.find(token);
  if (it == entries_.end()) return outcome;  // stale: nothing to re-arm either
  Entry& entry = it->second;
  outcome.fd = entry.fd.get();
  std::byte* const start = entry.buffer->data();
  std::byte* const free = start + entry.taken;
  const std::size_t room = entry.buffer->size() - entry.taken;

  auto finish = [&](Kind kind) {
    outcome.kind = kind;
    outcome.entry = take(token);
    return std::move(outcome);
  };
  const ssize_t peeked = receive(entry.fd.get(), free, room, MSG_PEEK);
  if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return outcome;
  if (peeked <= 0) {
    outcome.reason = ProxyReject::kClosed;
    outcome.error = peeked < 0 ? errno : 0;
    return finish(Kind::kRejected);
  }
  const auto seen = static_cast<std::size_t>(peeked);
  const ProxyParseResult result =
      parse_proxy_header(std::span<const std::byte>(start, entry.taken + seen), entry.mode);
  if (const auto* rejected = std::get_if<ProxyRejected>(&result)) {
    outcome.reason = rejected->reason;
    return finish(Kind::kRejected);
  }
  // Take the header's bytes off the socket: all that was seen while it is incomplete, exactly
  // its rest when it is complete. They were peeked, so the socket has them.
  const auto* header = std::get_if<ProxyHeader>(&result);
  const std::size_t wanted = header != nullptr ? header->header_length - entry.taken : seen;
  if (wanted > 0 && receive(entry.fd.get(), free, wanted, 0) != static_cast<ssize_t>(wanted)) {
    outcome.reason = ProxyReject::kClosed;
    outcome.error = errno;
    return finish(Kind::kRejected);
  }
  entry.taken += wanted;
  if (header == nullptr) return outcome;  // need more: re-arm
  outcome.header = *header;
  return finish(Kind::kComplete);
}

std::optional<PendingHeaders::Clock::time_point> PendingHeaders::next_deadline() const noexcept {
  std::optional<Clock::time_point> next;
  for (const auto& [token, entry] : entries_) {
    if (!next || entry.deadline < *next) next = entry.deadline;
  }
  return next;
}

}  // namespace echod
