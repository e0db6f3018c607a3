#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>

#include "proxy/proxy_header.hpp"
#include "sys/socket_address.hpp"
#include "sys/unique_fd.hpp"
#include "worker/admission_ticket.hpp"
#include "worker/connection_table.hpp"

namespace echod {

// The connections of one worker that were accepted on a PROXY listener from a trusted peer and
// have not sent their complete header yet. Kept apart from ConnectionTable so that a plain
// connection pays nothing for the PROXY protocol: only these few hold a header buffer and a
// deadline. A connection leaves the table with a verdict (its header, or why it is refused),
// when its deadline passes, or when the worker stops.
//
// Reading: recv(MSG_PEEK), then only what belongs to the header is taken off the socket (all of
// the bytes while the header is incomplete, which keeps a level-triggered re-arm from spinning;
// exactly the rest of the header once it is complete). Whatever follows the header stays in the
// socket for the echo path, so it is echoed exactly once.
//
// Thread contract: owned by one worker; every method runs on that worker's thread.
class PendingHeaders {
 public:
  using Clock = std::chrono::steady_clock;

  // Tokens have both this bit and ConnectionTable::kTagBit set (listeners only the latter, UDP
  // sockets the latter and bit 62: UdpEndpoints::kTokenBit).
  static constexpr std::uint64_t kTokenBit = std::uint64_t{1} << 61;
  [[nodiscard]] static bool is_token(std::uint64_t token) noexcept {
    return (token & (ConnectionTable::kTagBit | kTokenBit)) ==
           (ConnectionTable::kTagBit | kTokenBit);
  }

  struct Entry {
    UniqueFd fd;
    SocketAddress peer;  // the balancer
    std::uint32_t listener_id = 0;
    ProxyMode mode = ProxyMode::kAny;
    Clock::time_point deadline;
    std::size_t taken = 0;  // header bytes already read off the socket (in buffer)
    std::unique_ptr<std::array<std::byte, kMaxProxyHeaderLength>> buffer;
    // Its unit of limits.max_connections while it waits (Admission::reserve()): a balancer
    // that opens connections and sends nothing cannot hold more descriptors than the limit.
    AdmissionTicket reserved;
  };

  // What one readiness event led to. kWaiting: re-arm `token` for EPOLLIN. Otherwise the entry
  // has left the table and is returned: kComplete with its header, kRejected with the reason
  // (and the errno behind a kClosed, or 0).
  struct Outcome {
    enum class Kind : std::uint8_t { kWaiting, kComplete, kRejected } kind = Kind::kWaiting;
    int fd = -1;  // kWaiting: the fd to re-arm (-1 for a stale token)
    std::optional<Entry> entry;
    ProxyHeader header;
    ProxyReject reason = ProxyReject::kClosed;
    int error = 0;
  };

  // Returns the token to register the fd with. `reserved` stays with the entry, given back when
  // the entry is dropped, or passed on with it.
  std::uint64_t add(UniqueFd fd, const SocketAddress& peer, std::uint32_t listener_id,
                    ProxyMode mode, Clock::time_point deadline, AdmissionTicket reserved = {});
  Outcome on_ready(std::uint64_t token);
  // The entry of `token`, taken out of the table (nothing when the token is stale).
  std::optional<Entry> take(std::uint64_t token);

  // fn(Entry&&) for each entry whose deadline is at or before `now`; they leave the table.
  template <typename Fn>
  void expire(Clock::time_point now, Fn&& fn) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      Entry entry = std::move(it->second);
      it = entries_.erase(it);
      fn(std::move(entry));
    }
  }
  // fn(Entry&&) for every entry; the table is empty afterwards.
  template <typename Fn>
  void take_all(Fn&& fn) {
    auto entries = std::move(entries_);
    entries_.clear();
    for (auto& [token, entry] : entries) fn(std::move(entry));
  }

  [[nodiscard]] std::optional<Clock::time_point> next_deadline() const noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

 private:
  std::unordered_map<std::uint64_t, Entry> entries_;
  std::uint64_t next_id_ = 1;
};

}  // namespace echod
