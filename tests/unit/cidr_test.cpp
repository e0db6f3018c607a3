#include "sys/cidr.hpp"

#include <gtest/gtest.h>

namespace echod {
namespace {

SocketAddress address(const char* text) { return *SocketAddress::parse(text).address; }

TEST(CidrTest, MatchesIpv4Networks) {
  auto cidr = Cidr::parse("10.1.0.0/16");
  ASSERT_TRUE(cidr.cidr) << cidr.error;
  EXPECT_TRUE(cidr.cidr->contains(address("10.1.200.3:7")));
  EXPECT_FALSE(cidr.cidr->contains(address("10.2.0.1:7")));
  EXPECT_FALSE(cidr.cidr->contains(address("[::1]:7")));
  EXPECT_EQ(cidr.cidr->to_string(), "10.1.0.0/16");
}

TEST(CidrTest, ClearsHostBitsAndHandlesOddPrefixes) {
  auto cidr = Cidr::parse("192.168.1.77/27");
  ASSERT_TRUE(cidr.cidr);
  EXPECT_EQ(cidr.cidr->to_string(), "192.168.1.64/27");
  EXPECT_TRUE(cidr.cidr->contains(address("192.168.1.95:1")));
  EXPECT_FALSE(cidr.cidr->contains(address("192.168.1.96:1")));
}

TEST(CidrTest, SingleAddressesAndIpv6) {
  EXPECT_TRUE(Cidr::parse("127.0.0.2").cidr->contains(address("127.0.0.2:5")));
  EXPECT_FALSE(Cidr::parse("127.0.0.2").cidr->contains(address("127.0.0.3:5")));
  auto v6 = Cidr::parse("2001:db8::/32");
  ASSERT_TRUE(v6.cidr);
  EXPECT_TRUE(v6.cidr->contains(address("[2001:db8:ffff::1]:7")));
  EXPECT_FALSE(v6.cidr->contains(address("[2001:db9::1]:7")));
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0").cidr->contains(address("8.8.8.8:53")));
}

TEST(CidrTest, RejectsMalformedText) {
  using namespace std::string_view_literals;
  for (std::string_view bad : {"10.0.0.0/33"sv, "10.0.0/8"sv, "banana"sv, "10.0.0.0/"sv, "::/129"sv,
                               "1.2.3.4/x"sv, "10.0.0.1\0junk"sv}) {
    auto result = Cidr::parse(bad);
    EXPECT_FALSE(result.cidr) << bad;
    EXPECT_FALSE(result.error.empty()) << bad;
  }
}

}  // namespace
}  // namespace echod
