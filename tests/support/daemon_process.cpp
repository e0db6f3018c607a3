#include "support/daemon_process.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <system_error>
#include <thread>

#include <gtest/gtest.h>

#include "sys/system_error.hpp"

namespace echod::test {
namespace {

constexpr auto kLogPollInterval = 10ms;

int poll_ms(Clock::duration left) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::clamp<std::int64_t>(ms, 0, 1000));
}

std::size_t count_of(std::string_view text, std::string_view substring) {
  if (substring.empty()) return 0;
  std::size_t count = 0;
  for (auto pos = text.find(substring); pos != std::string_view::npos;
       pos = text.find(substring, pos + substring.size())) {
    ++count;
  }
  return count;
}

bool is_error_line(std::string_view line) {
  static constexpr std::string_view kMarkers[] = {"[error]",         "[critical]",
                                                  "ThreadSanitizer", "AddressSanitizer",
                                                  "LeakSanitizer",   "runtime error:"};
  return std::any_of(std::begin(kMarkers), std::end(kMarkers),
                     [line](std::string_view m) { return line.find(m) != std::string_view::npos; });
}

bool is_sanitizer_line(std::string_view line) {
  return line.find("Sanitizer") != std::string_view::npos ||
         line.find("runtime error:") != std::string_view::npos;
}

// Entries in a directory such as /proc/PID/fd; nothing when it cannot be read to the end.
std::optional<std::size_t> count_entries(const std::string& directory) {
  std::error_code error;
  std::filesystem::directory_iterator it(directory, error);
  if (error) return std::nullopt;
  std::size_t count = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (error) return std::nullopt;
    ++count;
  }
  return count;
}

}  // namespace

bool eventually(const std::function<bool()>& condition, Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

const char* echod_binary() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any test thread starts a process.
  const char* override = std::getenv("ECHOD_TEST_BINARY");
  return override != nullptr && *override != '\0' ? override : ECHOD_BINARY;
}

bool sanitized() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any test thread starts a process.
  const char* value = std::getenv("ECHOD_TEST_SANITIZER");
  return value != nullptr && *value != '\0';
}

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::vector<Endpoint> parse_status_endpoints(std::string_view status) {
  std::vector<Endpoint> result;
  auto begin = status.find("Serving ");
  if (begin == std::string_view::npos) return result;
  begin += std::string_view("Serving ").size();
  auto end = status.find(" with ", begin);
  std::string_view list = status.substr(begin, end == std::string_view::npos ? end : end - begin);
  while (!list.empty()) {
    auto comma = list.find(", ");
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 2);
    auto colon = item.rfind(':');
    if (colon == std::string_view::npos) continue;
    std::string_view host = item.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    unsigned port = 0;
    for (char c : item.substr(colon + 1)) {
      if (c < '0' || c > '9') break;
      port = port * 10 + static_cast<unsigned>(c - '0');
    }
    result.push_back(Endpoint{std::string(host), static_cast<std::uint16_t>(port)});
  }
  return result;
}

std::vector<Endpoint> udp_endpoints(std::string_view status) {
  const auto begin = status.find("; UDP ");
  if (begin == std::string_view::npos) return {};
  std::string list(status.substr(begin + 2));  // "UDP ..."
  list = list.substr(0, list.find(": "));
  return parse_status_endpoints("Serving " + list.substr(4) + " with");
}

std::optional<std::string> notification_field(std::string_view datagram, std::string_view key) {
  std::string prefix = std::string(key) + "=";
  std::size_t pos = 0;
  while (pos <= datagram.size()) {
    auto end = datagram.find('\n', pos);
    std::string_view line =
        datagram.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (line.starts_with(prefix)) return std::string(line.substr(prefix.size()));
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return std::nullopt;
}

std::string DaemonConfig::yaml() const {
  std::ostringstream out;
  out << "listen:\n";
  for (const std::string& address : listen) out << "  - \"" << address << "\"\n";
  out << "workers: " << workers << "\n";
  out << "log:\n  level: " << log_level << "\n  target: stderr\n";
  if (!io_buffer.empty() || !max_pending_output.empty() || !extra_limits.empty() || exempt) {
    out << "limits:\n";
    if (!io_buffer.empty()) out << "  io_buffer: " << io_buffer << "\n";
    if (!max_pending_output.empty()) out << "  max_pending_output: " << max_pending_output << "\n";
    if (exempt) {
      out << "  exempt: [";
      for (std::size_t i = 0; i < exempt->size(); ++i) {
        out << (i > 0 ? ", " : "") << "\"" << (*exempt)[i] << "\"";
      }
      out << "]\n";
    }
    for (const std::string& line : extra_limits) out << "  " << line << "\n";
  }
  if (!shutdown_timeout.empty()) out << "shutdown_timeout: " << shutdown_timeout << "\n";
  if (!metrics_listen.empty()) out << "metrics:\n  listen: \"" << metrics_listen << "\"\n";
  return out.str();
}

DaemonConfig& DaemonConfig::unlimited_clients() {
  extra_limits.emplace_back("max_connections_per_ip: 0");
  extra_limits.emplace_back("accept_rate_per_ip: 0");
  return *this;
}

DaemonProcess::DaemonProcess(std::string_view config_yaml)
    : config_path_(dir_.path() / "config.yaml"),
      log_path_(dir_.path() / "echod.log"),
      stdout_path_(dir_.path() / "stdout"),
      notify_path_(dir_.path() / "notify") {
  write_config(config_yaml);
  notify_socket_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!notify_socket_) throw std::system_error(errno, std::generic_category(), "socket(AF_UNIX)");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = notify_path_.string();
  if (path.size() >= sizeof(addr.sun_path)) throw std::runtime_error("socket path too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the socket API's sockaddr view.
  if (::bind(notify_socket_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    throw std::system_error(errno, std::generic_category(), "bind " + path);
  }
}

DaemonProcess::~DaemonProcess() {
  if (child_.started()) {
    bool was_running = child_.running();
    if (!was_running && !exit_observed_) {
      ADD_FAILURE() << "echod ended unexpectedly with status " << child_.exit_status().value_or(-1)
                    << "; log:\n"
                    << log_text();
    }
    child_.kill_and_reap();
  }
  std::string unexpected = unexpected_log_errors();
  if (!unexpected.empty()) {
    ADD_FAILURE() << "unexpected errors in echod's log:\n"
                  << unexpected << "full log:\n"
                  << log_text();
  }
}

void DaemonProcess::start(const std::vector<std::string>& args, const std::vector<std::string>& env,
                          bool with_notify_socket) {
  // Each daemon gets its own control socket, in its own directory.
  std::vector<std::string> argv{echod_binary(), "--config", config_path(), "--control-socket",
                                control_socket_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.begin(), launcher_.begin(), launcher_.end());
  std::vector<std::string> environment = clean_environment();
  if (with_notify_socket) environment.push_back("NOTIFY_SOCKET=" + notify_path_.string());
  for (const std::string& entry : env) {
    std::string name = entry.substr(0, entry.find('=') + 1);
    std::erase_if(environment, [&name](const std::string& e) { return e.starts_with(name); });
    environment.push_back(entry);
  }
  child_ = ChildProcess::spawn(argv, environment, stdout_path_.string(), log_path_.string());
}

bool DaemonProcess::start_ready(const std::vector<std::string>& args,
                                const std::vector<std::string>& env) {
  start(args, env);
  return wait_ready();
}

bool DaemonProcess::wait_ready(Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto datagram = next_notification(deadline - Clock::now());
    if (!datagram) break;
    if (notification_field(*datagram, "READY") == std::optional<std::string>("1")) {
      endpoints_ = parse_status_endpoints(notification_field(*datagram, "STATUS").value_or(""));
      if (endpoints_.empty()) {
        ADD_FAILURE() << "READY=1 without listen addresses in STATUS: " << *datagram;
        return false;
      }
      return true;
    }
  }
  bool alive = child_.running();
  ADD_FAILURE() << "echod did not send READY=1 "
                << (alive ? "in time"
                          : "and exited with status " +
                                std::to_string(child_.exit_status().value_or(-1)))
                << "; log:\n"
                << log_text();
  if (!alive) exit_observed_ = true;
  return false;
}

std::uint16_t DaemonProcess::port(std::size_t index) const {
  return index < endpoints_.size() ? endpoints_[index].port : 0;
}

std::optional<Endpoint> DaemonProcess::endpoint_for_host(std::string_view host) const {
  for (const Endpoint& endpoint : endpoints_) {
    if (endpoint.host == host) return endpoint;
  }
  return std::nullopt;
}

UniqueFd DaemonProcess::connect(std::size_t index, const ConnectOptions& options) const {
  if (index >= endpoints_.size()) {
    ADD_FAILURE() << "no listen address #" << index << " known";
    return {};
  }
  int error = 0;
  UniqueFd fd = connect_tcp(endpoints_[index].host, endpoints_[index].port, options,
                            std::chrono::seconds(5), &error);
  if (!fd) {
    ADD_FAILURE() << "connect to " << endpoints_[index].to_string() << ": " << errno_text(error);
  }
  return fd;
}

bool DaemonProcess::receive_into(std::string& datagram, Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    char buffer[4096];
    ssize_t n = ::recv(notify_socket_.get(), buffer, sizeof(buffer), 0);
    if (n >= 0) {
      datagram.assign(buffer, static_cast<std::size_t>(n));
      notifications_.push_back(datagram);
      return true;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return false;
    // The process's exit ends the wait too; a datagram it sent before exiting is still read
    // first (the socket is checked again before giving up).
    pollfd fds[2] = {{notify_socket_.get(), POLLIN, 0}, {child_.exit_fd(), POLLIN, 0}};
    nfds_t count = child_.exit_fd() >= 0 && child_.started() ? 2 : 1;
    int ready = ::poll(fds, count, poll_ms(left));
    if (ready > 0 && (fds[0].revents & POLLIN) == 0 && count == 2 && fds[1].revents != 0) {
      n = ::recv(notify_socket_.get(), buffer, sizeof(buffer), 0);
      if (n < 0) return false;
      datagram.assign(buffer, static_cast<std::size_t>(n));
      notifications_.push_back(datagram);
      return true;
    }
  }
}

std::optional<std::string> DaemonProcess::next_notification(Clock::duration timeout) {
  std::string datagram;
  if (!receive_into(datagram, timeout)) return std::nullopt;
  return datagram;
}

std::optional<std::string> DaemonProcess::wait_notification(std::string_view substring,
                                                            Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    // With no time left, what is already queued is still looked at.
    auto left = std::max(deadline - Clock::now(), Clock::duration::zero());
    auto datagram = next_notification(left);
    if (!datagram) return std::nullopt;
    if (datagram->find(substring) != std::string::npos) return datagram;
  }
}

std::optional<std::string> DaemonProcess::reload(std::string_view new_config_yaml,
                                                 Clock::duration timeout) {
  write_config(new_config_yaml);
  send_signal(SIGHUP);
  auto deadline = Clock::now() + timeout;
  if (!wait_notification("RELOADING=1", timeout)) {
    ADD_FAILURE() << "no RELOADING=1 after SIGHUP; log:\n" << log_text();
    return std::nullopt;
  }
  auto ready = wait_notification("READY=1", deadline - Clock::now());
  if (!ready) {
    ADD_FAILURE() << "no READY=1 after RELOADING=1; log:\n" << log_text();
    return std::nullopt;
  }
  auto endpoints = parse_status_endpoints(notification_field(*ready, "STATUS").value_or(""));
  if (!endpoints.empty()) endpoints_ = std::move(endpoints);
  return ready;
}

void DaemonProcess::send_signal(int signal) {
  ASSERT_TRUE(child_.started());
  ASSERT_EQ(::kill(child_.pid(), signal), 0) << errno_text(errno);
}

std::optional<int> DaemonProcess::wait_exit(Clock::duration timeout) {
  auto status = child_.wait(timeout);
  if (status) exit_observed_ = true;
  return status;
}

bool DaemonProcess::running() {
  bool alive = child_.running();
  if (!alive) exit_observed_ = true;
  return alive;
}

std::string DaemonProcess::log_text() const { return read_file(log_path_); }

std::string DaemonProcess::stdout_text() const { return read_file(stdout_path_); }

std::size_t DaemonProcess::log_count(std::string_view substring) const {
  return count_of(log_text(), substring);
}

bool DaemonProcess::wait_for_log(std::string_view substring, Clock::duration timeout) {
  return wait_for_log_count(substring, 1, timeout);
}

bool DaemonProcess::wait_for_log_count(std::string_view substring, std::size_t count,
                                       Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    std::string text = log_text();
    if (count_of(text, substring) >= count) return true;
    if (Clock::now() >= deadline) {
      ADD_FAILURE() << "echod's log did not show '" << substring << "' " << count
                    << " time(s) in time; log:\n"
                    << text;
      return false;
    }
    std::this_thread::sleep_for(kLogPollInterval);
  }
}

void DaemonProcess::write_config(std::string_view yaml) {
  config_path_ = dir_.write_file("config.yaml", yaml);
}

std::optional<std::size_t> DaemonProcess::rss_bytes() const {
  std::ifstream in("/proc/" + std::to_string(pid()) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) {
      std::istringstream fields(line.substr(6));
      std::size_t kib = 0;
      if (fields >> kib) return kib * 1024;
    }
  }
  return std::nullopt;
}

std::optional<std::size_t> DaemonProcess::fd_count() const {
  return count_entries("/proc/" + std::to_string(pid()) + "/fd");
}

std::optional<std::size_t> DaemonProcess::thread_count() const {
  return count_entries("/proc/" + std::to_string(pid()) + "/task");
}

std::optional<std::chrono::nanoseconds> DaemonProcess::cpu_time() const {
  std::string stat = read_file("/proc/" + std::to_string(pid()) + "/stat");
  // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  // Fields 3-13 (state ... cmajflt), then utime (14) and stime (15).
  for (int i = 3; i <= 13; ++i) fields >> field;
  std::uint64_t user = 0;
  std::uint64_t system = 0;
  if (!(fields >> user >> system)) return std::nullopt;
  long ticks_per_second = ::sysconf(_SC_CLK_TCK);
  if (ticks_per_second <= 0) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(
      (user + system) * (1'000'000'000U / static_cast<std::uint64_t>(ticks_per_second))));
}

std::string DaemonProcess::environ_text() const {
  return read_file("/proc/" + std::to_string(pid()) + "/environ");
}

std::string DaemonProcess::unexpected_log_errors() const {
  std::istringstream lines(log_text());
  std::string line;
  std::string unexpected;
  while (std::getline(lines, line)) {
    if (!is_error_line(line)) continue;
    // Sanitizer reports are never acceptable.
    if (!is_sanitizer_line(line)) {
      if (any_log_error_allowed_) continue;
      if (std::any_of(
              allowed_errors_.begin(), allowed_errors_.end(),
              [&line](const std::string& s) { return line.find(s) != std::string::npos; })) {
        continue;
      }
    }
    unexpected += line + "\n";
  }
  return unexpected;
}

}  // namespace echod::test
