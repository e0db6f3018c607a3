#pragma once

#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "client/options.hpp"

namespace echod::client {

// A command line that cannot be run; main() prints it and exits with status 64 (EX_USAGE).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses the arguments after the program name. `stdout_is_terminal` decides whether bench mode
// prints live progress lines by default. Throws UsageError.
Command parse_command_line(std::span<const char* const> args, bool stdout_is_terminal);

// The server address from the command line. `address` is written as echod writes addresses
// (HOST:PORT, [IPV6]:PORT) or is a host alone: an IPv4 address, localhost, [IPV6], or a bare IPv6
// address when the port is given apart. `port` is the port given apart (a second argument or
// --port), if any; a port in `address` and one apart are an error. No port at all means 7.
SocketAddress make_server_address(std::string_view address, std::optional<std::string_view> port);

// "127.0.0.1-127.0.0.254", "127.0.0.2", "::1", or a comma-separated list of those.
std::vector<SocketAddress> parse_source_range(std::string_view text);

// "512", "64K", "64KiB", "1M", "1MiB" (binary multiples).
std::uint64_t parse_size(std::string_view text);

}  // namespace echod::client
