#include "config/config_keys.hpp"

#include <set>
#include <string>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config_diff.hpp"
#include "config/config_loader.hpp"

namespace echod {
namespace {

using ::testing::IsEmpty;

// A file that sets only `key`, to its example: "limits:\n  access:\n    allow: [...]\n".
std::string file_setting(const ConfigKey& key) {
  std::string text;
  std::string indent;
  std::string_view rest = key.section;
  while (!rest.empty()) {
    const std::size_t dot = rest.find('.');
    text += indent + std::string(rest.substr(0, dot)) + ":\n";
    indent += "  ";
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
  }
  return text + indent + std::string(key.name) + ": " + std::string(key.example) + "\n";
}

Config load(const std::string& text) {
  ConfigLoadResult result = parse_config(text, "t.yaml");
  std::vector<std::string> errors;
  for (const ConfigError& error : result.errors) errors.push_back(error.to_string());
  EXPECT_THAT(errors, IsEmpty()) << text;
  return result.config.value_or(Config{});
}

TEST(ConfigKeysTest, PathsAreUniqueAndEveryEntryIsComplete) {
  std::set<std::string> paths;
  for (const ConfigKey& key : config_keys()) {
    EXPECT_TRUE(paths.insert(key.path()).second) << key.path();
    EXPECT_FALSE(key.name.empty());
    EXPECT_FALSE(key.example.empty()) << key.path();
    EXPECT_NE(key.read, nullptr) << key.path();
    EXPECT_NE(key.format, nullptr) << key.path();
    // A list has no generic "BEFORE -> AFTER" phrase: it needs its own.
    if (std::holds_alternative<std::vector<std::string>>(key.format(Config{}))) {
      EXPECT_NE(key.describe, nullptr) << key.path();
    }
  }
}

// Every key, set to its example, is read into the Config, printed by format_config() (and read
// back the same), and described on reload, or left to the supervisor where the table says so.
TEST(ConfigKeysTest, EveryKeyIsReadWrittenAndDescribed) {
  const Config defaults;
  for (const ConfigKey& key : config_keys()) {
    SCOPED_TRACE(key.path());
    const Config config = load(file_setting(key));
    EXPECT_NE(config, defaults) << "read changed nothing";
    EXPECT_NE(key.format(config), key.format(defaults)) << "format does not show the value read";

    const std::string text = format_config(config);
    EXPECT_NE(text, format_config(defaults));
    EXPECT_EQ(load(text), config) << text;

    ConfigChanges changes = diff_configs(defaults, config);
    EXPECT_TRUE(changes.any());
    const std::vector<std::string> lines = changes.describe(defaults, config);
    if (key.effect == ReloadEffect::kWorkers) {
      EXPECT_TRUE(changes.workers);
      EXPECT_THAT(lines, IsEmpty());
    } else if (key.effect == ReloadEffect::kRestart) {
      EXPECT_TRUE(changes.log_target);
      EXPECT_THAT(lines, IsEmpty());
    } else {
      EXPECT_FALSE(lines.empty());
      for (const std::string& line : lines) {
        // The key itself, or the section it is described with ("limits.access changed").
        EXPECT_TRUE(line.starts_with(key.path() + " ") ||
                    (!key.section.empty() && line.starts_with(std::string(key.section) + " ")))
            << line;
      }
    }
  }
}

TEST(ConfigKeysTest, DescribeFollowsTheTableAndGroupsSections) {
  Config before;
  Config after;
  after.limits.access.allow = after.limits.exempt;
  after.limits.access.deny = after.limits.exempt;
  after.limits.io_buffer = 16 * 1024;
  after.shutdown_timeout = std::chrono::seconds(1);
  after.metrics.enabled = true;
  EXPECT_THAT(
      diff_configs(before, after).describe(before, after),
      ::testing::ElementsAre("limits.io_buffer 64KiB -> 16KiB", "limits.access changed",
                             "metrics off -> 127.0.0.1:9707", "shutdown_timeout 10s -> 1s"));
}

TEST(ConfigKeysTest, ListenersAreComparedAsWholeValues) {
  Config before;
  Config after;
  ListenerConfig udp = before.listen.front();
  udp.protocol = ListenProtocol::kUdp;
  after.listen.push_back(udp);
  ConfigChanges changes = diff_configs(before, after);
  EXPECT_THAT(changes.added_listeners, ::testing::ElementsAre(udp));
  EXPECT_THAT(changes.removed_listeners, IsEmpty());
  EXPECT_THAT(changes.describe(before, after), ::testing::ElementsAre("listen +127.0.0.1:7/udp"));
}

}  // namespace
}  // namespace echod
