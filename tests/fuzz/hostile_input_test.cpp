// Hostile configuration files and command lines: each must be rejected with a clear error (one
// printable line that says what is wrong), quickly, without a crash, a hang or unbounded memory.
// The fuzzers (config_fuzzer.cpp, cli_fuzzer.cpp) search for such inputs; these are the known
// shapes, and what the fuzzers found, checked on every build.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/command_line.hpp"
#include "config/config_loader.hpp"

namespace echod {
namespace {

using ::testing::HasSubstr;

// Generous: under ASan on a loaded 2-core machine. A parse that goes exponential or recursive
// takes minutes (or crashes), not seconds.
constexpr auto kTimeLimit = std::chrono::seconds(10);

// Every error is one line without control characters.
testing::AssertionResult printable_errors(const ConfigLoadResult& result) {
  for (const ConfigError& error : result.errors) {
    const std::string line = error.to_string();
    for (const char c : line) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte == 0x7f) {
        return testing::AssertionFailure() << "control character in error: " << line;
      }
    }
  }
  return testing::AssertionSuccess();
}

std::string all_errors(const ConfigLoadResult& result) {
  std::string text;
  for (const ConfigError& error : result.errors) text += error.to_string() + "\n";
  return text;
}

// Parses `text` and checks the shape every rejection must have; returns the errors, one a line.
std::string rejected(std::string_view text) {
  const auto start = std::chrono::steady_clock::now();
  const ConfigLoadResult result = parse_config(text, "hostile.yaml");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, kTimeLimit);
  EXPECT_FALSE(result.config.has_value());
  EXPECT_FALSE(result.errors.empty());
  EXPECT_LE(result.errors.size(), kMaxConfigErrors + 1);
  EXPECT_TRUE(printable_errors(result));
  return all_errors(result);
}

std::string repeat(std::string_view piece, std::size_t count) {
  std::string text;
  text.reserve(piece.size() * count);
  for (std::size_t i = 0; i < count; ++i) text += piece;
  return text;
}

// A file in a fresh temporary directory, removed with the object.
class TempFile {
 public:
  TempFile() {
    std::string pattern = (std::filesystem::temp_directory_path() / "echod-hostile.XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  [[nodiscard]] std::string path() const { return (dir_ / "echod.yaml").string(); }

 private:
  std::filesystem::path dir_;
};

TEST(ConfigHostileInputTest, DeepFlowNestingIsRejected) {
  constexpr std::size_t kLevels = 10'000;
  EXPECT_THAT(rejected("listen: " + repeat("[", kLevels) + repeat("]", kLevels) + "\n"),
              HasSubstr("nesting is deeper than"));
  EXPECT_THAT(rejected(repeat("{a: ", kLevels) + "1" + repeat("}", kLevels) + "\n"),
              HasSubstr("nesting is deeper than"));
  // Unclosed: the parser must not recurse to the end of the input either.
  EXPECT_THAT(rejected(repeat("[", kLevels)), HasSubstr("nesting is deeper than"));
}

TEST(ConfigHostileInputTest, DeepBlockNestingIsRejected) {
  EXPECT_THAT(rejected(repeat("- ", 10'000) + "x\n"), HasSubstr("nesting is deeper than"));
  // Indented mappings: 1,000 levels (half a MiB of indentation) fit under the size limit.
  std::string mappings;
  for (std::size_t level = 0; level < 1'000; ++level) {
    mappings += std::string(level, ' ') + "a:\n";
  }
  EXPECT_THAT(rejected(mappings), HasSubstr("nesting is deeper than"));
}

// "Billion laughs": nine levels of ten aliases each would expand to 10^9 scalars.
TEST(ConfigHostileInputTest, AliasBombIsRejected) {
  std::string text = "a0: &a0 [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n";
  for (int level = 1; level <= 9; ++level) {
    const std::string previous = "*a" + std::to_string(level - 1);
    text += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [" +
            repeat(previous + ",", 9) + previous + "]\n";
  }
  text += "listen: *a9\n";
  const std::string errors = rejected(text);
  EXPECT_THAT(errors, HasSubstr("anchors and aliases are not supported"));
  // The same bomb placed where echod reads a list.
  EXPECT_THAT(rejected("limits:\n  access:\n    allow: &x [\"10.0.0.0/8\"]\n    deny: *x\n"),
              HasSubstr("anchors and aliases are not supported"));
}

TEST(ConfigHostileInputTest, SixteenMebibyteFileIsRejectedUnread) {
  TempFile file;
  {
    std::ofstream out(file.path(), std::ios::binary);
    const std::string line = "# " + std::string(1021, 'x') + "\n";  // 1 KiB
    for (int i = 0; i < 16 * 1024; ++i) out << line;
  }
  ASSERT_EQ(std::filesystem::file_size(file.path()), 16U * 1024 * 1024);
  const auto start = std::chrono::steady_clock::now();
  const ConfigLoadResult result = load_config_file(file.path());
  EXPECT_LT(std::chrono::steady_clock::now() - start, kTimeLimit);
  ASSERT_FALSE(result.config.has_value());
  ASSERT_EQ(result.errors.size(), 1U);
  EXPECT_EQ(result.errors.front().to_string(),
            file.path() + ": file is 16777216 bytes; the limit is 1 MiB");
  // The same text handed over in memory.
  EXPECT_THAT(rejected(std::string(16 * 1024 * 1024, ' ')), HasSubstr("the limit is 1 MiB"));
}

TEST(ConfigHostileInputTest, NonUtf8BytesAreRejected) {
  EXPECT_THAT(rejected("listen:\n  - \"\xff\xfe"
                       "127.0.0.1:7\"\n"),
              HasSubstr("hostile.yaml:2:6: invalid UTF-8 byte 0xff; the file must be UTF-8 text"));
  EXPECT_THAT(rejected("workers: \xc3\x28\n"), HasSubstr("invalid UTF-8 byte 0xc3"));
  // Overlong encoding of '/', a UTF-16 surrogate and a code point past U+10FFFF.
  EXPECT_THAT(rejected("workers: \xc0\xaf\n"), HasSubstr("invalid UTF-8"));
  EXPECT_THAT(rejected("workers: \xed\xa0\x80\n"), HasSubstr("invalid UTF-8"));
  EXPECT_THAT(rejected("workers: \xf4\x90\x80\x80\n"), HasSubstr("invalid UTF-8"));
  // A binary file: only the first bad byte is listed, with a count of the rest.
  std::string binary;
  for (int i = 0; i < 64 * 1024; ++i) binary += static_cast<char>((i * 7919) & 0xff);
  EXPECT_THAT(rejected(binary), HasSubstr("more)"));
}

TEST(ConfigHostileInputTest, NulBytesAreRejected) {
  using namespace std::string_view_literals;
  EXPECT_THAT(rejected("workers: 2\0\nlisten: [\"127.0.0.1:7\"]\n"sv),
              HasSubstr("hostile.yaml:1:11: control character 0x00 (NUL)"));
  EXPECT_THAT(rejected("listen:\n  - \"127.0.0.1\0:7\"\n"sv), HasSubstr("(NUL)"));
  EXPECT_THAT(rejected(std::string(4096, '\0')), HasSubstr("(NUL)"));
}

TEST(ConfigHostileInputTest, HugeNumbersAreRejected) {
  EXPECT_THAT(rejected("workers: 99999999999999999999999999\n"),
              HasSubstr("hostile.yaml:1:10: workers: 99999999999999999999999999 is out of range"));
  EXPECT_THAT(rejected("limits:\n  io_buffer: 18446744073709551616\n"),
              HasSubstr("limits.io_buffer: '18446744073709551616' is too large"));
  EXPECT_THAT(rejected("limits:\n  max_pending_output: 9223372036854775808KiB\n"),
              HasSubstr("limits.max_pending_output: '9223372036854775808KiB' is too large"));
  EXPECT_THAT(rejected("limits:\n  max_connections: 1e309\n"),
              HasSubstr("limits.max_connections: '1e309' is not a whole number"));
  EXPECT_THAT(rejected("limits:\n  max_connections: 4294967297\n"),
              HasSubstr("limits.max_connections: 4294967297 is out of range"));
  EXPECT_THAT(rejected("limits:\n  idle_timeout: 99999999999999999999s\n"),
              HasSubstr("limits.idle_timeout: '99999999999999999999s' is too large"));
  EXPECT_THAT(
      rejected("shutdown_timeout: -9223372036854775808ms\n"),
      HasSubstr("shutdown_timeout: '-9223372036854775808ms': a duration cannot be negative"));
  EXPECT_THAT(rejected("listen: [\"127.0.0.1:99999999999999999999\"]\n"),
              HasSubstr("listen[0]: port 99999999999999999999 is out of range 0-65535"));
  // The error quotes the start of the value, not all of it.
  EXPECT_THAT(rejected("workers: " + std::string(100'000, '9') + "\n"),
              HasSubstr("workers: " + std::string(48, '9') +
                        "... (99952 more bytes) is out of range 1-256"));
}

// The hostile seeds of the fuzz corpus (tests/fuzz/corpus/config), read from their files as the
// daemon reads them: each is rejected with the error its shape must produce, at its position.
TEST(ConfigHostileInputTest, HostileCorpusSeedsAreRejectedWithAClearError) {
  struct Seed {
    const char* file;
    const char* error;  // the first error: "LINE:COLUMN: message"
  };
  const Seed seeds[] = {
      {"deep_flow_10k.yaml", "1:72: nesting is deeper than 64 levels"},
      {"deep_flow_mapping_10k.yaml", "1:257: nesting is deeper than 64 levels"},
      {"deep_block_sequence_10k.yaml", "1:129: nesting is deeper than 64 levels"},
      {"deep_block.yaml", "65:129: nesting is deeper than 64 levels"},
      {"alias_bomb.yaml", "1:5: anchors and aliases are not supported (&a0)"},
      {"non_utf8.yaml", "2:6: invalid UTF-8 byte 0xff; the file must be UTF-8 text (and 2 more)"},
      {"nul_bytes.yaml", "1:11: control character 0x00 (NUL); the file must be UTF-8 text"},
      {"huge_numbers.yaml", "1:10: workers: 99999999999999999999999999 is out of range 1-256"},
  };
  const std::string corpus = std::string(ECHOD_TEST_FIXTURES) + "/../fuzz/corpus/config/";
  for (const Seed& seed : seeds) {
    SCOPED_TRACE(seed.file);
    const std::string path = corpus + seed.file;
    const auto start = std::chrono::steady_clock::now();
    const ConfigLoadResult result = load_config_file(path);
    EXPECT_LT(std::chrono::steady_clock::now() - start, kTimeLimit);
    EXPECT_FALSE(result.config.has_value());
    ASSERT_FALSE(result.errors.empty());
    EXPECT_TRUE(printable_errors(result));
    EXPECT_EQ(result.errors.front().to_string(), path + ":" + seed.error);
  }
}

// Many errors at once are capped, and the rest counted.
TEST(ConfigHostileInputTest, ThousandsOfErrorsAreCapped) {
  std::string text;
  for (int i = 0; i < 20'000; ++i) text += "k" + std::to_string(i) + ": 1\n";
  EXPECT_THAT(rejected(text), HasSubstr("more errors not shown"));
}

std::string command_line_error(std::vector<std::string> arguments) {
  arguments.insert(arguments.begin(), "echod");
  std::vector<const char*> argv;
  for (const std::string& argument : arguments) argv.push_back(argument.c_str());
  argv.push_back(nullptr);
  const auto start = std::chrono::steady_clock::now();
  const CommandLineResult result =
      parse_command_line(static_cast<int>(arguments.size()), argv.data(), "/etc/echod.yaml");
  EXPECT_LT(std::chrono::steady_clock::now() - start, kTimeLimit);
  EXPECT_FALSE(result.command_line.has_value());
  EXPECT_EQ(result.error.find('\n'), std::string::npos);
  return result.error;
}

// Boost.Program_options expands placeholders in its messages until none is left: an argument
// that names one used to loop forever (cli_fuzzer found "--%original_token%workErs").
TEST(CommandLineHostileInputTest, PlaceholdersInArgumentsAreQuotedLiterally) {
  EXPECT_EQ(command_line_error({"--%original_token%"}), "unrecognised option '--%original_token%'");
  EXPECT_EQ(command_line_error({"--%canonical_option%x"}),
            "unrecognised option '--%canonical_option%x'");
  EXPECT_THAT(command_line_error({"--help=%value%"}), HasSubstr("--help"));
  EXPECT_THAT(command_line_error({"--config"}), HasSubstr("--config"));
}

TEST(CommandLineHostileInputTest, ControlBytesAndHugeValuesAreRejected) {
  EXPECT_THAT(command_line_error({"--workers", "99999999999999999999999"}),
              HasSubstr("--workers: "));
  EXPECT_THAT(command_line_error({"--listen", std::string("127.0.0.1:7\n--workers=1")}),
              HasSubstr("--listen: "));
  EXPECT_THAT(command_line_error({"--frob\x01\xff"}), HasSubstr("unrecognised option"));
  EXPECT_THAT(command_line_error({"--listen", std::string(1 << 20, '[')}), HasSubstr("--listen"));
}

}  // namespace
}  // namespace echod
