#include "cli/command_line.hpp"

#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "build_info.hpp"

namespace echod {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kDefaultPath = "/etc/echod.yaml";

SocketAddress address(std::string_view text) { return SocketAddress::parse(text).address.value(); }
ListenerConfig tcp(std::string_view text) { return ListenerConfig::tcp(address(text)); }

// argv as the kernel passes it: the program name first.
CommandLineResult parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"echod"};
  argv.insert(argv.end(), args);
  return parse_command_line(static_cast<int>(argv.size()), argv.data(), kDefaultPath);
}

CommandLine parse_ok(std::initializer_list<const char*> args) {
  CommandLineResult result = parse(args);
  EXPECT_TRUE(result.command_line) << result.error;
  EXPECT_EQ(result.error, "");
  return result.command_line.value_or(CommandLine{});
}

std::string parse_error(std::initializer_list<const char*> args) {
  CommandLineResult result = parse(args);
  EXPECT_FALSE(result.command_line);
  EXPECT_EQ(result.error.find('\n'), std::string::npos) << result.error;
  return result.error;
}

TEST(CommandLineTest, NoArgumentsRunsWithTheDefaultFile) {
  CommandLine command_line = parse_ok({});
  EXPECT_EQ(command_line.action, CommandLine::Action::kRun);
  EXPECT_EQ(command_line.config_path, kDefaultPath);
  EXPECT_FALSE(command_line.config_path_given);
  EXPECT_TRUE(command_line.listen.empty());
  EXPECT_FALSE(command_line.workers);
  EXPECT_FALSE(command_line.log_level);
}

TEST(CommandLineTest, EmptyArgvIsTreatedAsNoArguments) {
  CommandLineResult result = parse_command_line(0, nullptr, kDefaultPath);
  ASSERT_TRUE(result.command_line) << result.error;
  EXPECT_EQ(result.command_line->action, CommandLine::Action::kRun);
}

TEST(CommandLineTest, ConfigInEveryGnuSpelling) {
  for (auto args :
       {std::vector<const char*>{"--config", "/tmp/a.yaml"},
        std::vector<const char*>{"--config=/tmp/a.yaml"},
        std::vector<const char*>{"-c", "/tmp/a.yaml"}, std::vector<const char*>{"-c/tmp/a.yaml"}}) {
    std::vector<const char*> argv{"echod"};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandLineResult result =
        parse_command_line(static_cast<int>(argv.size()), argv.data(), kDefaultPath);
    ASSERT_TRUE(result.command_line) << args.front() << ": " << result.error;
    EXPECT_EQ(result.command_line->config_path, "/tmp/a.yaml") << args.front();
    EXPECT_TRUE(result.command_line->config_path_given) << args.front();
  }
}

TEST(CommandLineTest, ConfigNeedsANonEmptyPath) {
  EXPECT_EQ(parse_error({"--config", ""}), "--config: the path is empty");
  EXPECT_EQ(parse_error({"--config"}), "the required argument for option '--config' is missing");
  EXPECT_EQ(parse_error({"-c"}), "the required argument for option '--config' is missing");
}

TEST(CommandLineTest, ListenIsRepeatableAndKeepsOrder) {
  CommandLine command_line =
      parse_ok({"--listen", "127.0.0.1:7007", "-l", "[::1]:7007", "--listen=localhost:8", "-l*:9"});
  EXPECT_THAT(command_line.listen, ElementsAre(tcp("127.0.0.1:7007"), tcp("[::1]:7007"),
                                               tcp("127.0.0.1:8"), tcp("0.0.0.0:9")));
}

TEST(CommandLineTest, ListenErrorsNameTheOptionAndTheValue) {
  EXPECT_EQ(parse_error({"--listen", "1.2.3.4"}),
            "--listen: '1.2.3.4': expected HOST:PORT, e.g. 127.0.0.1:7 or [::1]:7");
  EXPECT_EQ(parse_error({"--listen", "1.2.3.4:70000"}),
            "--listen: '1.2.3.4:70000': port 70000 is out of range 0-65535");
  EXPECT_EQ(parse_error({"-l", "::1:7"}),
            "--listen: '::1:7': an IPv6 address with a port must be written [::1]:7");
  EXPECT_EQ(parse_error({"-l", "localhost:7", "-l", "127.0.0.1:7"}),
            "--listen: 127.0.0.1:7 is given twice");
  EXPECT_EQ(parse_error({"--listen"}), "the required argument for option '--listen' is missing");
}

TEST(CommandLineTest, Workers) {
  EXPECT_TRUE(parse_ok({"--workers", "auto"}).workers->automatic);
  auto workers = parse_ok({"-w", "4"}).workers;
  ASSERT_TRUE(workers);
  EXPECT_FALSE(workers->automatic);
  EXPECT_EQ(workers->count, 4U);
  EXPECT_EQ(parse_ok({"--workers=256"}).workers->count, 256U);
  EXPECT_EQ(parse_ok({"-w1"}).workers->count, 1U);
}

TEST(CommandLineTest, WorkersErrors) {
  EXPECT_EQ(parse_error({"--workers", "0"}), "--workers: 0 is out of range 1-256");
  EXPECT_EQ(parse_error({"--workers", "257"}), "--workers: 257 is out of range 1-256");
  EXPECT_EQ(parse_error({"--workers", "x"}), "--workers: 'x' is not a number or 'auto'");
  EXPECT_EQ(parse_error({"-w", "-1"}), "--workers: -1 is out of range 1-256");
  EXPECT_EQ(parse_error({"--workers"}), "the required argument for option '--workers' is missing");
  EXPECT_EQ(parse_error({"--workers", "2", "--workers", "3"}),
            "option '--workers' cannot be specified more than once");
}

TEST(CommandLineTest, LogLevel) {
  EXPECT_EQ(parse_ok({"--log-level", "debug"}).log_level, LogLevel::kDebug);
  EXPECT_EQ(parse_ok({"--log-level=off"}).log_level, LogLevel::kOff);
  EXPECT_EQ(parse_error({"--log-level", "warning"}),
            "--log-level: unknown log level 'warning'; did you mean 'warn'?");
  EXPECT_EQ(parse_error({"--log-level", "loud"}),
            "--log-level: unknown log level 'loud'; expected one of trace, debug, info, warn, "
            "error, critical, off");
  EXPECT_EQ(parse_error({"--log-level"}),
            "the required argument for option '--log-level' is missing");
}

TEST(CommandLineTest, Actions) {
  EXPECT_EQ(parse_ok({"--check-config"}).action, CommandLine::Action::kCheckConfig);
  EXPECT_EQ(parse_ok({"-t"}).action, CommandLine::Action::kCheckConfig);
  EXPECT_EQ(parse_ok({"--version"}).action, CommandLine::Action::kVersion);
  EXPECT_EQ(parse_ok({"-V"}).action, CommandLine::Action::kVersion);
  EXPECT_EQ(parse_ok({"--help"}).action, CommandLine::Action::kHelp);
  EXPECT_EQ(parse_ok({"-h"}).action, CommandLine::Action::kHelp);
}

TEST(CommandLineTest, HelpWinsOverVersionWhichWinsOverCheck) {
  EXPECT_EQ(parse_ok({"-t", "-V", "-h"}).action, CommandLine::Action::kHelp);
  EXPECT_EQ(parse_ok({"-tV"}).action, CommandLine::Action::kVersion);
  EXPECT_EQ(parse_ok({"-t", "-c", "x.yaml", "-w", "2"}).action, CommandLine::Action::kCheckConfig);
}

TEST(CommandLineTest, CheckConfigKeepsTheOverrides) {
  CommandLine command_line =
      parse_ok({"-t", "-c", "/x.yaml", "-l", "[::1]:9", "-w", "3", "--log-level", "error"});
  EXPECT_EQ(command_line.action, CommandLine::Action::kCheckConfig);
  EXPECT_EQ(command_line.config_path, "/x.yaml");
  EXPECT_THAT(command_line.listen, ElementsAre(tcp("[::1]:9")));
  EXPECT_EQ(command_line.workers->count, 3U);
  EXPECT_EQ(command_line.log_level, LogLevel::kError);
}

TEST(CommandLineTest, UnknownOptions) {
  EXPECT_EQ(parse_error({"--frob"}), "unrecognised option '--frob'");
  EXPECT_EQ(parse_error({"-x"}), "unrecognised option '-x'");
  // Abbreviations are refused, so scripts never depend on them.
  EXPECT_EQ(parse_error({"--work", "4"}), "unrecognised option '--work'");
  EXPECT_EQ(parse_error({"--check"}), "unrecognised option '--check'");
}

TEST(CommandLineTest, FlagsTakeNoValue) {
  EXPECT_EQ(parse_error({"--help=yes"}), "option '--help' does not take any arguments");
  EXPECT_EQ(parse_error({"--check-config=1"}),
            "option '--check-config' does not take any arguments");
}

TEST(CommandLineTest, PositionalArgumentsAreRefused) {
  EXPECT_EQ(parse_error({"foo"}), "unexpected argument 'foo'");
  EXPECT_EQ(parse_error({"-t", "/etc/echod.yaml"}), "unexpected argument '/etc/echod.yaml'");
  EXPECT_EQ(parse_error({"--", "--help"}), "unexpected argument '--help'");
}

TEST(CommandLineTest, ErrorsStayOnOneLine) {
  EXPECT_EQ(parse_error({"--frob\nInjected"}), "unrecognised option '--frob\\x0aInjected'");
  EXPECT_EQ(parse_error({"--workers", "4\n"}), "--workers: '4\\x0a' is not a number or 'auto'");
}

TEST(ApplyOverridesTest, NothingGivenChangesNothing) {
  Config config;
  config.workers = WorkerCount{false, 7};
  const Config before = config;
  apply_overrides(parse_ok({"-c", "/x.yaml", "-t"}), config);
  EXPECT_EQ(config, before);
}

TEST(ApplyOverridesTest, ListenReplacesTheWholeList) {
  Config config;
  config.listen = {tcp("10.0.0.1:7"), tcp("10.0.0.2:7"), tcp("10.0.0.3:7")};
  apply_overrides(parse_ok({"-l", "127.0.0.1:7007"}), config);
  EXPECT_THAT(config.listen, ElementsAre(tcp("127.0.0.1:7007")));
}

TEST(ApplyOverridesTest, WorkersAndLogLevelReplaceTheirSettingOnly) {
  Config config;
  config.log.target = LogTarget::kStderr;
  config.limits.io_buffer = 4096;
  apply_overrides(parse_ok({"-w", "auto", "--log-level", "trace"}), config);
  EXPECT_TRUE(config.workers.automatic);
  EXPECT_EQ(config.log.level, LogLevel::kTrace);
  EXPECT_EQ(config.log.target, LogTarget::kStderr);
  EXPECT_EQ(config.limits.io_buffer, 4096U);
  EXPECT_EQ(config.listen, Config::default_listen());

  apply_overrides(parse_ok({"-w", "12"}), config);
  EXPECT_EQ(config.workers, (WorkerCount{false, 12}));
  EXPECT_EQ(config.log.level, LogLevel::kTrace);
}

TEST(UsageTextTest, DescribesEveryOptionAndTheDefaultFile) {
  const std::string text = usage_text("/opt/echod/echod.yaml");
  for (const char* option :
       {"-c, --config PATH", "-l, --listen HOST:PORT", "-w, --workers N|auto", "--log-level LEVEL",
        "-t, --check-config", "-V, --version", "-h, --help", "/opt/echod/echod.yaml",
        "64 usage error", "78 configuration error"}) {
    EXPECT_THAT(text, HasSubstr(option));
  }
  EXPECT_THAT(usage_text(), HasSubstr(build_info::kDefaultConfigPath));
}

TEST(UsageTextTest, FitsAnEightyColumnTerminal) {
  std::istringstream lines(usage_text("/etc/echod.yaml"));
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    EXPECT_LE(line.size(), 80U) << line;
  }
  EXPECT_GT(count, 10);
}

TEST(CommandLineTest, StatusAndReloadTalkToTheControlSocket) {
  CommandLine status = parse_ok({"--status"});
  EXPECT_EQ(status.action, CommandLine::Action::kStatus);
  EXPECT_FALSE(status.json);
  EXPECT_EQ(status.control_socket, build_info::kControlSocketPath);
  CommandLine json = parse_ok({"--status", "--json", "--control-socket", "/tmp/x.sock"});
  EXPECT_TRUE(json.json);
  EXPECT_EQ(json.control_socket, "/tmp/x.sock");
  EXPECT_EQ(parse_ok({"--reload"}).action, CommandLine::Action::kReload);
  EXPECT_EQ(parse_ok({"--control-socket", "none"}).control_socket, "none");
}

TEST(CommandLineTest, StatusOptionErrors) {
  EXPECT_THAT(parse_error({"--json"}), HasSubstr("--json goes with --status"));
  EXPECT_THAT(parse_error({"--reload", "--json"}), HasSubstr("--json goes with --status"));
  EXPECT_THAT(parse_error({"--control-socket", ""}), HasSubstr("--control-socket"));
}

}  // namespace
}  // namespace echod
