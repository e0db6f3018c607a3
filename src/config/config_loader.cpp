#include "config/config_loader.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <span>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <utility>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "config/text_util.hpp"
#include "sys/cidr.hpp"
#include "sys/system_error.hpp"
#include "sys/unique_fd.hpp"

namespace echod {
namespace {

// Every key, for suggestions when a key is put in the wrong section ("level" at the top).
constexpr auto kAllKeyPaths = std::to_array<std::string_view>({
    "listen",
    "workers",
    "log.level",
    "log.target",
    "limits.io_buffer",
    "limits.max_pending_output",
    "limits.max_connections",
    "limits.max_connections_per_ip",
    "limits.accept_rate_per_ip",
    "limits.accept_burst_per_ip",
    "limits.exempt",
    "limits.idle_timeout",
    "limits.send_stall_timeout",
    "limits.access",
    "limits.access.allow",
    "limits.access.deny",
    "metrics",
    "metrics.enabled",
    "metrics.listen",
    "shutdown_timeout",
});

// Every error of a file, up to kMaxConfigErrors; the rest are only counted, so that a file that
// is not a configuration at all (a log, a binary) gives a readable report, quickly.
class ErrorList {
 public:
  explicit ErrorList(std::string file) : file_(std::move(file)) {}

  void add(const YAML::Mark& mark, std::string key_path, std::string message) {
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
  void add(int line, int column, std::string message) {
    errors_.push_back({file_, line, column, {}, std::move(message)});
  }

  [[nodiscard]] bool empty() const { return errors_.empty(); }
  // Callers may skip the work of composing messages that would be dropped.
  [[nodiscard]] bool full() const { return errors_.size() >= kMaxConfigErrors; }

  // In file order; errors about the file as a whole first.
  std::vector<ConfigError> take() {
    std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
      return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    if (dropped_ > 0) {
      errors_.push_back({file_, 0, 0, {}, std::to_string(dropped_) + " more errors not shown"});
    }
    return std::move(errors_);
  }

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
  std::size_t dropped_ = 0;
};

// The text of a 0-based line.
std::string_view line_of(std::string_view text, int line) {
  std::size_t start = 0;
  for (int i = 0; i < line && start < text.size(); ++i) {
    start = std::min(text.find('\n', start), text.size()) + 1;
  }
  if (start >= text.size()) return {};
  return text.substr(start, text.find('\n', start) - start);
}

// Ends the first pass early, with an error at `mark`.
class StopParsing : public std::runtime_error {
 public:
  StopParsing(const YAML::Mark& mark, const std::string& message)
      : std::runtime_error(message), mark_(mark) {}
  [[nodiscard]] const YAML::Mark& mark() const { return mark_; }

 private:
  YAML::Mark mark_;
};

// A first pass over the parser's events, before any node is built. It bounds the nesting depth:
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

// yaml-cpp's message, with a hint for the mistakes unquoted addresses cause: "- [::1]:7" starts
// a flow sequence, "- *:7" an alias.
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

std::string kind_of(const YAML::Node& node) {
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "'" + excerpt(node.Scalar()) + "'";
}

// yaml-cpp gives an empty list item ("-" alone on its line) the position of the token after it.
// Looks back for the "-" itself, past blank and comment lines; returns `mark` if not found.
YAML::Mark empty_item_mark(std::string_view text, const YAML::Mark& mark) {
  if (mark.is_null()) return mark;
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; lines.size() <= static_cast<std::size_t>(mark.line);) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    lines.push_back(text.substr(start, end - start));
    if (end == text.size()) break;
    start = end + 1;
  }
  for (int line = std::min(mark.line, static_cast<int>(lines.size()) - 1); line >= 0; --line) {
    std::string_view content = lines[static_cast<std::size_t>(line)];
    if (line == mark.line) content = content.substr(0, static_cast<std::size_t>(mark.column));
    const std::size_t comment = content.find(" #");
    if (comment != std::string_view::npos) content = content.substr(0, comment);
    if (!content.empty() && content.front() == '#') content = {};
    const std::size_t last = content.find_last_not_of(" \t\r");
    if (last == std::string_view::npos) continue;
    if (content[last] != '-' ||
        (last > 0 && content[last - 1] != ' ' && content[last - 1] != '\t')) {
      return mark;
    }
    YAML::Mark found = mark;
    found.line = line;
    found.column = static_cast<int>(last);
    return found;
  }
  return mark;
}

// A key and its value inside a mapping.
struct Entry {
  YAML::Node key;
  YAML::Node value;
  std::string path;

  // An empty value ("workers:") has the position of whatever follows; point at the key instead.
  [[nodiscard]] YAML::Mark value_mark() const {
    return value.IsNull() || value.Mark().is_null() ? key.Mark() : value.Mark();
  }
};

// The second pass: walks the node tree and fills a Config, reporting every problem it finds.
class ConfigReader {
 public:
  ConfigReader(std::string_view text, ErrorList& errors) : text_(text), errors_(errors) {}

  Config read(const YAML::Node& root) {
    if (root.IsNull()) return config_;  // an empty file, or only comments
    if (!root.IsMap()) {
      errors_.add(root.Mark(), {}, "expected settings as 'key: value' lines, e.g. 'workers: 4'");
      return config_;
    }
    static constexpr auto kKeys = std::to_array<Key>({
        {"listen", &ConfigReader::read_listen},
        {"workers", &ConfigReader::read_workers},
        {"log", &ConfigReader::read_log},
        {"limits", &ConfigReader::read_limits},
        {"metrics", &ConfigReader::read_metrics},
        {"shutdown_timeout", &ConfigReader::read_shutdown_timeout},
    });
    read_mapping(root, "", kKeys);
    check_metrics_listen();
    return config_;
  }

 private:
  using Reader = void (ConfigReader::*)(const Entry&);
  struct Key {
    std::string_view name;
    Reader read;
  };

  static std::vector<std::string_view> names_of(std::span<const Key> keys) {
    std::vector<std::string_view> names;
    for (const Key& key : keys) names.push_back(key.name);
    return names;
  }

  void read_mapping(const YAML::Node& map, const std::string& path, std::span<const Key> keys) {
    std::unordered_map<std::string, int> seen;  // key -> line
    for (auto it = map.begin(); it != map.end(); ++it) {
      Entry entry{it->first, it->second, {}};
      if (!entry.key.IsScalar()) {
        const YAML::Mark mark = entry.key.Mark().is_null() ? map.Mark() : entry.key.Mark();
        errors_.add(mark, path, "expected a key name, not " + kind_of(entry.key));
        continue;
      }
      const std::string& name = entry.key.Scalar();
      entry.path = path.empty() ? name : std::string(path).append(".").append(name);
      auto [previous, first] = seen.try_emplace(name, entry.key.Mark().line + 1);
      if (!first) {
        errors_.add(entry.key.Mark(), entry.path,
                    "duplicate key (first set on line " + std::to_string(previous->second) + ")");
        continue;
      }
      auto key = std::find_if(keys.begin(), keys.end(),
                              [&](const Key& candidate) { return candidate.name == name; });
      if (key == keys.end()) {
        errors_.add(entry.key.Mark(), entry.path,
                    errors_.full() ? "" : unknown_key_message(name, entry.path, keys));
        continue;
      }
      (this->*(key->read))(entry);
    }
  }

  // A typo of a key of the same section ("io_bufer"), else a key of another section ("level" at
  // the top, "log_level" for "log.level"), else the list of valid keys.
  static std::string unknown_key_message(const std::string& name, const std::string& path,
                                         std::span<const Key> keys) {
    const std::vector<std::string_view> names = names_of(keys);
    auto match = closest_match(name, names, MatchRule::kEdits);
    if (!match) match = closest_match(path, kAllKeyPaths, MatchRule::kEdits);
    for (auto other = kAllKeyPaths.begin(); !match && other != kAllKeyPaths.end(); ++other) {
      // npos + 1 is 0: a top-level key is its own leaf, and skipped.
      const std::array<std::string_view, 1> leaf{other->substr(other->rfind('.') + 1)};
      if (leaf.front() != *other && closest_match(name, leaf, MatchRule::kEdits)) match = *other;
    }
    if (!match) match = closest_match(name, names, MatchRule::kPrefix);
    if (match) return "unknown key; did you mean '" + std::string(*match) + "'?";
    return "unknown key; expected one of " + join(names);
  }

  void error(const Entry& entry, std::string message) {
    errors_.add(entry.value_mark(), entry.path, std::move(message));
  }

  // A string that no valid value contains: a control character can only come from an escape
  // such as "\0" in a double-quoted string, and C functions would stop reading at a NUL.
  static bool has_control_character(const std::string& text) {
    return std::any_of(text.begin(), text.end(), [](char c) {
      const auto byte = static_cast<unsigned char>(c);
      return byte < 0x20 || byte == 0x7f;
    });
  }

  // The value as a string, or an error naming what was expected instead.
  std::optional<std::string> scalar(const Entry& entry, std::string_view expected) {
    if (entry.value.IsNull()) {
      error(entry, "missing value; expected " + std::string(expected));
    } else if (!entry.value.IsScalar()) {
      error(entry, "expected " + std::string(expected) + ", not " + kind_of(entry.value));
    } else if (has_control_character(entry.value.Scalar())) {
      error(entry, "'" + excerpt(entry.value.Scalar()) + "' contains a control character");
    } else {
      return entry.value.Scalar();
    }
    return std::nullopt;
  }

  // A list of strings that `parse` turns into values, without duplicates. Returns nothing if the
  // list or any item is invalid (every invalid item is reported).
  struct ListSpec {
    std::string_view item;         // "HOST:PORT string"
    std::string_view noun;         // "address"
    std::string_view example;      // a valid list
    std::string_view nested_hint;  // for an item that is itself a list or mapping
  };
  template <typename T, typename Parse>
  std::optional<std::vector<T>> read_list(const Entry& entry, const ListSpec& spec, Parse parse) {
    if (!entry.value.IsSequence()) {
      std::string message = "expected a list of " + std::string(spec.item) + "s";
      if (entry.value.IsScalar()) {
        message += "; for one write [\"" + excerpt(entry.value.Scalar()) + "\"]";
      } else {
        message += ", e.g. " + std::string(spec.example);
      }
      error(entry, entry.value.IsNull() ? "missing value; " + message : message);
      return std::nullopt;
    }
    std::vector<T> values;
    std::unordered_map<std::string, std::string> paths;  // value as text -> where it was given
    bool valid = true;
    std::size_t index = 0;
    for (const YAML::Node& item : entry.value) {
      const std::string path = entry.path + "[" + std::to_string(index++) + "]";
      YAML::Mark mark = item.Mark().is_null() ? entry.value.Mark() : item.Mark();
      if (item.IsNull()) mark = empty_item_mark(text_, mark);
      std::string message;
      std::optional<T> value;
      if (item.IsNull()) {
        message = "missing value; expected a " + std::string(spec.item);
      } else if (!item.IsScalar()) {
        message = "expected a " + std::string(spec.item) + ", not " + kind_of(item) +
                  std::string(spec.nested_hint);
      } else if (has_control_character(item.Scalar())) {
        message = "'" + excerpt(item.Scalar()) + "' contains a control character";
      } else if ((value = parse(item.Scalar(), message))) {
        // The canonical text form identifies the value ("localhost:7" is "127.0.0.1:7").
        auto [first, added] = paths.try_emplace(value->to_string(), path);
        if (added) {
          values.push_back(*value);
          continue;
        }
        message = "duplicate " + std::string(spec.noun) + " " + first->first + " (also " +
                  first->second + ")";
      }
      errors_.add(mark, path, std::move(message));
      valid = false;
    }
    if (!valid) return std::nullopt;
    return values;
  }

  void read_listen(const Entry& entry) {
    static constexpr ListSpec kSpec{"HOST:PORT string", "address", R"(["127.0.0.1:7", "[::1]:7"])",
                                    "; quote IPv6 addresses, e.g. \"[::1]:7\""};
    // `listen:` lists TCP listeners with the default options.
    auto listeners =
        read_list<ListenerConfig>(entry, kSpec, [](const std::string& text, std::string& message) {
          auto parsed = SocketAddress::parse(text);
          message = parsed.error;
          return parsed.address ? std::optional(ListenerConfig::tcp(*parsed.address))
                                : std::nullopt;
        });
    if (!listeners) return;
    if (listeners->empty()) {
      error(entry, "the list is empty; echod needs at least one address to listen on");
      return;
    }
    config_.listen = std::move(*listeners);
  }

  void read_workers(const Entry& entry) {
    auto text = scalar(entry, "'auto' or a number 1-" + std::to_string(WorkerCount::kMaxWorkers));
    if (!text) return;
    std::string message;
    if (auto workers = parse_worker_count(*text, message)) {
      config_.workers = *workers;
    } else {
      error(entry, message);
    }
  }

  void read_section(const Entry& entry, std::span<const Key> keys) {
    if (entry.value.IsNull()) return;  // every setting of the section commented out
    if (!entry.value.IsMap()) {
      error(entry, "expected a mapping with the keys " + join(names_of(keys)) + ", not " +
                       kind_of(entry.value));
      return;
    }
    read_mapping(entry.value, entry.path, keys);
  }

  void read_log(const Entry& entry) {
    static constexpr auto kKeys = std::to_array<Key>({
        {"level", &ConfigReader::read_log_level},
        {"target", &ConfigReader::read_log_target},
    });
    read_section(entry, kKeys);
  }

  void read_log_level(const Entry& entry) {
    auto text = scalar(entry, "one of trace, debug, info, warn, error, critical, off");
    if (!text) return;
    std::string message;
    if (auto level = parse_log_level(*text, message)) {
      config_.log.level = *level;
    } else {
      error(entry, message);
    }
  }

  void read_log_target(const Entry& entry) {
    auto text = scalar(entry, "one of auto, journal, stderr");
    if (!text) return;
    std::string message;
    if (auto target = parse_log_target(*text, message)) {
      config_.log.target = *target;
    } else {
      error(entry, message);
    }
  }

  void read_limits(const Entry& entry) {
    static constexpr auto kKeys = std::to_array<Key>({
        {"io_buffer", &ConfigReader::read_io_buffer},
        {"max_pending_output", &ConfigReader::read_max_pending_output},
        {"max_connections", &ConfigReader::read_max_connections},
        {"max_connections_per_ip", &ConfigReader::read_max_connections_per_ip},
        {"accept_rate_per_ip", &ConfigReader::read_accept_rate_per_ip},
        {"accept_burst_per_ip", &ConfigReader::read_accept_burst_per_ip},
        {"exempt", &ConfigReader::read_exempt},
        {"idle_timeout", &ConfigReader::read_idle_timeout},
        {"send_stall_timeout", &ConfigReader::read_send_stall_timeout},
        {"access", &ConfigReader::read_access},
    });
    read_section(entry, kKeys);
    const LimitsConfig& limits = config_.limits;
    if (per_ip_entry_ && limits.max_connections_per_ip > limits.max_connections) {
      error(*per_ip_entry_, std::to_string(limits.max_connections_per_ip) +
                                " is more than limits.max_connections (" +
                                std::to_string(limits.max_connections) + ")");
    }
  }

  void read_size(const Entry& entry, std::size_t min, std::size_t max, std::size_t& out) {
    const std::string range = format_size(min) + "-" + format_size(max);
    auto text = scalar(entry, "a size (" + range + ", e.g. 16KiB)");
    if (!text) return;
    std::string message;
    auto size = parse_size(*text, message);
    if (!size) {
      error(entry, message);
    } else if (*size < min || *size > max) {
      error(entry, excerpt(*text) + " is out of range " + range);
    } else {
      out = *size;
    }
  }

  void read_count(const Entry& entry, std::uint32_t min, std::uint32_t max, std::uint32_t& out) {
    auto text = scalar(entry, "a number " + std::to_string(min) + "-" + std::to_string(max));
    if (!text) return;
    std::string message;
    if (auto count = parse_count(*text, min, max, message)) {
      out = static_cast<std::uint32_t>(*count);
    } else {
      error(entry, message);
    }
  }

  void read_duration(const Entry& entry, std::chrono::milliseconds max,
                     std::chrono::milliseconds& out) {
    const std::string range = "0s-" + format_duration(max);
    auto text = scalar(entry, "a duration (" + range + ", e.g. 10s)");
    if (!text) return;
    std::string message;
    auto duration = parse_duration(*text, message);
    if (!duration) {
      error(entry, message);
    } else if (*duration > max) {
      error(entry, excerpt(*text) + " is out of range " + range);
    } else {
      out = *duration;
    }
  }

  void read_io_buffer(const Entry& entry) {
    read_size(entry, kMinIoBuffer, kMaxIoBuffer, config_.limits.io_buffer);
  }
  void read_max_pending_output(const Entry& entry) {
    read_size(entry, kMinMaxPendingOutput, kMaxMaxPendingOutput, config_.limits.max_pending_output);
  }
  void read_max_connections(const Entry& entry) {
    read_count(entry, 1, kMaxConnectionsLimit, config_.limits.max_connections);
  }
  void read_max_connections_per_ip(const Entry& entry) {
    per_ip_entry_ = entry;
    read_count(entry, 0, kMaxConnectionsLimit, config_.limits.max_connections_per_ip);
  }
  void read_accept_rate_per_ip(const Entry& entry) {
    read_count(entry, 0, kMaxAcceptRatePerIp, config_.limits.accept_rate_per_ip);
  }
  // A bucket of 0 tokens would refuse every connection; "no limit" is accept_rate_per_ip: 0.
  void read_accept_burst_per_ip(const Entry& entry) {
    read_count(entry, 1, kMaxAcceptRatePerIp, config_.limits.accept_burst_per_ip);
  }
  void read_idle_timeout(const Entry& entry) {
    read_duration(entry, kMaxConnectionTimeout, config_.limits.idle_timeout);
  }
  void read_send_stall_timeout(const Entry& entry) {
    read_duration(entry, kMaxConnectionTimeout, config_.limits.send_stall_timeout);
  }
  void read_shutdown_timeout(const Entry& entry) {
    read_duration(entry, kMaxShutdownTimeout, config_.shutdown_timeout);
  }

  void read_access(const Entry& entry) {
    static constexpr auto kKeys = std::to_array<Key>({
        {"allow", &ConfigReader::read_access_allow},
        {"deny", &ConfigReader::read_access_deny},
    });
    read_section(entry, kKeys);
  }

  // An empty value is an empty list here: with every network commented out, nobody is allowed,
  // denied or exempted by this list.
  void read_networks(const Entry& entry, std::vector<Cidr>& out) {
    if (entry.value.IsNull()) {
      out.clear();
      return;
    }
    static constexpr ListSpec kSpec{"network string", "network",
                                    R"(["10.0.0.0/8", "2001:db8::/32"])", ""};
    auto networks =
        read_list<Cidr>(entry, kSpec, [](const std::string& text, std::string& message) {
          auto parsed = Cidr::parse(text);
          message = parsed.error;
          return parsed.cidr;
        });
    if (networks) out = std::move(*networks);
  }
  void read_access_allow(const Entry& entry) { read_networks(entry, config_.limits.access.allow); }
  void read_access_deny(const Entry& entry) { read_networks(entry, config_.limits.access.deny); }
  void read_exempt(const Entry& entry) { read_networks(entry, config_.limits.exempt); }

  void read_metrics(const Entry& entry) {
    static constexpr auto kKeys = std::to_array<Key>({
        {"enabled", &ConfigReader::read_metrics_enabled},
        {"listen", &ConfigReader::read_metrics_listen},
    });
    read_section(entry, kKeys);
    // `listen` alone turns the endpoint on; `enabled: false` keeps it off regardless.
    if (metrics_listen_entry_ && !metrics_enabled_given_) config_.metrics.enabled = true;
  }

  void read_metrics_enabled(const Entry& entry) {
    auto text = scalar(entry, "true or false");
    if (!text) return;
    metrics_enabled_given_ = true;
    if (*text == "true") {
      config_.metrics.enabled = true;
    } else if (*text == "false") {
      config_.metrics.enabled = false;
    } else {
      error(entry, "'" + excerpt(*text) + "' is not true or false");
    }
  }

  void read_metrics_listen(const Entry& entry) {
    auto text = scalar(entry, "a HOST:PORT string, e.g. \"127.0.0.1:9707\"");
    if (!text) return;
    auto parsed = SocketAddress::parse(*text);
    if (!parsed.address) {
      error(entry, parsed.error);
    } else if (parsed.address->family() != AF_INET) {
      // The embedded HTTP server binds IPv4 addresses only (docs/configuration.md).
      error(entry, "'" + excerpt(*text) +
                       "': the metrics endpoint needs an IPv4 address, e.g. \"127.0.0.1:9707\"");
    } else {
      config_.metrics.listen = *parsed.address;
      metrics_listen_entry_ = entry;
    }
  }

  // Run after the whole file is read: `listen:` may come after `metrics:`.
  void check_metrics_listen() {
    if (!metrics_listen_entry_ || !config_.metrics.enabled) return;
    const SocketAddress& address = config_.metrics.listen;
    if (address.port() == 0) return;  // the kernel picks a free port
    for (const ListenerConfig& listener : config_.listen) {
      const SocketAddress& echo = listener.address;
      // IPv6 listeners are IPv6-only (IPV6_V6ONLY): only IPv4 ones can overlap.
      if (listener.protocol == ListenProtocol::kTcp && echo.family() == AF_INET &&
          echo.port() == address.port() &&
          (echo == address || echo.is_wildcard() || address.is_wildcard())) {
        error(*metrics_listen_entry_, address.to_string() + " overlaps listen address " +
                                          echo.to_string() + "; choose another port");
        return;
      }
    }
  }

  std::string_view text_;
  ErrorList& errors_;
  Config config_;
  std::optional<Entry> per_ip_entry_;  // for the check against max_connections
  std::optional<Entry> metrics_listen_entry_;
  bool metrics_enabled_given_ = false;
};

std::string too_large_message(std::size_t size) {
  return "file is " + std::to_string(size) + " bytes; the limit is " +
         std::to_string(kMaxConfigFileBytes / (1024 * 1024)) + " MiB";
}

// Reads the whole file, refusing anything over kMaxConfigFileBytes before reading it. Returns
// an error message on failure.
std::optional<std::string> read_file(const std::string& path, std::string& text) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below anyway).
  UniqueFd fd(retry_on_eintr(
      [&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK); }));
  if (!fd) return "cannot open: " + std::generic_category().message(errno);
  struct stat status {};
  if (::fstat(fd.get(), &status) != 0) {
    return "cannot stat: " + std::generic_category().message(errno);
  }
  if (S_ISDIR(status.st_mode)) return "is a directory, not a configuration file";
  if (!S_ISREG(status.st_mode)) return "not a regular file";
  const auto size = static_cast<std::size_t>(status.st_size);
  if (size > kMaxConfigFileBytes) return too_large_message(size);
  // One byte more than the limit, to notice a file that grew after fstat().
  text.resize(kMaxConfigFileBytes + 1);
  std::size_t used = 0;
  while (used < text.size()) {
    const ssize_t n =
        retry_on_eintr([&] { return ::read(fd.get(), text.data() + used, text.size() - used); });
    if (n < 0) return "cannot read: " + std::generic_category().message(errno);
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used > kMaxConfigFileBytes) return too_large_message(used) + " (it grew while being read)";
  text.resize(used);
  return std::nullopt;
}

// `key` is indented by `indent`, its items by two more spaces.
void append_networks(std::string& text, std::string_view indent, std::string_view key,
                     const std::vector<Cidr>& networks) {
  text.append(indent).append(key).append(":");
  if (networks.empty()) text += " []";
  text += "\n";
  for (const Cidr& network : networks) {
    text.append(indent).append("  - \"").append(network.to_string()).append("\"\n");
  }
}

}  // namespace

std::string ConfigError::to_string() const {
  std::string result = file;
  if (line > 0) {
    result += ":" + std::to_string(line);
    if (column > 0) result += ":" + std::to_string(column);
  }
  result += ": ";
  if (!key_path.empty()) result += key_path + ": ";
  result += message;
  return printable(result);
}

ConfigLoadResult load_config_file(const std::string& path) {
  std::string text;
  if (auto message = read_file(path, text)) {
    return {std::nullopt, {ConfigError{path, 0, 0, {}, std::move(*message)}}};
  }
  return parse_config(text, path);
}

ConfigLoadResult parse_config(std::string_view text, const std::string& source_name) {
  ErrorList errors(source_name);
  if (text.size() > kMaxConfigFileBytes) {
    errors.add(0, 0, too_large_message(text.size()));
    return {std::nullopt, errors.take()};
  }
  // yaml-cpp 0.7 takes the byte 0x04 for the end of input and mishandles others; nothing valid
  // needs control characters, so they are refused first. Only the first one is reported (a
  // binary file would give thousands).
  if (auto invalid = find_invalid_character(text)) {
    std::string message = std::move(invalid->message);
    if (invalid->more > 0) message += " (and " + std::to_string(invalid->more) + " more)";
    errors.add(invalid->line, invalid->column, std::move(message));
    return {std::nullopt, errors.take()};
  }

  const std::string copy(text);
  try {
    std::istringstream input(copy);
    YAML::Parser parser(input);
    EventCheck(copy, errors).run(parser);
  } catch (const StopParsing& e) {
    errors.add(e.mark(), {}, e.what());
    return {std::nullopt, errors.take()};
  } catch (const YAML::Exception& e) {
    errors.add(e.mark, {}, syntax_error_message(copy, e));
    return {std::nullopt, errors.take()};
  }

  Config config;
  try {
    config = ConfigReader(copy, errors).read(YAML::Load(copy));
  } catch (const YAML::Exception& e) {  // not expected once the first pass succeeded
    errors.add(e.mark, {}, syntax_error_message(copy, e));
  }
  if (!errors.empty()) return {std::nullopt, errors.take()};
  return {std::move(config), {}};
}

std::string format_config(const Config& config) {
  std::string text = "listen:";
  if (config.listen.empty()) text += " []";
  text += "\n";
  for (const ListenerConfig& listener : config.listen) {
    text += "  - \"" + listener.to_string() + "\"\n";
  }
  text += "workers: " + format_worker_count(config.workers) + "\n";
  text += "log:\n";
  text += "  level: " + std::string(to_string(config.log.level)) + "\n";
  text += "  target: " + std::string(to_string(config.log.target)) + "\n";
  const LimitsConfig& limits = config.limits;
  text += "limits:\n";
  text += "  io_buffer: " + format_size(limits.io_buffer) + "\n";
  text += "  max_pending_output: " + format_size(limits.max_pending_output) + "\n";
  text += "  max_connections: " + std::to_string(limits.max_connections) + "\n";
  text += "  max_connections_per_ip: " + std::to_string(limits.max_connections_per_ip) + "\n";
  text += "  accept_rate_per_ip: " + std::to_string(limits.accept_rate_per_ip) + "\n";
  text += "  accept_burst_per_ip: " + std::to_string(limits.accept_burst_per_ip) + "\n";
  append_networks(text, "  ", "exempt", limits.exempt);
  text += "  idle_timeout: " + format_duration(limits.idle_timeout) + "\n";
  text += "  send_stall_timeout: " + format_duration(limits.send_stall_timeout) + "\n";
  text += "  access:\n";
  append_networks(text, "    ", "allow", limits.access.allow);
  append_networks(text, "    ", "deny", limits.access.deny);
  text += "metrics:\n";
  text += std::string("  enabled: ") + (config.metrics.enabled ? "true" : "false") + "\n";
  text += "  listen: \"" + config.metrics.listen.to_string() + "\"\n";
  text += "shutdown_timeout: " + format_duration(config.shutdown_timeout) + "\n";
  return text;
}

}  // namespace echod
