#include "config/text_util.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <vector>

namespace echod {
namespace {

// Longer words are not typos of any key or value echod knows; this also bounds the work done on
// hostile input.
constexpr std::size_t kMaxComparedLength = 64;

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(),
                    [](char a, char b) { return lower(a) == lower(b); });
}

// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t columns = b.size() + 1;
  std::vector<std::size_t> previous2(columns);
  std::vector<std::size_t> previous(columns);
  std::vector<std::size_t> current(columns);
  for (std::size_t j = 0; j < columns; ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j < columns; ++j) {
      const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1])) {
        current[j] = std::min(current[j], previous2[j - 2] + 1);
      }
    }
    std::swap(previous2, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

// The length of the UTF-8 sequence at the start of `text`, or 0 if it is not valid.
std::size_t utf8_sequence_length(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xbf;
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;   // overlong
    if (lead == 0xed) high = 0x9f;  // surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;   // overlong
    if (lead == 0xf4) high = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
  }
  return length;
}

void append_hex(std::string& out, unsigned char byte) {
  static constexpr std::string_view kHex = "0123456789abcdef";
  out += kHex[byte >> 4];
  out += kHex[byte & 0xf];
}

}  // namespace

std::optional<InvalidCharacter> find_invalid_character(std::string_view text) {
  std::optional<InvalidCharacter> first;
  int line = 1;
  int column = 1;
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const std::size_t length = utf8_sequence_length(text.substr(i));
    const bool control = byte < 0x20 ? byte != '\t' && byte != '\n' && byte != '\r' : byte == 0x7f;
    if (length == 0 || control) {
      if (first) {
        ++first->more;
      } else {
        std::string message = length == 0 ? "invalid UTF-8 byte 0x" : "control character 0x";
        append_hex(message, byte);
        if (byte == 0) message += " (NUL)";
        message += "; the file must be UTF-8 text";
        first = InvalidCharacter{line, column, std::move(message), 0};
      }
      ++i;
      ++column;
      continue;
    }
    if (byte == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += length;
  }
  return first;
}

std::optional<std::string_view> closest_match(std::string_view word,
                                              std::span<const std::string_view> candidates,
                                              MatchRule rule) {
  if (word.empty() || word.size() > kMaxComparedLength) return std::nullopt;
  if (rule != MatchRule::kPrefix) {
    const std::size_t max_distance = word.size() <= 4 ? 1 : 2;
    std::optional<std::string_view> best;
    std::size_t best_distance = max_distance + 1;
    for (std::string_view candidate : candidates) {
      const std::size_t distance = edit_distance(word, candidate);
      if (distance < best_distance) {
        best = candidate;
        best_distance = distance;
      }
    }
    if (best || rule == MatchRule::kEdits) return best;
  }
  for (std::string_view candidate : candidates) {
    if (std::min(word.size(), candidate.size()) < 3) continue;
    if (starts_with_ignoring_case(word, candidate) || starts_with_ignoring_case(candidate, word)) {
      return candidate;
    }
  }
  return std::nullopt;
}

std::string printable(std::string_view text) {
  std::string result;
  result.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      result += "\\x";
      append_hex(result, byte);
    } else {
      result += c;
    }
  }
  return result;
}

std::string excerpt(std::string_view text) {
  constexpr std::size_t kMaxBytes = 64;
  constexpr std::size_t kKeptBytes = 48;
  if (text.size() <= kMaxBytes) return printable(text);
  std::size_t cut = kKeptBytes;
  // Never split a UTF-8 sequence: back up to the byte that starts one.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return printable(text.substr(0, cut)) + "... (" + std::to_string(text.size() - cut) +
         " more bytes)";
}

std::string join(std::span<const std::string_view> words, std::string_view separator) {
  std::string result;
  for (std::string_view word : words) {
    if (!result.empty()) result += separator;
    result += word;
  }
  return result;
}

}  // namespace echod
