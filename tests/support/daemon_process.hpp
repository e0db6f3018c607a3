#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/child_process.hpp"
#include "support/net_client.hpp"
#include "support/temp_dir.hpp"
#include "sys/unique_fd.hpp"

namespace echod::test {

using namespace std::chrono_literals;

// Every wait in the integration tests is bounded by one of these. They are generous: a test
// waits for an event (READY=1, a log line, an exit) and these only end the wait for one that
// never comes; none of them is a verdict on how fast a machine runs echod.
inline constexpr Clock::duration kReadyTimeout = 10s;
inline constexpr Clock::duration kLogTimeout = 10s;
inline constexpr Clock::duration kExitTimeout = 15s;
inline constexpr Clock::duration kNotifyTimeout = 10s;

// Polls `condition` until it holds or `timeout` passes: for /proc figures (fd or thread
// counts, CPU time), which have no event to wait on.
bool eventually(const std::function<bool()>& condition, Clock::duration timeout = 10s);

// The path of the echod binary under test: $ECHOD_TEST_BINARY when set (e.g. an installed
// /usr/sbin/echod), else the one just built.
const char* echod_binary();

// True when echod and the tests run under a sanitizer (the sanitizer test presets set
// ECHOD_TEST_SANITIZER): several times slower, so the longest tests do fewer rounds there.
bool sanitized();

// One listen address as the daemon reports it in STATUS=, e.g. {"127.0.0.1", 40123}.
struct Endpoint {
  std::string host;  // without brackets
  std::uint16_t port = 0;

  [[nodiscard]] std::string to_string() const;  // "127.0.0.1:40123", "[::1]:40123"
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// The addresses in a status text "... Serving 127.0.0.1:1, [::1]:2 with N workers; ...".
std::vector<Endpoint> parse_status_endpoints(std::string_view status);
// The UDP addresses in a STATUS= text: "...; UDP 127.0.0.1:1, [::1]:2: N datagrams ...".
std::vector<Endpoint> udp_endpoints(std::string_view status);
// The value of KEY= in a notification datagram ("READY=1\nSTATUS=..."), if present.
std::optional<std::string> notification_field(std::string_view datagram, std::string_view key);

// A small YAML configuration for tests. Logging always goes to stderr (the test's log file).
struct DaemonConfig {
  std::vector<std::string> listen{"127.0.0.1:0"};
  unsigned workers = 2;
  std::string log_level = "info";
  std::string io_buffer;           // e.g. "16KiB"; omitted when empty
  std::string max_pending_output;  // omitted when empty
  std::string shutdown_timeout;    // e.g. "1s"; omitted when empty
  // More "key: value" lines under limits:, e.g. "idle_timeout: 1s".
  std::vector<std::string> extra_limits;
  // limits.exempt, e.g. {"127.0.0.2/32"}. Test clients come from 127.0.0.x, which echod's
  // default list (loopback) exempts from the per-address limits; the empty list written by
  // default keeps those limits in force for them. nullopt leaves the key out: echod's default.
  std::optional<std::vector<std::string>> exempt = std::vector<std::string>{};
  // metrics.listen, e.g. "127.0.0.1:0"; no metrics section when empty.
  std::string metrics_listen;

  // Lifts the per-address connection and accept-rate limits: every test client comes from
  // 127.0.0.1, and some tests open hundreds of connections at once.
  DaemonConfig& unlimited_clients();

  [[nodiscard]] std::string yaml() const;
};

// One echod process run by a test: its configuration file, a fake systemd NOTIFY_SOCKET (an
// AF_UNIX datagram socket bound by the test), and its stderr captured to a file.
//
// When the object goes away the daemon is killed if still running, and the test fails if the
// log holds an [error] or [critical] line (or a sanitizer report) the test did not declare
// with expect_log_errors() / allow_log_error(), or if echod died of a signal nobody sent.
class DaemonProcess {
 public:
  explicit DaemonProcess(const DaemonConfig& config) : DaemonProcess(config.yaml()) {}
  explicit DaemonProcess(std::string_view config_yaml);
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;
  ~DaemonProcess();

  // Runs `echod --config FILE args...`. `env` adds or replaces "NAME=value" entries;
  // NOTIFY_SOCKET is set unless `with_notify_socket` is false.
  void start(const std::vector<std::string>& args = {}, const std::vector<std::string>& env = {},
             bool with_notify_socket = true);
  // start() + wait_ready(); false (with the test already failed) when not ready in time.
  [[nodiscard]] bool start_ready(const std::vector<std::string>& args = {},
                                 const std::vector<std::string>& env = {});
  // Runs echod through a launcher for the next start(), e.g. {"/usr/bin/prlimit",
  // "--nofile=256:256", "--"}. The launcher must exec echod in its own process, so that pid()
  // is echod's. Its first element is a path (see find_program()).
  void set_launcher(std::vector<std::string> launcher) { launcher_ = std::move(launcher); }

  // Waits for READY=1 and reads the listen addresses from its STATUS=. Fails the test (with
  // the captured log) and returns false when echod exits first or the timeout passes.
  [[nodiscard]] bool wait_ready(Clock::duration timeout = kReadyTimeout);
  // The addresses of the last READY=1 seen.
  [[nodiscard]] const std::vector<Endpoint>& endpoints() const noexcept { return endpoints_; }
  [[nodiscard]] std::uint16_t port(std::size_t index = 0) const;
  [[nodiscard]] std::optional<Endpoint> endpoint_for_host(std::string_view host) const;
  // A client connection to endpoints()[index]; on failure the test fails and the fd is invalid.
  [[nodiscard]] UniqueFd connect(std::size_t index = 0, const ConnectOptions& options = {}) const;

  // The next notification datagram; nullopt on timeout or when echod has exited and sent no
  // more.
  std::optional<std::string> next_notification(Clock::duration timeout = kNotifyTimeout);
  // Skips datagrams until one that contains `substring` (returned).
  std::optional<std::string> wait_notification(std::string_view substring,
                                               Clock::duration timeout = kNotifyTimeout);
  // Every datagram received so far, oldest first.
  [[nodiscard]] const std::vector<std::string>& notifications() const noexcept {
    return notifications_;
  }

  // SIGHUP after rewriting the configuration; waits for RELOADING=1 and then READY=1 and
  // returns that READY=1 datagram (and updates endpoints()). nullopt on timeout.
  std::optional<std::string> reload(std::string_view new_config_yaml,
                                    Clock::duration timeout = kNotifyTimeout);

  void send_signal(int signal);
  // Exit code (128 + N when killed by signal N), or nullopt while still running.
  std::optional<int> wait_exit(Clock::duration timeout = kExitTimeout);
  bool running();
  [[nodiscard]] pid_t pid() const noexcept { return child_.pid(); }

  [[nodiscard]] std::string log_text() const;
  [[nodiscard]] std::string stdout_text() const;
  [[nodiscard]] std::size_t log_count(std::string_view substring) const;
  // Polls the log until it contains `substring` (at least `count` times). On timeout returns
  // false and fails the test with the log.
  bool wait_for_log(std::string_view substring, Clock::duration timeout = kLogTimeout);
  bool wait_for_log_count(std::string_view substring, std::size_t count,
                          Clock::duration timeout = kLogTimeout);

  void write_config(std::string_view yaml);
  [[nodiscard]] std::string config_path() const { return config_path_.string(); }
  // The --control-socket every start() passes (for `echod --status` / `--reload`).
  [[nodiscard]] std::string control_socket_path() const {
    return (dir_.path() / "control.sock").string();
  }
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_.path(); }

  // From /proc/PID: resident set size (VmRSS) and the number of open descriptors.
  [[nodiscard]] std::optional<std::size_t> rss_bytes() const;
  [[nodiscard]] std::optional<std::size_t> fd_count() const;
  [[nodiscard]] std::optional<std::size_t> thread_count() const;  // /proc/PID/task entries
  // User plus system CPU time used so far (/proc/PID/stat), in clock ticks' resolution.
  [[nodiscard]] std::optional<std::chrono::nanoseconds> cpu_time() const;
  [[nodiscard]] std::string environ_text() const;  // /proc/PID/environ, NULs kept

  // The test provokes [error]/[critical] lines: accept any of them.
  void expect_log_errors() noexcept { any_log_error_allowed_ = true; }
  // Accept [error]/[critical] lines that contain `substring`.
  void allow_log_error(std::string substring) { allowed_errors_.push_back(std::move(substring)); }

  // The [error]/[critical] lines and sanitizer reports not allowed, one per line.
  [[nodiscard]] std::string unexpected_log_errors() const;

 private:
  bool receive_into(std::string& datagram, Clock::duration timeout);

  TempDir dir_;
  std::filesystem::path config_path_;
  std::filesystem::path log_path_;
  std::filesystem::path stdout_path_;
  std::filesystem::path notify_path_;
  UniqueFd notify_socket_;
  std::vector<std::string> launcher_;
  ChildProcess child_;
  bool exit_observed_ = false;
  std::vector<std::string> notifications_;
  std::vector<Endpoint> endpoints_;
  bool any_log_error_allowed_ = false;
  std::vector<std::string> allowed_errors_;
};

}  // namespace echod::test
