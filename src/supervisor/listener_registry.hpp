#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "net/listen_socket.hpp"
#include "net/udp_socket.hpp"
#include "udp/listener_stats.hpp"

namespace echod {

// The listeners the daemon serves, keyed on their whole ListenerConfig (address, protocol and
// options), so that a reload finds a listener by what the configuration says about it and a TCP
// and a UDP listener on one address can never be taken for each other. Each listener is one
// group of sockets, one per serving worker; the workers know a group by its id.
//
// A TCP listener is an SO_REUSEPORT group of listening sockets; a UDP listener is an
// SO_REUSEPORT group of datagram sockets (open_udp(), udp_socket_for_new_worker()), handed to
// the workers the same way, with the counters the workers add to (`udp_stats`).
//
// Supervisor thread only.
class ListenerRegistry {
 public:
  struct Group {
    std::uint32_t id = 0;
    ListenerConfig configured;  // as in the configuration (port may be 0); the group's key
    SocketAddress bound;        // with the port the kernel gave
    // Socket activation: a handle on the socket systemd passed, for workers started later.
    std::optional<ListenSocket> inherited;
    std::shared_ptr<udp::ListenerStats> udp_stats;  // UDP listeners only
  };

  // Opens one socket per worker for `listener`, or throws StartupError naming the address,
  // the error and what to do about it.
  static std::vector<ListenSocket> open(const ListenerConfig& listener, unsigned workers);
  // The same for a UDP listener.
  static std::vector<UdpSocket> open_udp(const ListenerConfig& listener, unsigned workers);

  // Registers a listener whose sockets are open (bound to `bound`), and logs it.
  const Group& add(const ListenerConfig& configured, const SocketAddress& bound,
                   std::size_t sockets, std::optional<ListenSocket> inherited = std::nullopt);
  // Forgets a listener, and logs it; its group's id, for the workers, or nothing if unknown.
  std::optional<std::uint32_t> remove(const ListenerConfig& configured);
  // A listener whose options changed keeps its sockets: its group's id, or nothing if unknown.
  std::optional<std::uint32_t> update(const ListenerConfig& before, const ListenerConfig& after);

  // A socket of `group` for a worker started later: another handle on an inherited socket, or a
  // new socket that joins the group. Throws std::system_error.
  static ListenSocket socket_for_new_worker(const Group& group);
  static UdpSocket udp_socket_for_new_worker(const Group& group);

  [[nodiscard]] const std::vector<Group>& groups() const { return groups_; }
  [[nodiscard]] std::size_t size() const { return groups_.size(); }
  // Whether any listener's sockets are echod's own (not passed by systemd).
  [[nodiscard]] bool has_own_sockets() const;
  // The TCP listeners: "127.0.0.1:7, [::1]:7", or "no address".
  [[nodiscard]] std::string bound_addresses() const;
  // The UDP listeners: "127.0.0.1:7, [::1]:7", or "" when there is none.
  [[nodiscard]] std::string udp_addresses() const;
  // The ports of the UDP listeners (those a datagram's source port must not be).
  [[nodiscard]] std::vector<std::uint16_t> udp_ports() const;

 private:
  std::vector<Group> groups_;
  std::uint32_t next_id_ = 1;
};

}  // namespace echod
