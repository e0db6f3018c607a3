#pragma once

// The YAML side of reading a configuration: what is checked before yaml-cpp builds any node.
// Only yaml_guards.cpp and yaml_reader.cpp include yaml-cpp.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>

#include "config/config_loader.hpp"

namespace echod {

// Every error of a file, up to kMaxConfigErrors; the rest are only counted, so that a file that
// is not a configuration at all (a log, a binary) gives a readable report, quickly.
class ErrorList {
 public:
  explicit ErrorList(std::string file) : file_(std::move(file)) {}

  void add(const YAML::Mark& mark, std::string key_path, std::string message);
  void add(int line, int column, std::string message);
  // A warning: the value is valid, and the file is accepted.
  void warn(const YAML::Mark& mark, std::string key_path, std::string message);

  [[nodiscard]] bool empty() const { return errors_.empty(); }
  // Callers may skip the work of composing messages that would be dropped.
  [[nodiscard]] bool full() const { return errors_.size() >= kMaxConfigErrors; }

  // In file order; errors about the file as a whole first.
  std::vector<ConfigError> take();
  std::vector<ConfigError> take_warnings();

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
  std::vector<ConfigError> warnings_;
  std::size_t dropped_ = 0;
};

// The text of a 0-based line.
std::string_view line_of(std::string_view text, int line);

// Checks the raw text: its size, and no control characters (yaml-cpp 0.7 takes the byte 0x04 for
// the end of input and mishandles others). False, with the errors added, when it must not be
// parsed.
bool check_config_text(std::string_view text, ErrorList& errors);

// A first pass over the parser's events, before any node is built: bounds the nesting depth,
// refuses anchors, aliases and a second document, and catches syntax errors. False, with the
// errors added, when the nodes must not be built.
bool check_yaml_events(const std::string& text, ErrorList& errors);

// The message for a YAML exception, with a hint for the mistakes unquoted addresses cause.
std::string syntax_error_message(std::string_view text, const YAML::Exception& e);

}  // namespace echod
