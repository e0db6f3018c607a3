// format_config(): the effective configuration as YAML, written along the key table
// (config_keys.hpp), so that every key the reader knows is printed, in the table's order.
#include <algorithm>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config_keys.hpp"
#include "config/config_loader.hpp"

namespace echod {

std::string format_config(const Config& config) {
  std::string text;
  std::string_view open_section;  // the section whose header was written last
  for (const ConfigKey& key : config_keys()) {
    if (key.section != open_section) {
      // Headers for the parts of the new section not shared with the open one:
      // "limits" -> "limits.access" writes "  access:".
      std::size_t depth = 0;
      std::size_t start = 0;
      while (start < key.section.size()) {
        const std::size_t end = std::min(key.section.find('.', start), key.section.size());
        const std::string_view prefix = key.section.substr(0, end);
        const bool already_open =
            open_section.starts_with(prefix) &&
            (open_section.size() == prefix.size() || open_section[prefix.size()] == '.');
        if (!already_open) {
          text.append(2 * depth, ' ').append(key.section.substr(start, end - start)).append(":\n");
        }
        ++depth;
        start = end + 1;
      }
      open_section = key.section;
    }
    const std::string indent(key.section.empty()
                                 ? 0
                                 : 2 * (1 + static_cast<std::size_t>(std::count(
                                                key.section.begin(), key.section.end(), '.'))),
                             ' ');
    const FormattedValue value = key.format(config);
    text.append(indent).append(key.name).append(":");
    if (const auto* scalar = std::get_if<std::string>(&value)) {
      text.append(" ").append(*scalar).append("\n");
      continue;
    }
    const auto& items = std::get<std::vector<std::string>>(value);
    text.append(items.empty() ? " []\n" : "\n");
    for (const std::string& item : items)
      text.append(indent).append("  - ").append(item).append("\n");
  }
  return text;
}

}  // namespace echod
