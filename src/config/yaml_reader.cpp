// The second pass over a configuration file: walks yaml-cpp's node tree along the key table
// (config_keys.hpp) and fills a Config, reporting every problem it finds.
#include <algorithm>
#include <array>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "config/config_keys.hpp"
#include "config/config_loader.hpp"
#include "config/text_util.hpp"
#include "config/yaml_guards.hpp"

namespace echod {
namespace {

std::string kind_of(const YAML::Node& node) {
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "'" + excerpt(node.Scalar()) + "'";
}

// A string that no valid value contains: a control character can only come from an escape
// such as "\0" in a double-quoted string, and C functions would stop reading at a NUL.
bool has_control_character(const std::string& text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
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

// The names a mapping at `section` may have, in table order: its keys and its subsections
// ("access" in "limits").
std::vector<std::string_view> names_in(std::string_view section) {
  std::vector<std::string_view> names;
  for (const ConfigKey& key : config_keys()) {
    std::string_view name;
    if (key.section == section) {
      name = key.name;
    } else if (section.empty()) {
      name = key.section.substr(0, key.section.find('.'));
    } else if (key.section.starts_with(section) && key.section.size() > section.size() &&
               key.section[section.size()] == '.') {
      const std::string_view rest = key.section.substr(section.size() + 1);
      name = rest.substr(0, rest.find('.'));
    } else {
      continue;
    }
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

// Every key path and nested section path ("limits.access"), for suggestions when a key is put in
// the wrong section ("level" at the top).
const std::vector<std::string>& all_key_paths() {
  static const std::vector<std::string> kPaths = [] {
    std::vector<std::string> paths;
    for (const ConfigKey& key : config_keys()) {
      if (key.section.find('.') != std::string_view::npos &&
          std::find(paths.begin(), paths.end(), key.section) == paths.end()) {
        paths.emplace_back(key.section);
      }
      paths.push_back(key.path());
    }
    return paths;
  }();
  return kPaths;
}

const ConfigKey* find_key(std::string_view section, std::string_view name) {
  auto keys = config_keys();
  auto key = std::find_if(keys.begin(), keys.end(), [&](const ConfigKey& candidate) {
    return candidate.section == section && candidate.name == name;
  });
  return key == keys.end() ? nullptr : &*key;
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

// One entry's value, for the key's read function.
class YamlValue final : public ValueSource {
 public:
  YamlValue(Entry entry, std::string_view text, ErrorList& errors)
      : entry_(std::move(entry)), text_(text), errors_(errors) {}

  [[nodiscard]] bool is_null() const override { return entry_.value.IsNull(); }

  std::optional<std::string> scalar(std::string_view expected) override {
    const YAML::Node& value = entry_.value;
    if (value.IsNull()) {
      error("missing value; expected " + std::string(expected));
    } else if (!value.IsScalar()) {
      error("expected " + std::string(expected) + ", not " + kind_of(value));
    } else if (has_control_character(value.Scalar())) {
      error("'" + excerpt(value.Scalar()) + "' contains a control character");
    } else {
      return value.Scalar();
    }
    return std::nullopt;
  }

  std::optional<std::size_t> list_size(const ListSpec& spec) override {
    const YAML::Node& value = entry_.value;
    if (!value.IsSequence()) {
      std::string message = "expected a list of " + std::string(spec.item) + "s";
      if (value.IsScalar()) {
        message += "; for one write [\"" + excerpt(value.Scalar()) + "\"]";
      } else {
        message += ", e.g. " + std::string(spec.example);
      }
      error(value.IsNull() ? "missing value; " + message : message);
      return std::nullopt;
    }
    items_.clear();
    for (const YAML::Node& item : value) items_.push_back(item);
    return items_.size();
  }

  std::optional<std::string> item(std::size_t index, const ListSpec& spec) override {
    const YAML::Node& item = items_.at(index);
    if (item.IsNull()) {
      item_error(index, "missing value; expected a " + std::string(spec.item));
    } else if (!item.IsScalar()) {
      item_error(index, "expected a " + std::string(spec.item) + ", not " + kind_of(item) +
                            std::string(spec.nested_hint));
    } else if (has_control_character(item.Scalar())) {
      item_error(index, "'" + excerpt(item.Scalar()) + "' contains a control character");
    } else {
      return item.Scalar();
    }
    return std::nullopt;
  }

  [[nodiscard]] std::string item_path(std::size_t index) const override {
    return entry_.path + "[" + std::to_string(index) + "]";
  }

  void item_error(std::size_t index, std::string message) override {
    const YAML::Node& item = items_.at(index);
    YAML::Mark mark = item.Mark().is_null() ? entry_.value.Mark() : item.Mark();
    if (item.IsNull()) mark = empty_item_mark(text_, mark);
    errors_.add(mark, item_path(index), std::move(message));
  }

  void error(std::string message) override {
    errors_.add(entry_.value_mark(), entry_.path, std::move(message));
  }

  void key_error(std::string message) override {
    errors_.add(entry_.key.Mark(), entry_.path, std::move(message));
  }

  void item_warning(std::size_t index, std::string message) override {
    const YAML::Node& item = items_.at(index);
    errors_.warn(item.Mark().is_null() ? entry_.value.Mark() : item.Mark(), item_path(index),
                 std::move(message));
  }

  void warning(std::string message) override {
    errors_.warn(entry_.value_mark(), entry_.path, std::move(message));
  }

  [[nodiscard]] bool item_is_mapping(std::size_t index) const override {
    return items_.at(index).IsMap();
  }

  std::vector<ItemField> item_fields(std::size_t index) override {
    const YAML::Node& item = items_.at(index);
    std::vector<ItemField> fields;
    if (!item.IsMap()) return fields;
    std::unordered_map<std::string, int> seen;  // key -> line
    for (auto it = item.begin(); it != item.end(); ++it) {
      Entry field{it->first, it->second, {}};
      if (!field.key.IsScalar()) {
        item_error(index, "expected a key name, not " + kind_of(field.key));
        continue;
      }
      const std::string& name = field.key.Scalar();
      field.path = item_path(index) + "." + name;
      auto [previous, first] = seen.try_emplace(name, field.key.Mark().line + 1);
      if (!first) {
        errors_.add(field.key.Mark(), field.path,
                    "duplicate key (first set on line " + std::to_string(previous->second) + ")");
        continue;
      }
      fields.push_back({name, std::make_unique<YamlValue>(std::move(field), text_, errors_)});
    }
    return fields;
  }

 private:
  Entry entry_;
  std::string_view text_;
  ErrorList& errors_;
  std::vector<YAML::Node> items_;
};

class ConfigReader {
 public:
  ConfigReader(std::string_view text, ErrorList& errors) : text_(text), errors_(errors) {}

  Config read(const YAML::Node& root) {
    if (root.IsNull()) return draft_.config;  // an empty file, or only comments
    if (!root.IsMap()) {
      errors_.add(root.Mark(), {}, "expected settings as 'key: value' lines, e.g. 'workers: 4'");
      return draft_.config;
    }
    read_mapping(root, "");
    for (KeyError& error : check_across_keys(draft_)) {
      const Entry& entry = given_.at(error.path);
      errors_.add(entry.value_mark(), entry.path, std::move(error.message));
    }
    return draft_.config;
  }

 private:
  // Nesting is bounded by the key table's sections (two levels), not by the file.
  // NOLINTNEXTLINE(misc-no-recursion): a section's mapping is read by read_section()
  void read_mapping(const YAML::Node& map, const std::string& path) {
    const std::vector<std::string_view> names = names_in(path);
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
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        errors_.add(entry.key.Mark(), entry.path,
                    errors_.full() ? "" : unknown_key_message(name, entry.path, names));
        continue;
      }
      if (const ConfigKey* key = find_key(path, name)) {
        YamlValue value(entry, text_, errors_);
        key->read(value, draft_);
        draft_.given.insert(entry.path);
        given_.insert_or_assign(entry.path, entry);
      } else {
        read_section(entry);
      }
    }
  }

  // NOLINTNEXTLINE(misc-no-recursion): see read_mapping()
  void read_section(const Entry& entry) {
    if (entry.value.IsNull()) return;  // every setting of the section commented out
    if (!entry.value.IsMap()) {
      errors_.add(entry.value_mark(), entry.path,
                  "expected a mapping with the keys " + join(names_in(entry.path)) + ", not " +
                      kind_of(entry.value));
      return;
    }
    read_mapping(entry.value, entry.path);
  }

  // A typo of a key of the same section ("io_bufer"), else a key of another section ("level" at
  // the top, "log_level" for "log.level"), else the list of valid keys.
  static std::string unknown_key_message(const std::string& name, const std::string& path,
                                         std::span<const std::string_view> names) {
    const std::vector<std::string>& all = all_key_paths();
    const std::vector<std::string_view> paths(all.begin(), all.end());
    auto match = closest_match(name, names, MatchRule::kEdits);
    if (!match) match = closest_match(path, paths, MatchRule::kEdits);
    for (auto other = paths.begin(); !match && other != paths.end(); ++other) {
      // npos + 1 is 0: a top-level key is its own leaf, and skipped.
      const std::array<std::string_view, 1> leaf{other->substr(other->rfind('.') + 1)};
      if (leaf.front() != *other && closest_match(name, leaf, MatchRule::kEdits)) match = *other;
    }
    if (!match) match = closest_match(name, names, MatchRule::kPrefix);
    if (match) return "unknown key; did you mean '" + std::string(*match) + "'?";
    return "unknown key; expected one of " + join(names);
  }

  std::string_view text_;
  ErrorList& errors_;
  ConfigDraft draft_;
  std::unordered_map<std::string, Entry> given_;  // path -> where the file sets it
};

}  // namespace

ConfigLoadResult parse_config(std::string_view text, const std::string& source_name) {
  ErrorList errors(source_name);
  if (!check_config_text(text, errors)) return {std::nullopt, errors.take(), {}};
  const std::string copy(text);
  if (!check_yaml_events(copy, errors)) return {std::nullopt, errors.take(), {}};

  Config config;
  try {
    config = ConfigReader(copy, errors).read(YAML::Load(copy));
  } catch (const YAML::Exception& e) {  // not expected once the first pass succeeded
    errors.add(e.mark, {}, syntax_error_message(copy, e));
  }
  if (!errors.empty()) return {std::nullopt, errors.take(), errors.take_warnings()};
  return {std::move(config), {}, errors.take_warnings()};
}

}  // namespace echod
