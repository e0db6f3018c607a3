#pragma once

#include <memory>

#include "metrics/metrics_collector.hpp"
#include "sys/socket_address.hpp"

namespace prometheus {
class Exposer;
}

namespace echod {

// The HTTP endpoint that serves `GET /metrics` in the Prometheus text format: prometheus-cpp's
// Exposer (civetweb inside), on two threads of its own. A scrape runs collector.Collect() on one
// of those threads; the workers never see it.
//
// Thread contract: created and destroyed by the supervisor. Destruction stops the HTTP threads
// and waits for a scrape in progress.
class MetricsServer {
 public:
  // Binds `address` (IPv4; port 0 picks a free port). Throws std::system_error naming the
  // address, e.g. "bind 127.0.0.1:9707: Address already in use".
  MetricsServer(const SocketAddress& address, const std::shared_ptr<MetricsCollector>& collector);
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  ~MetricsServer();

  // The bound address, with the kernel's port when port 0 was asked for.
  [[nodiscard]] const SocketAddress& address() const noexcept { return address_; }

 private:
  SocketAddress address_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace echod
