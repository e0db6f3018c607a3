#include "client/stream_verifier.hpp"

#include <algorithm>

namespace echod::client {

std::string StreamError::describe(std::uint32_t own_id) const {
  std::string text(error_kind_name(kind));
  text += " at stream offset " + std::to_string(offset);
  if (excess_bytes > 0) text += " (" + std::to_string(excess_bytes) + " bytes beyond those sent)";
  if (origin) {
    text += ": bytes of ";
    if (origin->id != own_id) text += "stream " + std::to_string(origin->id) + " ";
    text += "offset " + std::to_string(origin->offset);
  }
  return text;
}

std::optional<StreamError> StreamVerifier::verify(std::span<const unsigned char> data,
                                                  std::uint64_t id_limit) {
  auto in_range = static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), outstanding()));
  std::size_t good = pattern_.first_mismatch(received_, data.first(in_range));
  received_ += good;
  if (good < in_range) return classify(data.subspan(good), received_, id_limit);
  if (in_range == data.size()) return std::nullopt;

  auto extra = data.subspan(in_range);
  StreamError error = classify(extra, received_, id_limit);
  if (error.kind != ErrorKind::kDuplication) {
    error.kind = ErrorKind::kExcess;
    error.origin.reset();
  }
  error.excess_bytes = extra.size();
  return error;
}

StreamError StreamVerifier::classify(std::span<const unsigned char> wrong, std::uint64_t offset,
                                     std::uint64_t id_limit) const {
  auto origin = StreamPattern::locate(pattern_.run_key(), wrong, id_limit);
  if (!origin || (origin->id == pattern_.id() && origin->offset == offset)) {
    return {ErrorKind::kCorruption, offset, std::nullopt};
  }
  if (origin->id != pattern_.id()) return {ErrorKind::kCrossed, offset, origin};
  if (origin->offset < offset) return {ErrorKind::kDuplication, offset, origin};
  return {ErrorKind::kReordering, offset, origin};
}

}  // namespace echod::client
