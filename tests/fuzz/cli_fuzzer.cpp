// libFuzzer target over the command-line parser. The input is split at NUL bytes into
// arguments after argv[0]. For every input: a CommandLine or a one-line error, never both;
// overrides of a parsed command line apply to a default Config without throwing.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command_line.hpp"
#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): libFuzzer's interface is bytes
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  constexpr std::size_t kMaxArguments = 64;
  std::vector<std::string> arguments{"echod"};
  for (std::size_t start = 0; start <= input.size() && arguments.size() <= kMaxArguments;) {
    const std::size_t end = std::min(input.find('\0', start), input.size());
    arguments.emplace_back(input.substr(start, end - start));
    start = end + 1;
  }
  std::vector<const char*> argv;
  argv.reserve(arguments.size() + 1);
  for (const std::string& argument : arguments) argv.push_back(argument.c_str());
  argv.push_back(nullptr);

  const echod::CommandLineResult result =
      echod::parse_command_line(static_cast<int>(arguments.size()), argv.data(), "/etc/echod.yaml");
  if (result.command_line.has_value() == !result.error.empty()) std::abort();
  if (result.error.find('\n') != std::string::npos) std::abort();
  if (result.command_line) {
    echod::Config config;
    echod::apply_overrides(*result.command_line, config);
  }
  return 0;
}
