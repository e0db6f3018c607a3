#include "support/test_data.hpp"

#include <algorithm>
#include <cstring>
#include <random>

namespace echod::test {

std::string random_bytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; i += 8) {
    std::uint64_t word = engine();
    std::memcpy(bytes.data() + i, &word, std::min<std::size_t>(8, size - i));
  }
  for (std::size_t i = 0; i < size; i += 251) bytes[i] = '\0';
  return bytes;
}

testing::AssertionResult same_bytes(std::string_view expected, std::string_view actual) {
  auto [e, a] = std::mismatch(expected.begin(), expected.end(), actual.begin(), actual.end());
  if (e == expected.end() && a == actual.end()) return testing::AssertionSuccess();
  auto offset = static_cast<std::size_t>(e - expected.begin());
  auto result = testing::AssertionFailure();
  result << "expected " << expected.size() << " byte(s), got " << actual.size()
         << "; first difference at offset " << offset;
  if (e != expected.end() && a != actual.end()) {
    result << " (expected 0x" << std::hex << static_cast<unsigned>(static_cast<unsigned char>(*e))
           << ", got 0x" << static_cast<unsigned>(static_cast<unsigned char>(*a)) << ")";
  }
  return result;
}

}  // namespace echod::test
