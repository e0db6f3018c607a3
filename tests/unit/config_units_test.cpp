#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "config/text_util.hpp"
#include "config/units.hpp"

namespace echod {
namespace {

using namespace std::chrono_literals;
using namespace std::string_view_literals;

std::string duration_error(std::string_view text) {
  std::string error;
  auto value = parse_duration(text, error);
  EXPECT_FALSE(value) << text << " parsed as " << value->count() << "ms";
  return error;
}

std::string size_error(std::string_view text) {
  std::string error;
  auto value = parse_size(text, error);
  EXPECT_FALSE(value) << text << " parsed as " << *value;
  return error;
}

std::string workers_error(std::string_view text) {
  std::string error;
  auto value = parse_worker_count(text, error);
  EXPECT_FALSE(value) << text << " parsed";
  return error;
}

TEST(ParseDurationTest, AcceptsEveryUnit) {
  struct Case {
    std::string_view text;
    std::chrono::milliseconds expected;
  };
  for (const Case& c : {Case{"0s", 0ms}, Case{"0ms", 0ms}, Case{"500ms", 500ms}, Case{"30s", 30s},
                        Case{"5m", 5min}, Case{"1h", 1h}, Case{"90m", 90min}, Case{"007s", 7s}}) {
    std::string error;
    EXPECT_EQ(parse_duration(c.text, error), c.expected) << c.text << ": " << error;
    EXPECT_EQ(error, "");
  }
}

TEST(ParseDurationTest, AcceptsTheLargestRepresentableValue) {
  std::string error;
  EXPECT_EQ(parse_duration("9223372036854775807ms", error),
            std::chrono::milliseconds(std::numeric_limits<std::int64_t>::max()));
}

TEST(ParseDurationTest, RejectsBareNumbersWithAHint) {
  EXPECT_EQ(duration_error("30"),
            "'30' has no unit; durations need one of ms, s, m, h, e.g. '30s'");
}

TEST(ParseDurationTest, SuggestsTheUnitMeant) {
  EXPECT_EQ(duration_error("30sec"), "'30sec': unknown unit 'sec'; did you mean '30s'?");
  EXPECT_EQ(duration_error("5min"), "'5min': unknown unit 'min'; did you mean '5m'?");
  EXPECT_EQ(duration_error("2hours"), "'2hours': unknown unit 'hours'; did you mean '2h'?");
  EXPECT_EQ(duration_error("10MS"), "'10MS': unknown unit 'MS'; did you mean '10ms'?");
  EXPECT_EQ(duration_error("1S"), "'1S': unknown unit 'S'; did you mean '1s'?");
  EXPECT_EQ(duration_error("2d"), "'2d': days are not supported; use hours, e.g. '24h'");
  EXPECT_EQ(duration_error("500us"), "'500us': durations finer than 1ms are not supported");
  EXPECT_EQ(duration_error("5x"), "'5x': unknown unit 'x'; use ms, s, m or h");
}

TEST(ParseDurationTest, RejectsMalformedValues) {
  EXPECT_EQ(duration_error(""), "missing value; expected a duration, e.g. 10s");
  EXPECT_EQ(duration_error("-5s"), "'-5s': a duration cannot be negative");
  EXPECT_EQ(duration_error("1.5s"),
            "'1.5s': fractions are not supported; use a whole number of a smaller unit");
  EXPECT_EQ(duration_error("30 s"), "'30 s': write the number and the unit without a space: '30s'");
  EXPECT_EQ(duration_error("s"),
            "'s' is not a duration; expected a whole number and a unit, e.g. 10s");
  EXPECT_EQ(duration_error("+5s"),
            "'+5s' is not a duration; expected a whole number and a unit, e.g. 10s");
  EXPECT_EQ(duration_error(" 5s"),
            "' 5s' is not a duration; expected a whole number and a unit, e.g. 10s");
}

TEST(ParseDurationTest, DetectsOverflow) {
  EXPECT_EQ(duration_error("99999999999999999999s"), "'99999999999999999999s' is too large");
  EXPECT_EQ(duration_error("9223372036854775808ms"), "'9223372036854775808ms' is too large");
  EXPECT_EQ(duration_error("9223372036854776s"), "'9223372036854776s' is too large");
  EXPECT_EQ(duration_error("2562047788015216h"), "'2562047788015216h' is too large");
}

TEST(ParseSizeTest, AcceptsBytesAndBinaryUnits) {
  struct Case {
    std::string_view text;
    std::size_t expected;
  };
  for (const Case& c : {Case{"0", 0}, Case{"512", 512}, Case{"512B", 512}, Case{"16KiB", 16384},
                        Case{"1MiB", 1048576}, Case{"1GiB", 1073741824},
                        Case{"18446744073709551615", std::numeric_limits<std::size_t>::max()},
                        Case{"17179869183GiB", 17179869183ULL << 30}}) {
    std::string error;
    EXPECT_EQ(parse_size(c.text, error), c.expected) << c.text << ": " << error;
    EXPECT_EQ(error, "");
  }
}

TEST(ParseSizeTest, RejectsDecimalAndAmbiguousUnitsWithAHint) {
  const std::string hint = " (sizes use binary units: 1KiB = 1024 bytes)";
  EXPECT_EQ(size_error("16K"), "'16K': unknown unit 'K'; did you mean '16KiB'?" + hint);
  EXPECT_EQ(size_error("16KB"), "'16KB': unknown unit 'KB'; did you mean '16KiB'?" + hint);
  EXPECT_EQ(size_error("16kb"), "'16kb': unknown unit 'kb'; did you mean '16KiB'?" + hint);
  EXPECT_EQ(size_error("16kib"), "'16kib': unknown unit 'kib'; did you mean '16KiB'?" + hint);
  EXPECT_EQ(size_error("2MB"), "'2MB': unknown unit 'MB'; did you mean '2MiB'?" + hint);
  EXPECT_EQ(size_error("1G"), "'1G': unknown unit 'G'; did you mean '1GiB'?" + hint);
  EXPECT_EQ(size_error("512b"), "'512b': unknown unit 'b'; did you mean '512B'?");
  EXPECT_EQ(size_error("512bytes"),
            "'512bytes': unknown unit 'bytes'; did you mean '512'? (a plain number is a number "
            "of bytes)");
  EXPECT_EQ(size_error("1TiB"),
            "'1TiB': unknown unit 'TiB'; use KiB, MiB or GiB, or no unit for "
            "bytes");
}

TEST(ParseSizeTest, RejectsMalformedValues) {
  EXPECT_EQ(size_error(""), "missing value; expected a size, e.g. 16KiB");
  EXPECT_EQ(size_error("-1"), "'-1': a size cannot be negative");
  EXPECT_EQ(size_error("1.5MiB"),
            "'1.5MiB': fractions are not supported; use a whole number of a smaller unit");
  EXPECT_EQ(size_error("16 KiB"),
            "'16 KiB': write the number and the unit without a space: '16KiB'");
  EXPECT_EQ(size_error("KiB"),
            "'KiB' is not a size; expected a whole number and a unit, e.g. 16KiB");
  EXPECT_EQ(size_error("0x10"),
            "'0x10': unknown unit 'x10'; use KiB, MiB or GiB, or no unit for "
            "bytes");
}

TEST(ParseSizeTest, DetectsOverflow) {
  EXPECT_EQ(size_error("18446744073709551616"), "'18446744073709551616' is too large");
  EXPECT_EQ(size_error("17179869184GiB"), "'17179869184GiB' is too large");
  EXPECT_EQ(size_error("18014398509481984KiB"), "'18014398509481984KiB' is too large");
}

TEST(FormatTest, SizesUseTheLargestExactUnit) {
  EXPECT_EQ(format_size(0), "0");
  EXPECT_EQ(format_size(1000), "1000");
  EXPECT_EQ(format_size(1024), "1KiB");
  EXPECT_EQ(format_size(1536), "1536");
  EXPECT_EQ(format_size(16384), "16KiB");
  EXPECT_EQ(format_size(1536 * 1024), "1536KiB");
  EXPECT_EQ(format_size(64 * 1024 * 1024), "64MiB");
  EXPECT_EQ(format_size(std::size_t{3} << 30), "3GiB");
}

TEST(FormatTest, DurationsUseTheLargestExactUnit) {
  EXPECT_EQ(format_duration(0ms), "0s");
  EXPECT_EQ(format_duration(1ms), "1ms");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(10s), "10s");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(60s), "1m");
  EXPECT_EQ(format_duration(90min), "90m");
  EXPECT_EQ(format_duration(120min), "2h");
}

TEST(FormatTest, FormattedValuesParseBack) {
  for (std::size_t bytes : {std::size_t{0}, std::size_t{1}, std::size_t{1023}, std::size_t{1024},
                            std::size_t{65536}, std::size_t{3} << 20, std::size_t{5} << 30}) {
    std::string error;
    EXPECT_EQ(parse_size(format_size(bytes), error), bytes) << error;
  }
  for (auto duration : {0ms, 1ms, 999ms, 1000ms, 61000ms, 3600000ms, 86400000ms}) {
    std::string error;
    EXPECT_EQ(parse_duration(format_duration(duration), error), duration) << error;
  }
}

TEST(ParseWorkerCountTest, AcceptsAutoAndTheRange) {
  std::string error;
  auto automatic = parse_worker_count("auto", error);
  ASSERT_TRUE(automatic);
  EXPECT_TRUE(automatic->automatic);
  for (auto [text, count] :
       {std::pair{"1"sv, 1U}, std::pair{"8"sv, 8U}, std::pair{"256"sv, 256U}}) {
    auto workers = parse_worker_count(text, error);
    ASSERT_TRUE(workers) << text;
    EXPECT_FALSE(workers->automatic);
    EXPECT_EQ(workers->count, count);
    EXPECT_EQ(format_worker_count(*workers), text);
  }
  EXPECT_EQ(format_worker_count(WorkerCount{}), "auto");
}

TEST(ParseWorkerCountTest, RejectsOutOfRangeAndNonNumbers) {
  EXPECT_EQ(workers_error("0"), "0 is out of range 1-256");
  EXPECT_EQ(workers_error("257"), "257 is out of range 1-256");
  EXPECT_EQ(workers_error("-1"), "-1 is out of range 1-256");
  EXPECT_EQ(workers_error("99999999999999999999999"),
            "99999999999999999999999 is out of range 1-256");
  EXPECT_EQ(workers_error("x"), "'x' is not a number or 'auto'");
  EXPECT_EQ(workers_error("+4"), "'+4' is not a number or 'auto'");
  EXPECT_EQ(workers_error("4 "), "'4 ' is not a number or 'auto'");
  EXPECT_EQ(workers_error("Auto"), "'Auto' is not a number or 'auto'; did you mean 'auto'?");
  EXPECT_EQ(workers_error(""), "missing value; expected 'auto' or a number 1-256");
}

TEST(ParseCountTest, AcceptsTheRangeOnly) {
  std::string error;
  EXPECT_EQ(parse_count("0", 0, 10, error), 0U);
  EXPECT_EQ(parse_count("10", 0, 10, error), 10U);
  EXPECT_FALSE(parse_count("11", 0, 10, error));
  EXPECT_EQ(error, "11 is out of range 0-10");
  EXPECT_FALSE(parse_count("0", 1, 10, error));
  EXPECT_EQ(error, "0 is out of range 1-10");
  EXPECT_FALSE(parse_count("-3", 0, 10, error));
  EXPECT_EQ(error, "-3 is out of range 0-10");
  EXPECT_FALSE(parse_count("10k", 0, 10, error));
  EXPECT_EQ(error, "'10k' is not a whole number");
  EXPECT_FALSE(parse_count("", 0, 10, error));
  EXPECT_EQ(error, "missing value; expected a number 0-10");
}

TEST(LogLevelTest, EveryNameRoundTrips) {
  for (auto level : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn,
                     LogLevel::kError, LogLevel::kCritical, LogLevel::kOff}) {
    EXPECT_EQ(parse_log_level(to_string(level)), level) << to_string(level);
  }
  EXPECT_EQ(to_string(LogLevel::kWarn), "warn");
  EXPECT_EQ(to_string(LogLevel::kCritical), "critical");
}

TEST(LogLevelTest, ExplainsUnknownLevels) {
  std::string error;
  EXPECT_FALSE(parse_log_level("warning", error));
  EXPECT_EQ(error, "unknown log level 'warning'; did you mean 'warn'?");
  EXPECT_FALSE(parse_log_level("INFO", error));
  EXPECT_EQ(error, "unknown log level 'INFO'; did you mean 'info'?");
  EXPECT_FALSE(parse_log_level("verbose", error));
  EXPECT_EQ(error,
            "unknown log level 'verbose'; expected one of trace, debug, info, warn, error, "
            "critical, off");
  EXPECT_FALSE(parse_log_level(""));
}

TEST(LogTargetTest, ParsesAndExplains) {
  std::string error;
  EXPECT_EQ(parse_log_target("auto", error), LogTarget::kAuto);
  EXPECT_EQ(parse_log_target("journal", error), LogTarget::kJournal);
  EXPECT_EQ(parse_log_target("stderr", error), LogTarget::kStderr);
  EXPECT_EQ(to_string(LogTarget::kJournal), "journal");
  EXPECT_FALSE(parse_log_target("journald", error));
  EXPECT_EQ(error, "unknown log target 'journald'; did you mean 'journal'?");
  EXPECT_FALSE(parse_log_target("syslog", error));
  EXPECT_EQ(error, "unknown log target 'syslog'; expected one of auto, journal, stderr");
}

TEST(ClosestMatchTest, FindsLikelyTypos) {
  constexpr std::array<std::string_view, 3> kKeys{"io_buffer", "max_pending_output", "access"};
  EXPECT_EQ(closest_match("io_bufer", kKeys), "io_buffer");
  EXPECT_EQ(closest_match("io_buffre", kKeys), "io_buffer");  // one swap
  EXPECT_EQ(closest_match("IO_BUFFER", kKeys), "io_buffer");
  EXPECT_EQ(closest_match("acess", kKeys), "access");
  EXPECT_EQ(closest_match("max_pending", kKeys), "max_pending_output");  // prefix
  EXPECT_EQ(closest_match("max_pending", kKeys, MatchRule::kEdits), std::nullopt);
  EXPECT_EQ(closest_match("io_bufer", kKeys, MatchRule::kPrefix), std::nullopt);
  EXPECT_EQ(closest_match("timeout", kKeys), std::nullopt);
  EXPECT_EQ(closest_match("", kKeys), std::nullopt);
  EXPECT_EQ(closest_match(std::string(100000, 'a'), kKeys), std::nullopt);
}

TEST(ClosestMatchTest, ShortWordsAllowOneEditOnly) {
  constexpr std::array<std::string_view, 2> kWords{"log", "off"};
  EXPECT_EQ(closest_match("lgo", kWords), "log");
  EXPECT_EQ(closest_match("of", kWords), "off");
  EXPECT_EQ(closest_match("xyz", kWords), std::nullopt);
}

TEST(PrintableTest, EscapesControlCharacters) {
  EXPECT_EQ(printable("plain text"), "plain text");
  EXPECT_EQ(printable("a\nb\tc\x7f"sv), "a\\x0ab\\x09c\\x7f");
  EXPECT_EQ(printable("\0"sv), "\\x00");
  EXPECT_EQ(printable("caf\xc3\xa9"), "caf\xc3\xa9");
}

TEST(ExcerptTest, CutsLongTextShortWithoutSplittingACharacter) {
  EXPECT_EQ(excerpt(std::string(64, '9')), std::string(64, '9'));
  EXPECT_EQ(excerpt("a\nb"), "a\\x0ab");
  EXPECT_EQ(excerpt(std::string(100'000, '9')), std::string(48, '9') + "... (99952 more bytes)");
  // 47 ASCII bytes then a two-byte character that straddles the cut: it goes whole.
  std::string text = std::string(47, 'a') + "\xc3\xa9" + std::string(30, 'b');
  EXPECT_EQ(excerpt(text), std::string(47, 'a') + "... (32 more bytes)");
}

TEST(FindInvalidCharacterTest, AcceptsTextAndUtf8) {
  EXPECT_FALSE(find_invalid_character(""));
  EXPECT_FALSE(find_invalid_character("a: b\r\n\tc # caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n"));
}

TEST(FindInvalidCharacterTest, ReportsTheFirstBadByteWithItsPosition) {
  auto nul = find_invalid_character("ab\ncd\0e\0"sv);
  ASSERT_TRUE(nul);
  EXPECT_EQ(nul->line, 2);
  EXPECT_EQ(nul->column, 3);
  EXPECT_EQ(nul->message, "control character 0x00 (NUL); the file must be UTF-8 text");
  EXPECT_EQ(nul->more, 1U);

  auto eot = find_invalid_character("x\x04");
  ASSERT_TRUE(eot);
  EXPECT_EQ(eot->message, "control character 0x04; the file must be UTF-8 text");
  EXPECT_EQ(eot->column, 2);
}

TEST(FindInvalidCharacterTest, RejectsInvalidUtf8) {
  for (std::string_view text : {"\xff"sv, "\xc0\xaf"sv, "\xe0\x80\xaf"sv, "\xed\xa0\x80"sv,
                                "\xf4\x90\x80\x80"sv, "\xc3"sv, "\xe2\x82"sv, "\x80"sv}) {
    auto invalid = find_invalid_character(text);
    ASSERT_TRUE(invalid) << printable(text);
    EXPECT_EQ(invalid->line, 1);
    EXPECT_EQ(invalid->column, 1);
    EXPECT_TRUE(invalid->message.starts_with("invalid UTF-8 byte 0x")) << invalid->message;
  }
}

}  // namespace
}  // namespace echod
