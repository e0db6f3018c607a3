#include "config/config_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "cli/command_line.hpp"
#include "config/config_loader.hpp"
#include "config/text_util.hpp"
#include "sys/system_error.hpp"
#include "sys/unique_fd.hpp"

namespace echod {

std::string too_large_message(std::size_t size) {
  return "file is " + std::to_string(size) + " bytes; the limit is " +
         std::to_string(kMaxConfigFileBytes / (1024 * 1024)) + " MiB";
}

std::optional<std::string> read_config_text(const std::string& path, std::string& text) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below anyway).
  UniqueFd fd(retry_on_eintr(
      [&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK); }));
  if (!fd) return "cannot open: " + std::generic_category().message(errno);
  struct stat status {};
  if (::fstat(fd.get(), &status) != 0) {
    return "cannot stat: " + std::generic_category().message(errno);
  }
  if (S_ISDIR(status.st_mode)) return "is a directory, not a configuration file";
  if (!S_ISREG(status.st_mode)) return "not a regular file";
  const auto size = static_cast<std::size_t>(status.st_size);
  if (size > kMaxConfigFileBytes) return too_large_message(size);
  // One byte more than the limit, to notice a file that grew after fstat().
  text.resize(kMaxConfigFileBytes + 1);
  std::size_t used = 0;
  while (used < text.size()) {
    const ssize_t n =
        retry_on_eintr([&] { return ::read(fd.get(), text.data() + used, text.size() - used); });
    if (n < 0) return "cannot read: " + std::generic_category().message(errno);
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used > kMaxConfigFileBytes) return too_large_message(used) + " (it grew while being read)";
  text.resize(used);
  return std::nullopt;
}

std::string ConfigError::to_string() const {
  std::string result = file;
  if (line > 0) {
    result += ":" + std::to_string(line);
    if (column > 0) result += ":" + std::to_string(column);
  }
  result += ": ";
  if (!key_path.empty()) result += key_path + ": ";
  result += message;
  return printable(result);
}

ConfigLoadResult load_config_file(const std::string& path) {
  std::string text;
  if (auto message = read_config_text(path, text)) {
    return {std::nullopt, {ConfigError{path, 0, 0, {}, std::move(*message)}}, {}};
  }
  return parse_config(text, path);
}

ConfigLoadResult load_effective_config(const CommandLine& command_line, bool& used_defaults) {
  used_defaults = false;
  ConfigLoadResult result;
  std::error_code ignored;
  if (!command_line.config_path_given &&
      !std::filesystem::exists(command_line.config_path, ignored)) {
    used_defaults = true;
    result.config = Config{};
  } else {
    result = load_config_file(command_line.config_path);
  }
  if (result.config) apply_overrides(command_line, *result.config);
  return result;
}

}  // namespace echod
