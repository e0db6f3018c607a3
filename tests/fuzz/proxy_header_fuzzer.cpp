// libFuzzer target over the PROXY protocol header parser (parse_proxy_header). For every input
// and every mode: a header never claims more bytes than were given nor more than the format's
// caps; the verdict on the header's own bytes is the same header; one byte less asks for more;
// a rejection stays a rejection whatever follows; "need more" only below the buffering cap.
// Out-of-bounds reads are found by ASan (the input buffer is exactly `size` bytes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>
#include <vector>

#include "proxy/proxy_header.hpp"

namespace {

void check(bool condition) {
  if (!condition) std::abort();  // libFuzzer reports the input that got here
}

bool same_header(const echod::ProxyHeader& a, const echod::ProxyHeader& b) {
  return a.version == b.version && a.command == b.command && a.family == b.family &&
         a.source == b.source && a.destination == b.destination &&
         a.header_length == b.header_length;
}

void check_mode(std::span<const std::byte> input, echod::ProxyMode mode) {
  const auto result = echod::parse_proxy_header(input, mode);
  if (std::holds_alternative<echod::ProxyNeedMore>(result)) {
    check(input.size() < echod::kMaxProxyHeaderLength);
    return;
  }
  if (const auto* rejected = std::get_if<echod::ProxyRejected>(&result)) {
    check(rejected->reason != echod::ProxyReject::kUntrusted &&
          rejected->reason != echod::ProxyReject::kTimeout &&
          rejected->reason != echod::ProxyReject::kClosed);
    std::vector<std::byte> longer(input.begin(), input.end());
    longer.resize(longer.size() + 17, std::byte{0x0A});
    const auto again = echod::parse_proxy_header(longer, mode);
    check(std::holds_alternative<echod::ProxyRejected>(again) &&
          std::get<echod::ProxyRejected>(again).reason == rejected->reason);
    return;
  }
  const auto& header = std::get<echod::ProxyHeader>(result);
  check(header.header_length > 0 && header.header_length <= input.size());
  check(header.version == 1 || header.version == 2);
  check(header.header_length <=
        (header.version == 1 ? echod::kMaxProxyV1Length : echod::kMaxProxyV2Length));
  check(mode == echod::ProxyMode::kAny || (header.version == 1) == (mode == echod::ProxyMode::kV1));
  check(!header.has_addresses() || header.source.family() == header.family);
  // Copies, so that ASan sees reads past the header's own bytes.
  const std::vector<std::byte> exact(
      input.begin(), input.begin() + static_cast<std::ptrdiff_t>(header.header_length));
  const auto exact_result = echod::parse_proxy_header(exact, mode);
  check(std::holds_alternative<echod::ProxyHeader>(exact_result) &&
        same_header(std::get<echod::ProxyHeader>(exact_result), header));
  const std::vector<std::byte> shorter(exact.begin(), exact.end() - 1);
  check(std::holds_alternative<echod::ProxyNeedMore>(echod::parse_proxy_header(shorter, mode)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): libFuzzer's interface is bytes
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  for (const auto mode : {echod::ProxyMode::kV1, echod::ProxyMode::kV2, echod::ProxyMode::kAny}) {
    check_mode(input, mode);
  }
  return 0;
}
