#include "cli/command_line.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "build_info.hpp"
#include "config/text_util.hpp"
#include "config/units.hpp"

namespace echod {
namespace {

namespace po = boost::program_options;

CommandLineResult fail(const std::string& message) { return {std::nullopt, printable(message)}; }

// "--listen: '1.2.3.4': expected HOST:PORT, ...": the option, the value, then the reason (the
// parser's reason quotes the value itself in some cases).
std::string listen_error(const std::string& text, const std::string& reason) {
  const std::string quoted = "'" + text + "'";
  if (reason.starts_with(quoted)) return "--listen: " + reason;
  return "--listen: " + quoted + ": " + reason;
}

}  // namespace

CommandLineResult parse_command_line(int argc, const char* const argv[],
                                     const std::string& default_config_path) {
  static constexpr std::array<const char*, 1> kNoArguments{"echod"};
  if (argc < 1) {  // execve() with an empty argv
    argc = 1;
    argv = kNoArguments.data();
  }

  po::options_description options;
  options.add_options()("config,c", po::value<std::string>())(
      "listen,l", po::value<std::vector<std::string>>())("workers,w", po::value<std::string>())(
      "log-level", po::value<std::string>())("check-config,t", po::bool_switch())(
      "status", po::bool_switch())("reload", po::bool_switch())("json", po::bool_switch())(
      "control-socket", po::value<std::string>())("version,V", po::bool_switch())(
      "help,h", po::bool_switch())("argument", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("argument", -1);

  // Abbreviated long options are refused: "--work 4" in a unit file would break the day an
  // option with the same prefix is added.
  const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
  const auto parse = [&](const char* const* arguments, po::variables_map& values) {
    po::store(po::command_line_parser(argc, arguments)
                  .options(options)
                  .positional(positional)
                  .style(style)
                  .run(),
              values);
  };
  po::variables_map values;
  try {
    parse(argv, values);
  } catch (const po::error&) {
    // Boost composes a message by replacing placeholders such as "%canonical_option%" until
    // none is left, so an argument that contains one ("--%canonical_option%") never ends
    // (found by tests/fuzz/cli_fuzzer). The message comes from a second parse with every '%'
    // swapped for a stand-in byte, swapped back afterwards.
    constexpr char kPercentStandIn = '\x1a';
    const std::span<const char* const> arguments(argv, static_cast<std::size_t>(argc));
    std::vector<std::string> escaped(arguments.begin(), arguments.end());
    std::vector<const char*> escaped_argv;
    for (std::string& argument : escaped) {
      std::replace(argument.begin(), argument.end(), '%', kPercentStandIn);
      escaped_argv.push_back(argument.c_str());
    }
    std::string message = "invalid command line";
    try {
      po::variables_map ignored;
      parse(escaped_argv.data(), ignored);
    } catch (const po::error& e) {
      message = e.what();
    }
    std::replace(message.begin(), message.end(), kPercentStandIn, '%');
    return fail(message);
  }

  if (values.count("argument") != 0) {
    return fail("unexpected argument '" +
                values["argument"].as<std::vector<std::string>>().front() + "'");
  }

  CommandLine command_line;
  if (values["help"].as<bool>()) {
    command_line.action = CommandLine::Action::kHelp;
  } else if (values["version"].as<bool>()) {
    command_line.action = CommandLine::Action::kVersion;
  } else if (values["check-config"].as<bool>()) {
    command_line.action = CommandLine::Action::kCheckConfig;
  } else if (values["status"].as<bool>()) {
    command_line.action = CommandLine::Action::kStatus;
  } else if (values["reload"].as<bool>()) {
    command_line.action = CommandLine::Action::kReload;
  }
  command_line.json = values["json"].as<bool>();
  if (command_line.json && command_line.action != CommandLine::Action::kStatus) {
    return fail("--json goes with --status");
  }
  command_line.control_socket = build_info::kControlSocketPath;
  if (values.count("control-socket") != 0) {
    command_line.control_socket = values["control-socket"].as<std::string>();
    if (command_line.control_socket.empty()) return fail("--control-socket: the path is empty");
  }

  command_line.config_path = default_config_path;
  if (values.count("config") != 0) {
    command_line.config_path = values["config"].as<std::string>();
    command_line.config_path_given = true;
    if (command_line.config_path.empty()) return fail("--config: the path is empty");
  }

  if (values.count("listen") != 0) {
    for (const std::string& text : values["listen"].as<std::vector<std::string>>()) {
      auto parsed = SocketAddress::parse(text);
      if (!parsed.address) return fail(listen_error(text, parsed.error));
      const ListenerConfig listener = ListenerConfig::tcp(*parsed.address);
      if (std::find(command_line.listen.begin(), command_line.listen.end(), listener) !=
          command_line.listen.end()) {
        return fail("--listen: " + listener.to_string() + " is given twice");
      }
      command_line.listen.push_back(listener);
    }
  }

  std::string error;
  if (values.count("workers") != 0) {
    command_line.workers = parse_worker_count(values["workers"].as<std::string>(), error);
    if (!command_line.workers) return fail("--workers: " + error);
  }
  if (values.count("log-level") != 0) {
    command_line.log_level = parse_log_level(values["log-level"].as<std::string>(), error);
    if (!command_line.log_level) return fail("--log-level: " + error);
  }
  return {std::move(command_line), {}};
}

std::string usage_text(const std::string& default_config_path) {
  return "Usage: echod [OPTION]...\n"
         "A multithreaded TCP and UDP echo server (RFC 862).\n"
         "\n"
         "  -c, --config PATH       read the configuration from PATH; by default\n"
         "                          " +
         default_config_path +
         ",\n"
         "                          or the built-in defaults if that does not exist\n"
         "  -l, --listen HOST:PORT  listen on HOST:PORT instead of the addresses in\n"
         "                          the file; repeat for more. IPv6 in brackets:\n"
         "                          [::1]:7; '*:7' is any IPv4 address\n"
         "  -w, --workers N|auto    worker threads, 1-256, or auto (one per CPU)\n"
         "      --log-level LEVEL   trace, debug, info, warn, error, critical or off\n"
         "  -t, --check-config      check the configuration, print the effective\n"
         "                          settings and exit\n"
         "      --status            show what the running daemon is doing; with\n"
         "                          --json as one JSON object\n"
         "      --reload            make the running daemon reload its configuration\n"
         "                          and wait for the outcome (exit 1 and the errors\n"
         "                          when the file is rejected)\n"
         "      --control-socket PATH  the daemon's control socket (default\n"
         "                          " +
         std::string(build_info::kControlSocketPath) +
         "; 'none'\n"
         "                          disables it)\n"
         "  -V, --version           print the version and exit\n"
         "  -h, --help              print this help and exit\n"
         "\n"
         "--listen, --workers and --log-level override the configuration file, also\n"
         "when it is reloaded (SIGHUP or --reload).\n"
         "\n"
         "Socket activation: started by systemd with sockets passed (LISTEN_FDS), echod\n"
         "serves those instead of the 'listen:' addresses, and leaves them open when it\n"
         "stops, so connections wait for the next start.\n"
         "\n"
         "Exit status: 0 success, 1 runtime failure, 64 usage error,\n"
         "78 configuration error. The configuration file is described in\n"
         "docs/configuration.md.\n";
}

std::string usage_text() { return usage_text(build_info::kDefaultConfigPath); }

void apply_overrides(const CommandLine& command_line, Config& config) {
  if (!command_line.listen.empty()) config.listen = command_line.listen;
  if (command_line.workers) config.workers = *command_line.workers;
  if (command_line.log_level) config.log.level = *command_line.log_level;
}

}  // namespace echod
