#include "config/units.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>

#include "config/text_util.hpp"

namespace echod {
namespace {

constexpr std::array<std::string_view, 7> kLogLevelNames{"trace", "debug",    "info", "warn",
                                                         "error", "critical", "off"};
constexpr std::array<std::string_view, 3> kLogTargetNames{"auto", "journal", "stderr"};

// Lower-cased spellings that are not accepted as written (wrong case, decimal or long forms),
// each with the unit the writer most likely meant, for the error message.
struct UnitName {
  std::string_view spelling;
  std::string_view canonical;  // empty: not a unit echod supports
};

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

constexpr std::array<Unit, 4> kDurationUnits{
    {{"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000}}};

constexpr auto kDurationSpellings = std::to_array<UnitName>({
    {"ms", "ms"}, {"msec", "ms"}, {"msecs", "ms"}, {"millis", "ms"}, {"s", "s"},
    {"sec", "s"}, {"secs", "s"},  {"second", "s"}, {"seconds", "s"}, {"m", "m"},
    {"min", "m"}, {"mins", "m"},  {"minute", "m"}, {"minutes", "m"}, {"h", "h"},
    {"hr", "h"},  {"hrs", "h"},   {"hour", "h"},   {"hours", "h"},   {"d", ""},
    {"day", ""},  {"days", ""},
});

constexpr std::array<Unit, 5> kSizeUnits{
    {{"", 1}, {"B", 1}, {"KiB", 1024}, {"MiB", 1024 * 1024}, {"GiB", 1024 * 1024 * 1024}}};

constexpr auto kSizeSpellings = std::to_array<UnitName>({
    {"b", "B"},
    {"byte", ""},
    {"bytes", ""},
    {"k", "KiB"},
    {"kb", "KiB"},
    {"kib", "KiB"},
    {"ki", "KiB"},
    {"m", "MiB"},
    {"mb", "MiB"},
    {"mib", "MiB"},
    {"mi", "MiB"},
    {"g", "GiB"},
    {"gb", "GiB"},
    {"gib", "GiB"},
    {"gi", "GiB"},
});

std::string quoted(std::string_view text) { return "'" + excerpt(text) + "'"; }

std::string to_lower(std::string_view text) {
  std::string result(text);
  std::transform(result.begin(), result.end(), result.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return result;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

struct Quantity {
  std::uint64_t value = 0;
  std::string_view digits;
  std::string_view unit;
};

// Splits "16KiB" into 16 and "KiB", refusing what no unit could make valid.
std::optional<Quantity> split_quantity(std::string_view text, std::string_view what,
                                       std::string_view example, std::string& error) {
  if (text.empty()) {
    error = "missing value; expected a " + std::string(what) + ", e.g. " + std::string(example);
    return std::nullopt;
  }
  if (text.front() == '-' && text.size() > 1 && is_digit(text[1])) {
    error = quoted(text) + ": a " + std::string(what) + " cannot be negative";
    return std::nullopt;
  }
  const auto digits_end = std::find_if_not(text.begin(), text.end(), is_digit);
  Quantity quantity;
  quantity.digits = text.substr(0, static_cast<std::size_t>(digits_end - text.begin()));
  quantity.unit = text.substr(quantity.digits.size());
  if (quantity.digits.empty()) {
    error = quoted(text) + " is not a " + std::string(what) + "; expected a whole number and a " +
            "unit, e.g. " + std::string(example);
    return std::nullopt;
  }
  if (!quantity.unit.empty() && (quantity.unit.front() == '.' || quantity.unit.front() == ',') &&
      quantity.unit.size() > 1 && is_digit(quantity.unit[1])) {
    error = quoted(text) + ": fractions are not supported; use a whole number of a smaller unit";
    return std::nullopt;
  }
  auto [end, ec] = std::from_chars(quantity.digits.data(),
                                   quantity.digits.data() + quantity.digits.size(), quantity.value);
  if (ec != std::errc()) {
    error = quoted(text) + " is too large";
    return std::nullopt;
  }
  if (!quantity.unit.empty() && quantity.unit.front() == ' ') {
    std::string_view unit = quantity.unit;
    unit.remove_prefix(std::min(unit.find_first_not_of(' '), unit.size()));
    error = quoted(text) + ": write the number and the unit without a space: " +
            quoted(std::string(quantity.digits) + std::string(unit));
    return std::nullopt;
  }
  return quantity;
}

std::optional<std::uint64_t> multiply(std::uint64_t value, std::uint64_t factor,
                                      std::uint64_t max) {
  if (factor != 0 && value > max / factor) return std::nullopt;
  return value * factor;
}

enum class NumberCheck { kValid, kNotANumber, kOutOfRange };

// Digits only (no sign, no spaces); a minus sign followed by digits is out of range.
NumberCheck parse_whole_number(std::string_view text, std::uint64_t min, std::uint64_t max,
                               std::uint64_t& value) {
  const bool negative = !text.empty() && text.front() == '-';
  const std::string_view digits = negative ? text.substr(1) : text;
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), is_digit)) {
    return NumberCheck::kNotANumber;
  }
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (negative || ec != std::errc() || value < min || value > max) return NumberCheck::kOutOfRange;
  return NumberCheck::kValid;
}

std::string did_you_mean(const Quantity& quantity, std::string_view unit) {
  return "; did you mean " + quoted(std::string(quantity.digits) + std::string(unit)) + "?";
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, std::string& error) {
  auto quantity = split_quantity(text, "duration", "10s", error);
  if (!quantity) return std::nullopt;
  if (quantity->unit.empty()) {
    error = quoted(text) + " has no unit; durations need one of ms, s, m, h, e.g. " +
            quoted(std::string(quantity->digits) + "s");
    return std::nullopt;
  }
  for (const Unit& unit : kDurationUnits) {
    if (quantity->unit != unit.name) continue;
    auto value = multiply(quantity->value, unit.factor,
                          static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
    if (!value) {
      error = quoted(text) + " is too large";
      return std::nullopt;
    }
    return std::chrono::milliseconds(static_cast<std::int64_t>(*value));
  }
  const std::string unit = to_lower(quantity->unit);
  const std::string prefix = quoted(text) + ": unknown unit " + quoted(quantity->unit);
  if (unit == "us" || unit == "ns" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") {
    error = quoted(text) + ": durations finer than 1ms are not supported";
    return std::nullopt;
  }
  for (const UnitName& spelling : kDurationSpellings) {
    if (unit != spelling.spelling) continue;
    if (spelling.canonical.empty()) {
      error = quoted(text) + ": days are not supported; use hours, e.g. '24h'";
    } else {
      error = prefix + did_you_mean(*quantity, spelling.canonical);
    }
    return std::nullopt;
  }
  error = prefix + "; use ms, s, m or h";
  return std::nullopt;
}

std::optional<std::size_t> parse_size(std::string_view text, std::string& error) {
  auto quantity = split_quantity(text, "size", "16KiB", error);
  if (!quantity) return std::nullopt;
  for (const Unit& unit : kSizeUnits) {
    if (quantity->unit != unit.name) continue;
    auto value = multiply(quantity->value, unit.factor, std::numeric_limits<std::size_t>::max());
    if (!value) {
      error = quoted(text) + " is too large";
      return std::nullopt;
    }
    return static_cast<std::size_t>(*value);
  }
  const std::string unit = to_lower(quantity->unit);
  const std::string prefix = quoted(text) + ": unknown unit " + quoted(quantity->unit);
  for (const UnitName& spelling : kSizeSpellings) {
    if (unit != spelling.spelling) continue;
    if (spelling.canonical.empty()) {
      error = prefix + did_you_mean(*quantity, "") + " (a plain number is a number of bytes)";
    } else if (spelling.canonical == "B") {
      error = prefix + did_you_mean(*quantity, "B");
    } else {
      error = prefix + did_you_mean(*quantity, spelling.canonical) +
              " (sizes use binary units: 1KiB = 1024 bytes)";
    }
    return std::nullopt;
  }
  error = prefix + "; use KiB, MiB or GiB, or no unit for bytes";
  return std::nullopt;
}

std::optional<std::uint64_t> parse_count(std::string_view text, std::uint64_t min,
                                         std::uint64_t max, std::string& error) {
  const std::string range = std::to_string(min) + "-" + std::to_string(max);
  if (text.empty()) {
    error = "missing value; expected a number " + range;
    return std::nullopt;
  }
  std::uint64_t value = 0;
  switch (parse_whole_number(text, min, max, value)) {
    case NumberCheck::kValid:
      return value;
    case NumberCheck::kNotANumber:
      error = quoted(text) + " is not a whole number";
      return std::nullopt;
    case NumberCheck::kOutOfRange:
      break;
  }
  error = excerpt(text) + " is out of range " + range;
  return std::nullopt;
}

std::optional<WorkerCount> parse_worker_count(std::string_view text, std::string& error) {
  if (text == "auto") return WorkerCount{};
  const std::string range = "1-" + std::to_string(WorkerCount::kMaxWorkers);
  if (text.empty()) {
    error = "missing value; expected 'auto' or a number " + range;
    return std::nullopt;
  }
  std::uint64_t value = 0;
  switch (parse_whole_number(text, 1, WorkerCount::kMaxWorkers, value)) {
    case NumberCheck::kValid:
      return WorkerCount{false, static_cast<unsigned>(value)};
    case NumberCheck::kNotANumber: {
      error = quoted(text) + " is not a number or 'auto'";
      constexpr std::array<std::string_view, 1> kAuto{"auto"};
      if (closest_match(text, kAuto)) error += "; did you mean 'auto'?";
      return std::nullopt;
    }
    case NumberCheck::kOutOfRange:
      break;
  }
  error = excerpt(text) + " is out of range " + range;
  return std::nullopt;
}

std::optional<LogLevel> parse_log_level(std::string_view text) {
  for (std::size_t i = 0; i < kLogLevelNames.size(); ++i) {
    if (text == kLogLevelNames[i]) return static_cast<LogLevel>(i);
  }
  return std::nullopt;
}

std::optional<LogLevel> parse_log_level(std::string_view text, std::string& error) {
  auto level = parse_log_level(text);
  if (!level) {
    error = "unknown log level " + quoted(text);
    if (auto match = closest_match(text, kLogLevelNames)) {
      error += "; did you mean " + quoted(*match) + "?";
    } else {
      error += "; expected one of " + join(kLogLevelNames);
    }
  }
  return level;
}

std::optional<LogTarget> parse_log_target(std::string_view text, std::string& error) {
  for (std::size_t i = 0; i < kLogTargetNames.size(); ++i) {
    if (text == kLogTargetNames[i]) return static_cast<LogTarget>(i);
  }
  error = "unknown log target " + quoted(text);
  if (auto match = closest_match(text, kLogTargetNames)) {
    error += "; did you mean " + quoted(*match) + "?";
  } else {
    error += "; expected one of " + join(kLogTargetNames);
  }
  return std::nullopt;
}

std::string_view to_string(LogLevel level) {
  const auto index = static_cast<std::size_t>(level);
  return index < kLogLevelNames.size() ? kLogLevelNames[index] : "?";
}

std::string_view to_string(LogTarget target) {
  const auto index = static_cast<std::size_t>(target);
  return index < kLogTargetNames.size() ? kLogTargetNames[index] : "?";
}

std::string format_duration(std::chrono::milliseconds duration) {
  const std::int64_t count = duration.count();
  if (count == 0) return "0s";
  for (auto unit = kDurationUnits.rbegin(); unit != kDurationUnits.rend(); ++unit) {
    const auto factor = static_cast<std::int64_t>(unit->factor);
    if (count % factor == 0) return std::to_string(count / factor) + std::string(unit->name);
  }
  return std::to_string(count) + "ms";
}

std::string format_size(std::size_t bytes) {
  if (bytes == 0) return "0";
  for (auto unit = kSizeUnits.rbegin(); unit != kSizeUnits.rend(); ++unit) {
    if (unit->factor > 1 && bytes % unit->factor == 0) {
      return std::to_string(bytes / unit->factor) + std::string(unit->name);
    }
  }
  return std::to_string(bytes);
}

std::string format_worker_count(const WorkerCount& workers) {
  return workers.automatic ? "auto" : std::to_string(workers.count);
}

}  // namespace echod
