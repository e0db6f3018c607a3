#include "metrics/metrics_server.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "sys/system_error.hpp"
#include "sys/unique_fd.hpp"

#include <prometheus/exposer.h>

namespace echod {
namespace {

// civetweb reports a failed bind only as "null context"; a plain bind first gives the reason.
// The socket closes again before civetweb binds (both use SO_REUSEADDR, so no TIME_WAIT issue).
void check_bindable(const SocketAddress& address) {
  UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket " + address.to_string());
  int on = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0) {
    throw_errno("setsockopt(SO_REUSEADDR) " + address.to_string());
  }
  if (::bind(fd.get(), address.data(), address.length()) != 0) {
    throw_errno("bind " + address.to_string());
  }
}

}  // namespace

MetricsServer::MetricsServer(const SocketAddress& address,
                             const std::shared_ptr<MetricsCollector>& collector)
    : address_(address) {
  check_bindable(address);
  std::vector<std::string> options{
      "listening_ports", address.to_string(),
      // Two threads: one slow client cannot hold up every scrape.
      "num_threads", "2",
      // A client that sends no complete request in this time is disconnected.
      "request_timeout_ms", "10000"};
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(std::move(options));
  } catch (const std::exception& e) {
    throw std::system_error(EADDRNOTAVAIL, std::generic_category(),
                            "HTTP server on " + address.to_string() + " (" + e.what() + ")");
  }
  std::vector<int> ports = exposer_->GetListeningPorts();
  if (!ports.empty()) address_.set_port(static_cast<std::uint16_t>(ports.front()));
  exposer_->RegisterCollectable(collector, "/metrics");
}

MetricsServer::~MetricsServer() = default;

}  // namespace echod
