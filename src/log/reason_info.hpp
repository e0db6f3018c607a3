#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace echod {

// What one reason (why a connection closed, why one was refused, which kind of accept() failure)
// is called: `log_text` in log lines, `label` in the metrics' label values and in the status
// report. Both are stable: log searches, dashboards and alerts match on them.
struct ReasonInfo {
  std::string_view log_text;
  std::string_view label;
};

// Each reason enum specializes this with `kInfo`: a std::array of ReasonInfo, one per value, in
// the enum's order.
template <typename Enum>
struct ReasonTable;

template <typename Enum>
inline constexpr std::size_t kReasonCount = ReasonTable<Enum>::kInfo.size();

template <typename Enum>
constexpr ReasonInfo info(Enum value) {
  return ReasonTable<Enum>::kInfo.at(static_cast<std::size_t>(value));
}

// The labels of every value of a reason enum, in order.
template <typename Enum>
constexpr std::array<std::string_view, kReasonCount<Enum>> labels_of() {
  std::array<std::string_view, kReasonCount<Enum>> labels{};
  for (std::size_t i = 0; i < labels.size(); ++i)
    labels.at(i) = ReasonTable<Enum>::kInfo.at(i).label;
  return labels;
}

}  // namespace echod
