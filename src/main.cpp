// echod: parse the command line, load the configuration, run the supervisor, and map the outcome
// to an exit code (sysexits.h: 64 usage, 78 configuration; 1 for runtime failures).
#include <cstdio>
#include <exception>

#include <spdlog/spdlog.h>

#include "build_info.hpp"
#include "cli/command_line.hpp"
#include "config/config_loader.hpp"
#include "log/logging.hpp"
#include "supervisor/environment.hpp"
#include "supervisor/reload.hpp"
#include "supervisor/signal_set.hpp"
#include "supervisor/supervisor.hpp"

namespace {

constexpr int kExitUsage = 64;   // EX_USAGE
constexpr int kExitConfig = 78;  // EX_CONFIG

int check_config(const echod::CommandLine& command_line) {
  bool used_defaults = false;
  auto result = echod::load_effective_config(command_line, used_defaults);
  if (!result.config) {
    for (const auto& error : result.errors) std::fprintf(stderr, "%s\n", error.to_string().c_str());
    std::fprintf(stderr, "echod: %s: %zu error(s)\n", command_line.config_path.c_str(),
                 result.errors.size());
    return kExitConfig;
  }
  if (used_defaults) {
    std::fprintf(stderr, "echod: %s does not exist; the built-in defaults apply\n",
                 command_line.config_path.c_str());
  }
  std::fputs(echod::format_config(*result.config).c_str(), stdout);
  std::fprintf(stderr, "echod: configuration OK\n");
  return 0;
}

int run(const echod::CommandLine& command_line) {
  // Before any thread exists: take the systemd variables out of the environment and block the
  // signals that the supervisor reads through its signalfd.
  auto systemd = echod::SystemdEnvironment::take();
  echod::init_logging(echod::LogTarget::kAuto,
                      command_line.log_level.value_or(echod::LogLevel::kInfo),
                      systemd.journal_stream);

  bool used_defaults = false;
  auto result = echod::load_effective_config(command_line, used_defaults);
  if (!result.config) {
    for (const auto& error : result.errors) spdlog::error("{}", error.to_string());
    spdlog::critical("not starting: {} error(s) in {}", result.errors.size(),
                     command_line.config_path);
    return kExitConfig;
  }
  const echod::Config& config = *result.config;
  echod::init_logging(config.log.target, config.log.level, systemd.journal_stream);
  spdlog::info("echod {} (commit {}) starting", echod::build_info::kVersion,
               echod::build_info::kCommit);
  if (used_defaults) {
    spdlog::info("no configuration file at {}; using built-in defaults", command_line.config_path);
  } else {
    spdlog::info("configuration loaded from {}", command_line.config_path);
  }

  try {
    echod::SignalSet signals;
    echod::Supervisor supervisor(command_line, config, systemd);
    return supervisor.run(signals);
  } catch (const echod::StartupError& e) {
    spdlog::critical("{}", e.what());
  } catch (const std::exception& e) {
    spdlog::critical("stopping on an unexpected error: {}", e.what());
  }
  return 1;
}

}  // namespace

int main(int argc, char* argv[]) {
  auto parsed = echod::parse_command_line(argc, argv, echod::build_info::kDefaultConfigPath);
  if (!parsed.command_line) {
    std::fprintf(stderr, "echod: %s\nTry 'echod --help' for more information.\n",
                 parsed.error.c_str());
    return kExitUsage;
  }
  const echod::CommandLine& command_line = *parsed.command_line;
  switch (command_line.action) {
    case echod::CommandLine::Action::kHelp:
      std::fputs(echod::usage_text().c_str(), stdout);
      return 0;
    case echod::CommandLine::Action::kVersion:
      std::printf("echod %s (commit %s)\n", echod::build_info::kVersion,
                  echod::build_info::kCommit);
      return 0;
    case echod::CommandLine::Action::kCheckConfig:
      return check_config(command_line);
    case echod::CommandLine::Action::kRun:
      return run(command_line);
  }
  return 1;
}
