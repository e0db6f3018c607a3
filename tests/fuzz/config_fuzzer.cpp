// libFuzzer target over configuration loading and validation (parse_config, which
// load_config_file() calls after reading the file). For every input: either a Config or a list
// of errors, never both and never neither; every error is one printable line; a Config that was
// accepted prints (format_config) to text that loads back to the same Config. Crashes, hangs
// (-timeout) and sanitizer reports are found by libFuzzer itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config_loader.hpp"

namespace {

void check(bool condition) {
  if (!condition) std::abort();  // libFuzzer reports the input that got here
}

bool printable_line(std::string_view line) {
  for (const char c : line) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return false;
  }
  return !line.empty();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): libFuzzer's interface is bytes
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const echod::ConfigLoadResult result = echod::parse_config(text, "fuzz.yaml");
  check(result.config.has_value() == result.errors.empty());
  check(result.errors.size() <= echod::kMaxConfigErrors + 1);
  for (const echod::ConfigError& error : result.errors) check(printable_line(error.to_string()));
  if (result.config) {
    const std::string formatted = echod::format_config(*result.config);
    const echod::ConfigLoadResult again = echod::parse_config(formatted, "formatted.yaml");
    check(again.config.has_value() && *again.config == *result.config);
  }
  return 0;
}
