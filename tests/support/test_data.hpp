#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace echod::test {

// `size` pseudo-random bytes from `seed`, with a NUL at offset 0 and every 251 bytes after, so
// that every payload carries binary zeros.
std::string random_bytes(std::size_t size, std::uint64_t seed);

// Compares byte strings without printing megabytes: on a mismatch it reports the lengths and
// the first differing offset.
testing::AssertionResult same_bytes(std::string_view expected, std::string_view actual);

}  // namespace echod::test
