// echod: parse the command line, load the configuration, run the supervisor, and map the outcome
// to an exit code (sysexits.h: 64 usage, 78 configuration; 1 for runtime failures).
#include <cstdio>
#include <exception>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "build_info.hpp"
#include "cli/command_line.hpp"
#include "config/config_loader.hpp"
#include "control/control_socket.hpp"
#include "control/daemon_status.hpp"
#include "log/log_event.hpp"
#include "log/logging.hpp"
#include "supervisor/environment.hpp"
#include "supervisor/signal_set.hpp"
#include "supervisor/supervisor.hpp"

namespace {

// The (void) casts on stdio calls: when printing a message to the terminal fails there is
// nothing better to do than to carry on to the exit code.
constexpr int kExitUsage = 64;   // EX_USAGE
constexpr int kExitConfig = 78;  // EX_CONFIG

int check_config(const echod::CommandLine& command_line) {
  bool used_defaults = false;
  auto result = echod::load_effective_config(command_line, used_defaults);
  if (!result.config) {
    for (const auto& error : result.errors)
      (void)std::fprintf(stderr, "%s\n", error.to_string().c_str());
    (void)std::fprintf(stderr, "echod: %s: %zu error(s)\n", command_line.config_path.c_str(),
                       result.errors.size());
    return kExitConfig;
  }
  for (const auto& warning : result.warnings)
    (void)std::fprintf(stderr, "%s\n", warning.to_string().c_str());
  if (used_defaults) {
    (void)std::fprintf(stderr, "echod: %s does not exist; the built-in defaults apply\n",
                       command_line.config_path.c_str());
  }
  (void)std::fputs(echod::format_config(*result.config).c_str(), stdout);
  (void)std::fprintf(stderr, "echod: configuration OK\n");
  return 0;
}

// --status and --reload: ask the running daemon over its control socket.
int ask_daemon(const echod::CommandLine& command_line) {
  bool reload = command_line.action == echod::CommandLine::Action::kReload;
  try {
    // A reload waits for every worker to confirm (bounded by the daemon at 5 s).
    std::string reply = echod::control_request(command_line.control_socket,
                                               reload ? "reload" : "status", reload ? 30000 : 5000);
    if (!reload) {
      (void)std::fputs(command_line.json
                           ? reply.c_str()
                           : echod::format_status(echod::status_from_json(reply)).c_str(),
                       stdout);
      return 0;
    }
    auto outcome = echod::reload_outcome_from_json(reply);
    std::FILE* out = outcome.ok ? stdout : stderr;
    (void)std::fprintf(
        out, "echod: %s (configuration generation %llu)\n",
        outcome.ok ? "reloaded" : "reload rejected; the previous configuration stays",
        static_cast<unsigned long long>(outcome.generation));
    for (const auto& message : outcome.messages) (void)std::fprintf(out, "  %s\n", message.c_str());
    return outcome.ok ? 0 : 1;
  } catch (const std::system_error& e) {
    (void)std::fprintf(stderr,
                       "echod: cannot reach the daemon: %s (is echod running, and is this its "
                       "--control-socket?)\n",
                       e.what());
  } catch (const std::exception& e) {
    (void)std::fprintf(stderr, "echod: %s\n", e.what());
  }
  return 1;
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
  for (const auto& warning : result.warnings) spdlog::warn("{}", warning.to_string());
  echod::log_event(echod::LogEvent::kStarted, spdlog::level::info, {},
                   fmt::format("echod {} (commit {}) starting", echod::build_info::kVersion,
                               echod::build_info::kCommit));
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
    (void)std::fprintf(stderr, "echod: %s\nTry 'echod --help' for more information.\n",
                       parsed.error.c_str());
    return kExitUsage;
  }
  const echod::CommandLine& command_line = *parsed.command_line;
  switch (command_line.action) {
    case echod::CommandLine::Action::kHelp:
      (void)std::fputs(echod::usage_text().c_str(), stdout);
      return 0;
    case echod::CommandLine::Action::kVersion:
      (void)std::printf("echod %s (commit %s)\n", echod::build_info::kVersion,
                        echod::build_info::kCommit);
      return 0;
    case echod::CommandLine::Action::kCheckConfig:
      return check_config(command_line);
    case echod::CommandLine::Action::kStatus:
    case echod::CommandLine::Action::kReload:
      return ask_daemon(command_line);
    case echod::CommandLine::Action::kRun:
      return run(command_line);
  }
  return 1;
}
