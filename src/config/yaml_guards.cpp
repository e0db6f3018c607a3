#include "config/yaml_guards.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "config/config_file.hpp"
#include "config/text_util.hpp"

namespace echod {
namespace {

// Ends the first pass early, with an error at `mark`.
class StopParsing : public std::runtime_error {
 public:
  StopParsing(const YAML::Mark& mark, const std::string& message)
      : std::runtime_error(message), mark_(mark) {}
  [[nodiscard]] const YAML::Mark& mark() const { return mark_; }

 private:
  YAML::Mark mark_;
};

// yaml-cpp parses recursively, and a file of 10,000 '[' (or "- - - ...") would exhaust the
// stack (its own guard only stops at 2000 levels). yaml-cpp emits the start event of a sequence
// or mapping before it recurses into it, so throwing here ends the parse in time, for flow
// ([, {) and block (indentation) nesting alike, which a scan of the text for brackets would not.
// It also refuses anchors and aliases, which yaml-cpp would resolve silently, and extra documents.
class EventCheck final : public YAML::EventHandler {
 public:
  EventCheck(std::string_view text, ErrorList& errors) : text_(text), errors_(errors) {}

  // Runs the parser over the first documents (a second one is an error; more add nothing).
  void run(YAML::Parser& parser) {
    while (documents_ < 3 && parser.HandleNextDocument(*this)) {
    }
    if (documents_ > 1) {
      errors_.add(second_document_, {},
                  "only one YAML document is allowed; remove the second '---'");
    }
  }

  void OnDocumentStart(const YAML::Mark& mark) override {
    // yaml-cpp 0.7 does not consume a stray ',' outside a flow collection: it reports empty
    // documents at the same position forever.
    if (documents_ > 0 && mark.pos == last_document_.pos) {
      const std::string_view line = line_of(text_, mark.line);
      const auto column = static_cast<std::size_t>(mark.column);
      const std::string_view token = column < line.size() ? line.substr(column, 1) : "";
      throw StopParsing(mark, "YAML syntax error: unexpected '" + std::string(token) + "'");
    }
    if (documents_ == 1) second_document_ = mark;
    last_document_ = mark;
    ++documents_;
    anchors_.clear();
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& /*mark*/, YAML::anchor_t /*anchor*/) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const std::string name = anchor >= 1 && anchor <= anchors_.size() ? anchors_[anchor - 1] : "";
    errors_.add(mark, {}, "anchors and aliases are not supported (*" + name + ")");
  }
  void OnScalar(const YAML::Mark& /*mark*/, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                const std::string& /*value*/) override {}
  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/,
                       YAML::anchor_t /*anchor*/, YAML::EmitterStyle::value /*style*/) override {
    enter(mark);
  }
  void OnSequenceEnd() override { --depth_; }
  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                  YAML::EmitterStyle::value /*style*/) override {
    enter(mark);
  }
  void OnMapEnd() override { --depth_; }
  void OnAnchor(const YAML::Mark& mark, const std::string& name) override {
    anchors_.push_back(name);  // yaml-cpp numbers the anchors of a document 1, 2, ...
    errors_.add(mark, {}, "anchors and aliases are not supported (&" + name + ")");
  }

 private:
  void enter(const YAML::Mark& mark) {
    if (++depth_ > kMaxConfigNestingDepth) {
      throw StopParsing(
          mark, "nesting is deeper than " + std::to_string(kMaxConfigNestingDepth) + " levels");
    }
  }

  std::string_view text_;
  ErrorList& errors_;
  int documents_ = 0;
  YAML::Mark last_document_;
  YAML::Mark second_document_;
  int depth_ = 0;
  std::vector<std::string> anchors_;
};

}  // namespace

void ErrorList::add(const YAML::Mark& mark, std::string key_path, std::string message) {
  if (full()) {
    ++dropped_;
    return;
  }
  ConfigError error{file_, 0, 0, std::move(key_path), std::move(message)};
  if (!mark.is_null()) {
    error.line = mark.line + 1;
    error.column = mark.column + 1;
  }
  errors_.push_back(std::move(error));
}

void ErrorList::add(int line, int column, std::string message) {
  errors_.push_back({file_, line, column, {}, std::move(message)});
}

void ErrorList::warn(const YAML::Mark& mark, std::string key_path, std::string message) {
  if (warnings_.size() >= kMaxConfigErrors) return;
  ConfigError warning{file_, 0, 0, std::move(key_path), "warning: " + std::move(message)};
  if (!mark.is_null()) {
    warning.line = mark.line + 1;
    warning.column = mark.column + 1;
  }
  warnings_.push_back(std::move(warning));
}

std::vector<ConfigError> ErrorList::take_warnings() { return std::move(warnings_); }

std::vector<ConfigError> ErrorList::take() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  if (dropped_ > 0) {
    errors_.push_back({file_, 0, 0, {}, std::to_string(dropped_) + " more errors not shown"});
  }
  return std::move(errors_);
}

std::string_view line_of(std::string_view text, int line) {
  std::size_t start = 0;
  for (int i = 0; i < line && start < text.size(); ++i) {
    start = std::min(text.find('\n', start), text.size()) + 1;
  }
  if (start >= text.size()) return {};
  return text.substr(start, text.find('\n', start) - start);
}

bool check_config_text(std::string_view text, ErrorList& errors) {
  if (text.size() > kMaxConfigFileBytes) {
    errors.add(0, 0, too_large_message(text.size()));
    return false;
  }
  // Nothing valid needs control characters. Only the first one is reported (a binary file would
  // give thousands).
  if (auto invalid = find_invalid_character(text)) {
    std::string message = std::move(invalid->message);
    if (invalid->more > 0) message += " (and " + std::to_string(invalid->more) + " more)";
    errors.add(invalid->line, invalid->column, std::move(message));
    return false;
  }
  return true;
}

bool check_yaml_events(const std::string& text, ErrorList& errors) {
  try {
    std::istringstream input(text);
    YAML::Parser parser(input);
    EventCheck(text, errors).run(parser);
  } catch (const StopParsing& e) {
    errors.add(e.mark(), {}, e.what());
    return false;
  } catch (const YAML::Exception& e) {
    errors.add(e.mark, {}, syntax_error_message(text, e));
    return false;
  }
  return true;
}

// "- [::1]:7" starts a flow sequence, "- *:7" an alias.
std::string syntax_error_message(std::string_view text, const YAML::Exception& e) {
  std::string message = "YAML syntax error: " + e.msg;
  const std::string_view line = e.mark.is_null() ? std::string_view() : line_of(text, e.mark.line);
  if (line.find('[') != std::string_view::npos && line.find("]:") != std::string_view::npos) {
    message += "; quote addresses in brackets, e.g. \"[::1]:7\"";
  } else if (e.msg == YAML::ErrorMsg::UNKNOWN_ANCHOR) {
    message += "; quote values that start with '*', e.g. \"*:7\"";
  } else if (e.msg == YAML::ErrorMsg::END_OF_MAP_FLOW) {
    message += "; is a '{' not closed?";
  } else if (e.msg == YAML::ErrorMsg::END_OF_SEQ_FLOW) {
    message += "; is a '[' not closed?";
  } else if (line.find('\t') < line.find_first_not_of(" \t")) {
    message += "; indent with spaces, not tabs";
  }
  return message;
}

}  // namespace echod
