#include "supervisor/listener_registry.hpp"

#include <algorithm>
#include <cerrno>
#include <system_error>

#include <spdlog/spdlog.h>

#include "supervisor/startup_error.hpp"

namespace echod {
namespace {

std::string listen_hint(int error) {
  switch (error) {
    case EADDRINUSE:
      return "another process is using this address; stop it, or choose another address in "
             "'listen:' or with --listen";
    case EACCES:
    case EPERM:
      return "ports below 1024 need root or CAP_NET_BIND_SERVICE (the systemd unit grants it); "
             "or choose a port of 1024 or above";
    case EADDRNOTAVAIL:
      return "no network interface of this host has that address";
    case EAFNOSUPPORT:
      return "this host has no support for that address family (is IPv6 disabled?)";
    default:
      return "check the address in 'listen:'";
  }
}

}  // namespace

std::vector<ListenSocket> ListenerRegistry::open(const ListenerConfig& listener, unsigned workers) {
  try {
    return open_listen_group(listener.address, workers);
  } catch (const std::system_error& e) {
    throw StartupError("cannot listen on " + listener.to_string() + ": " + e.what() + "; " +
                       listen_hint(e.code().value()));
  }
}

std::vector<UdpSocket> ListenerRegistry::open_udp(const ListenerConfig& listener,
                                                  unsigned workers) {
  try {
    return open_udp_group(listener.address, workers);
  } catch (const std::system_error& e) {
    std::string hint = listen_hint(e.code().value());
    if (e.code().value() == EADDRINUSE) {
      hint =
          "another process is using this UDP port; stop it, or choose another address in "
          "'udp.listen'";
    }
    throw StartupError("cannot listen on " + listener.to_string() + ": " + e.what() + "; " + hint);
  }
}

const ListenerRegistry::Group& ListenerRegistry::add(const ListenerConfig& configured,
                                                     const SocketAddress& bound,
                                                     std::size_t sockets,
                                                     std::optional<ListenSocket> inherited) {
  const bool udp = configured.protocol == ListenProtocol::kUdp;
  groups_.push_back(Group{next_id_++, configured, bound, std::move(inherited),
                          udp ? std::make_shared<udp::ListenerStats>() : nullptr});
  const std::string name = udp ? "UDP " + bound.to_string() : bound.to_string();
  if (bound.is_wildcard()) {
    spdlog::warn(
        "listening on {}, a wildcard address: anyone who can reach this host can use echod; "
        "list specific addresses in '{}' unless that is intended",
        name, udp ? "udp.listen" : "listen:");
  } else {
    spdlog::info("listening on {} ({} socket(s))", name, sockets);
  }
  return groups_.back();
}

std::optional<std::uint32_t> ListenerRegistry::remove(const ListenerConfig& configured) {
  auto it = std::find_if(groups_.begin(), groups_.end(),
                         [&](const Group& group) { return group.configured == configured; });
  if (it == groups_.end()) return std::nullopt;
  const std::uint32_t id = it->id;
  spdlog::info("closing listener {}{} once its queue is empty",
               it->configured.protocol == ListenProtocol::kUdp ? "UDP " : "",
               it->bound.to_string());
  groups_.erase(it);
  return id;
}

std::optional<std::uint32_t> ListenerRegistry::update(const ListenerConfig& before,
                                                      const ListenerConfig& after) {
  auto it = std::find_if(groups_.begin(), groups_.end(),
                         [&](const Group& group) { return group.configured == before; });
  if (it == groups_.end()) return std::nullopt;
  it->configured = after;
  spdlog::info("listener {}: new options apply to new connections", it->bound.to_string());
  return it->id;
}

ListenSocket ListenerRegistry::socket_for_new_worker(const Group& group) {
  return group.inherited ? group.inherited->duplicate() : ListenSocket::open(group.bound);
}

UdpSocket ListenerRegistry::udp_socket_for_new_worker(const Group& group) {
  return UdpSocket::open(group.bound);
}

bool ListenerRegistry::has_own_sockets() const {
  return std::any_of(groups_.begin(), groups_.end(),
                     [](const Group& group) { return !group.inherited; });
}

std::string ListenerRegistry::bound_addresses() const {
  std::string addresses;
  for (const Group& group : groups_) {
    if (group.configured.protocol != ListenProtocol::kTcp) continue;
    addresses += (addresses.empty() ? "" : ", ") + group.bound.to_string();
  }
  return addresses.empty() ? "no address" : addresses;
}

std::string ListenerRegistry::udp_addresses() const {
  std::string addresses;
  for (const Group& group : groups_) {
    if (group.configured.protocol != ListenProtocol::kUdp) continue;
    addresses += (addresses.empty() ? "" : ", ") + group.bound.to_string();
  }
  return addresses;
}

std::vector<std::uint16_t> ListenerRegistry::udp_ports() const {
  std::vector<std::uint16_t> ports;
  for (const Group& group : groups_) {
    if (group.configured.protocol == ListenProtocol::kUdp) ports.push_back(group.bound.port());
  }
  return ports;
}

}  // namespace echod
