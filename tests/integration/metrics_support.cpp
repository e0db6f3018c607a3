#include "integration/metrics_support.hpp"

#include "support/net_client.hpp"

namespace echod::test {

std::optional<std::uint16_t> metrics_port(const DaemonProcess& daemon) {
  std::string log = daemon.log_text();
  std::size_t at = log.rfind(kServingPrefix);
  if (at == std::string::npos) return std::nullopt;
  return static_cast<std::uint16_t>(std::stoul(log.substr(at + kServingPrefix.size())));
}

std::optional<std::uint16_t> start_serving_metrics(DaemonProcess& daemon,
                                                   const std::vector<std::string>& env) {
  if (!daemon.start_ready({}, env) || !daemon.wait_for_log(kServingPrefix)) return std::nullopt;
  return metrics_port(daemon);
}

Scrape scrape(std::uint16_t port) {
  Scrape result;
  UniqueFd fd = connect_tcp("127.0.0.1", port);
  if (!fd) return result;
  if (!send_all(fd.get(), "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", 5s)) return result;
  ReadResult response = read_until_eof(fd.get(), 10s);
  std::size_t header_end = response.data.find("\r\n\r\n");
  if (!response.eof || !response.data.starts_with("HTTP/1.1 200") ||
      header_end == std::string::npos) {
    return result;
  }
  result.body = response.data.substr(header_end + 4);
  std::size_t start = 0;
  while (start < result.body.size()) {
    std::size_t end = result.body.find('\n', start);
    if (end == std::string::npos) end = result.body.size();
    std::string line = result.body.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line.front() == '#') continue;
    std::size_t space = line.rfind(' ');
    if (space == std::string::npos) return result;
    result.samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  result.ok = true;
  return result;
}

}  // namespace echod::test
