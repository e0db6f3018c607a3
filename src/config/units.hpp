#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace echod {

// Values as operators write them, shared by the configuration file and the command line. Each
// parser takes the whole text. On failure it returns nothing and sets `error` to one line that
// quotes the text where that helps, ready to follow "KEY: " (e.g. "'16K': unknown unit 'K'; did
// you mean '16KiB'?").

// A whole number and a unit: "500ms", "30s", "5m", "1h". A bare number is refused (is "30"
// seconds or milliseconds?), as are fractions, negative values and overflow.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, std::string& error);

// A whole number of bytes ("512", "512B") or of a binary unit ("16KiB", "1MiB", "1GiB"). Decimal
// or ambiguous units ("16K", "16KB", "16kb") are refused with a hint to the binary one.
std::optional<std::size_t> parse_size(std::string_view text, std::string& error);

// A whole number without a unit, min..max: "10000".
std::optional<std::uint64_t> parse_count(std::string_view text, std::uint64_t min,
                                         std::uint64_t max, std::string& error);

// "auto" or a number 1..WorkerCount::kMaxWorkers.
std::optional<WorkerCount> parse_worker_count(std::string_view text, std::string& error);

// trace, debug, info, warn, error, critical, off (exact spelling).
std::optional<LogLevel> parse_log_level(std::string_view text);
std::optional<LogLevel> parse_log_level(std::string_view text, std::string& error);
// auto, journal, stderr.
std::optional<LogTarget> parse_log_target(std::string_view text, std::string& error);

std::string_view to_string(LogLevel level);
std::string_view to_string(LogTarget target);

// The largest unit that states the value exactly, in a form the parsers accept:
// 10000ms -> "10s", 1500ms -> "1500ms", 0 -> "0s"; 16384 -> "16KiB", 1000 -> "1000".
std::string format_duration(std::chrono::milliseconds duration);
std::string format_size(std::size_t bytes);
std::string format_worker_count(const WorkerCount& workers);  // "auto" or "4"

}  // namespace echod
