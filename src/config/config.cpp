#include "config/config.hpp"

#include <unistd.h>

#include <algorithm>

namespace echod {

unsigned WorkerCount::resolve() const {
  if (!automatic) return count;
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus < 1) return 1;
  if (cpus > static_cast<long>(kMaxWorkers)) return kMaxWorkers;
  return static_cast<unsigned>(cpus);
}

bool AccessConfig::permits(const SocketAddress& peer) const {
  auto matches = [&peer](const Cidr& network) { return network.contains(peer); };
  if (std::any_of(deny.begin(), deny.end(), matches)) return false;
  return allow.empty() || std::any_of(allow.begin(), allow.end(), matches);
}

std::vector<Cidr> LimitsConfig::default_exempt() {
  return {*Cidr::parse("127.0.0.0/8").cidr, *Cidr::parse("::1/128").cidr};
}

bool LimitsConfig::is_exempt(const SocketAddress& peer) const {
  return std::any_of(exempt.begin(), exempt.end(),
                     [&peer](const Cidr& network) { return network.contains(peer); });
}

std::vector<SocketAddress> Config::default_listen() {
  return {*SocketAddress::parse("127.0.0.1:7").address, *SocketAddress::parse("[::1]:7").address};
}

SocketAddress MetricsConfig::default_listen() {
  return *SocketAddress::parse("127.0.0.1:9707").address;
}

}  // namespace echod
