#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace echod {

// The candidate that `word` most likely misspells, for "did you mean ...?" hints. kEdits: the
// closest by edit distance (case-insensitive; a swap of two neighbours counts as one edit),
// within 1 edit for words of up to 4 characters and 2 for longer ones; ties go to the earlier
// candidate. kPrefix: the first candidate that is a prefix of `word` or has `word` as a prefix,
// both at least 3 characters long ("warning" -> "warn"). kEditsOrPrefix: kEdits, else kPrefix.
enum class MatchRule { kEdits, kPrefix, kEditsOrPrefix };
std::optional<std::string_view> closest_match(std::string_view word,
                                              std::span<const std::string_view> candidates,
                                              MatchRule rule = MatchRule::kEditsOrPrefix);

// `text` with control characters and DEL escaped as \xNN, so that a message quoting operator
// input stays on one line.
std::string printable(std::string_view text);

// printable(text) for quoting a value inside a message: past 64 bytes it is cut short and says
// how much was left out, so that a huge value does not make a huge error line.
std::string excerpt(std::string_view text);

// The first byte of `text` that no configuration file should contain: a control character other
// than tab, CR and LF, or a byte that is not part of valid UTF-8 (overlong forms and surrogates
// included). Line and column are 1-based, counted in bytes.
struct InvalidCharacter {
  int line = 0;
  int column = 0;
  std::string message;   // e.g. "control character 0x00 (NUL); the file must be UTF-8 text"
  std::size_t more = 0;  // further invalid bytes after this one
};
std::optional<InvalidCharacter> find_invalid_character(std::string_view text);

// "a, b, c".
std::string join(std::span<const std::string_view> words, std::string_view separator = ", ");

}  // namespace echod
