#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace echod {

// Reads a whole configuration file into `text`, refusing anything but a regular file and anything
// over kMaxConfigFileBytes (before reading it). Returns the error message on failure.
std::optional<std::string> read_config_text(const std::string& path, std::string& text);

// "file is N bytes; the limit is 1 MiB".
std::string too_large_message(std::size_t size);

}  // namespace echod
