#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <variant>
#include <vector>

#include "config/config.hpp"

namespace echod {

// The keys of the configuration file, in one table (config_keys()) that every use walks: the
// reader (yaml_reader.cpp) takes its sections, key names and "did you mean" candidates from it,
// the emitter (format_config) prints it in its order, and the reload log
// (ConfigChanges::describe) describes each changed key with it. Adding a key means adding one
// entry; config_keys_test.cpp checks every entry in all three uses through its `example`.

// How a list is named in the errors about it and its items.
struct ListSpec {
  std::string_view item;         // "HOST:PORT string"
  std::string_view noun;         // "address", in "duplicate address ..."
  std::string_view example;      // a valid list, e.g. ["127.0.0.1:7"]
  std::string_view nested_hint;  // added for an item that is itself a list or mapping
};

class ValueSource;

// One key of a mapping that is a list item (`listen: [{address: "...", trusted: [...]}]`).
struct ItemField {
  std::string name;
  std::unique_ptr<ValueSource> value;  // its path is "listen[1].trusted"
};

// One key's value in a file, as the key's read function sees it: no YAML types. The methods
// that fail report the problem themselves, at the value's (or the item's) position, and return
// nothing.
class ValueSource {
 public:
  ValueSource() = default;
  ValueSource(const ValueSource&) = delete;
  ValueSource& operator=(const ValueSource&) = delete;
  virtual ~ValueSource() = default;

  [[nodiscard]] virtual bool is_null() const = 0;
  // The value as a string, or an error naming what was `expected` instead.
  virtual std::optional<std::string> scalar(std::string_view expected) = 0;
  // The number of items of a list, or an error naming what `spec` expects instead.
  virtual std::optional<std::size_t> list_size(const ListSpec& spec) = 0;
  // One item as a string (after list_size()), or an error at the item.
  virtual std::optional<std::string> item(std::size_t index, const ListSpec& spec) = 0;
  [[nodiscard]] virtual std::string item_path(std::size_t index) const = 0;  // "listen[1]"
  virtual void item_error(std::size_t index, std::string message) = 0;
  virtual void error(std::string message) = 0;
  // At the key this value belongs to (a key not allowed where it is).
  virtual void key_error(std::string message) = 0;
  // Valid, but probably not meant: the file is accepted and the warning printed.
  virtual void item_warning(std::size_t index, std::string message) = 0;
  virtual void warning(std::string message) = 0;
  // Whether item `index` (after list_size()) is a mapping, and its keys in file order with their
  // values. Keys that are not scalars or appear twice are reported and left out.
  [[nodiscard]] virtual bool item_is_mapping(std::size_t index) const = 0;
  virtual std::vector<ItemField> item_fields(std::size_t index) = 0;
};

// A Config being read, with what the checks across keys need to know about how it was written.
struct ConfigDraft {
  Config config;
  std::unordered_set<std::string> given;  // the paths of the keys the file sets
  bool metrics_enabled_given = false;     // as a scalar, valid or not
  bool metrics_listen_given = false;      // as a valid address
};

// A value as format_config() writes it: a scalar, or the items of a list, as YAML text (quoted
// where needed).
using FormattedValue = std::variant<std::string, std::vector<std::string>>;

// How a changed value takes effect on reload.
enum class ReloadEffect {
  kLive,       // applied to the running workers, admission and logger
  kListeners,  // listeners are opened and closed
  kWorkers,    // workers start or retire; the supervisor describes it (with resolved counts)
  kMetrics,    // the metrics endpoint moves, starts or stops
  kRestart,    // needs a restart; the supervisor warns and keeps the running value
};

struct ConfigKey {
  std::string_view section;  // "" at the top, "limits", "limits.access"
  std::string_view name;     // "io_buffer"
  ReloadEffect effect;
  std::string_view example;  // a valid value that is not the default, as YAML text
  void (*read)(ValueSource& value, ConfigDraft& draft);
  FormattedValue (*format)(const Config& config);
  // Appends phrases for the reload log when the value changed ("limits.exempt +10.0.0.0/8").
  // nullptr: "PATH BEFORE -> AFTER" with format()'s scalars, when they differ.
  void (*describe)(const Config& before, const Config& after, std::vector<std::string>& lines);

  [[nodiscard]] std::string path() const;  // "limits.io_buffer"
};

// In the order format_config() writes them; a section's keys are together.
std::span<const ConfigKey> config_keys();

// A problem found by a check across keys, at the value of the key `path` (one the file sets).
struct KeyError {
  std::string path;
  std::string message;
};

// Checks that involve more than one key, once the whole file is read (listen: may come after
// metrics:). `listen` alone in `metrics:` turns the endpoint on.
std::vector<KeyError> check_across_keys(ConfigDraft& draft);

}  // namespace echod
