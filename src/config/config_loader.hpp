#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/units.hpp"

namespace echod {

struct CommandLine;

// One problem found in a configuration file. to_string() gives the operator-facing form
// "FILE:LINE:COLUMN: KEY.PATH: message" (line and column are 1-based); the position is left out
// for problems with the file as a whole, and the key path where no key applies (syntax errors).
struct ConfigError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key_path;  // e.g. "listen[1]", "limits.io_buffer"; empty for file-level errors
  std::string message;

  // One line: control characters from the file are escaped as \xNN.
  [[nodiscard]] std::string to_string() const;
};

struct ConfigLoadResult {
  std::optional<Config> config;     // set only when errors is empty
  std::vector<ConfigError> errors;  // every problem found, in file order
  // Valid but probably unintended settings (a PROXY listener trusting every address), in file
  // order; their messages start with "warning: ".
  std::vector<ConfigError> warnings;
};

// Files larger than this are refused without being parsed.
inline constexpr std::size_t kMaxConfigFileBytes = 1024 * 1024;

// Valid ranges of the settings; docs/configuration.md gives the reasons.
inline constexpr std::size_t kMinIoBuffer = 1024;
inline constexpr std::size_t kMaxIoBuffer = 1024 * 1024;
inline constexpr std::size_t kMinMaxPendingOutput = 1024;
inline constexpr std::size_t kMaxMaxPendingOutput = 64 * 1024 * 1024;
// Linux's default fs.nr_open: no process can have more file descriptors than this.
inline constexpr std::uint32_t kMaxConnectionsLimit = 1024 * 1024;
inline constexpr std::uint32_t kMaxAcceptRatePerIp = 1000 * 1000;
// The largest UDP payload: 65535 bytes minus the 8-byte UDP header (IPv6 without jumbograms;
// IPv4 carries 20 bytes less).
inline constexpr std::size_t kMaxUdpDatagram = 65527;
inline constexpr std::uint32_t kMaxUdpRate = 10 * 1000 * 1000;
inline constexpr std::size_t kMaxUdpBytesPerSource = std::size_t{1024} * 1024 * 1024;
inline constexpr std::chrono::milliseconds kMaxShutdownTimeout = std::chrono::hours(1);
inline constexpr std::chrono::milliseconds kMaxConnectionTimeout = std::chrono::hours(24);
inline constexpr std::chrono::milliseconds kMinHeaderTimeout = std::chrono::seconds(1);
inline constexpr std::chrono::milliseconds kMaxHeaderTimeout = std::chrono::seconds(60);

// At most this many errors are listed; one more line counts the rest.
inline constexpr std::size_t kMaxConfigErrors = 100;

// Sequences and mappings nested deeper than this are refused before yaml-cpp recurses into them
// (echod's own settings need a depth of 2).
inline constexpr int kMaxConfigNestingDepth = 64;

// Reads and validates a configuration file. Never throws for bad input: every problem found
// (unreadable file, YAML syntax, unknown key, bad value) is returned. Only regular files are
// read (not FIFOs or devices).
ConfigLoadResult load_config_file(const std::string& path);

// The configuration the daemon should run with: the file named on the command line (or the
// default file, or built-in defaults when the default file does not exist), with the command
// line's overrides applied on top. `used_defaults` tells whether the file was missing.
ConfigLoadResult load_effective_config(const CommandLine& command_line, bool& used_defaults);

// Reads configuration text already in memory; `source_name` is used as FILE in errors.
ConfigLoadResult parse_config(std::string_view text, const std::string& source_name);

// The effective configuration as YAML that load_config_file() accepts and that parses back to an
// equal Config (--check-config prints it).
std::string format_config(const Config& config);

}  // namespace echod
