#include "worker/admission.hpp"

#include <optional>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace echod {
namespace {

using Clock = Admission::Clock;
using Verdict = std::optional<RejectReason>;
constexpr Verdict kAdmit = std::nullopt;

SocketAddress client(const char* text) { return *SocketAddress::parse(text).address; }

// No access filter and no exempt network (unlike limits.exempt's default, which would exempt the
// loopback addresses these tests use).
LimitsConfig limited_rules() {
  LimitsConfig rules;
  rules.exempt.clear();
  return rules;
}

// Every address is exempt from the per-address limits.
LimitsConfig exempt_rules() {
  LimitsConfig rules;
  rules.exempt = {*Cidr::parse("0.0.0.0/0").cidr, *Cidr::parse("::/0").cidr};
  return rules;
}

// The clients of one Admission: admitted connections stay open (their tickets held) until
// close() or the end of the test, as connections would.
class Clients {
 public:
  explicit Clients(Admission& admission) : admission_(admission) {}

  Verdict connect(const char* address, Clock::time_point now, const LimitsConfig& rules) {
    AdmissionResult result = admission_.admit(client(address), rules, now);
    if (result.admitted()) open_.push_back(std::move(result.ticket));
    return result.refused;
  }
  Verdict connect(const char* address, Clock::time_point now) {
    return connect(address, now, limited_);
  }
  Verdict connect_exempt(const char* address, Clock::time_point now) {
    return connect(address, now, exempt_);
  }
  // Closes the connection opened last.
  void close_last() { open_.pop_back(); }
  [[nodiscard]] const AdmissionTicket& last() const { return open_.back(); }
  // Hands over the open connections, e.g. to close them later as a group.
  std::vector<AdmissionTicket> take() { return std::exchange(open_, {}); }

 private:
  Admission& admission_;
  LimitsConfig limited_ = limited_rules();
  LimitsConfig exempt_ = exempt_rules();
  std::vector<AdmissionTicket> open_;
};

TEST(AdmissionTest, EnforcesTheTotalBudgetAndFreesItOnRelease) {
  Admission admission;
  admission.set_limits({3, 0, 0, 0});
  Clients clients(admission);
  auto now = Clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(clients.connect("127.0.0.1:1", now), kAdmit);
  EXPECT_EQ(clients.connect("127.0.0.2:1", now), RejectReason::kMaxConnections);
  clients.close_last();
  EXPECT_EQ(clients.connect("127.0.0.2:1", now), kAdmit);
  EXPECT_EQ(admission.connections(), 3U);
}

TEST(AdmissionTest, CountsConnectionsPerAddressNotPerPort) {
  Admission admission;
  admission.set_limits({100, 2, 0, 0});
  Clients clients(admission);
  auto now = Clock::now();
  EXPECT_EQ(clients.connect("127.0.0.2:1000", now), kAdmit);
  EXPECT_EQ(clients.connect("127.0.0.2:2000", now), kAdmit);
  EXPECT_EQ(clients.connect("127.0.0.2:3000", now), RejectReason::kMaxPerIp);
  EXPECT_EQ(clients.connect("127.0.0.3:1000", now), kAdmit) << "other peers unaffected";
}

TEST(AdmissionTest, CountsIpv6ByPrefix64) {
  Admission admission;
  admission.set_limits({100, 1, 0, 0});
  Clients clients(admission);
  auto now = Clock::now();
  EXPECT_EQ(clients.connect("[2001:db8:1:2::1]:1", now), kAdmit);
  EXPECT_EQ(clients.connect("[2001:db8:1:2::ffff]:1", now), RejectReason::kMaxPerIp);
  EXPECT_EQ(clients.connect("[2001:db8:1:3::1]:1", now), kAdmit);
}

TEST(AdmissionTest, TokenBucketAllowsBurstThenRate) {
  Admission admission;
  admission.set_limits({100000, 0, 10, 5});
  Clients clients(admission);
  auto start = Clock::now();
  int admitted = 0;
  for (int i = 0; i < 20; ++i) {
    if (clients.connect("127.0.0.4:1", start) == kAdmit) ++admitted;
  }
  EXPECT_EQ(admitted, 5) << "the burst";
  EXPECT_EQ(clients.connect("127.0.0.4:1", start), RejectReason::kAcceptRate);
  // One second later, ten more tokens (capped at the burst of five).
  int later = 0;
  for (int i = 0; i < 20; ++i) {
    if (clients.connect("127.0.0.4:1", start + std::chrono::seconds(1)) == kAdmit) ++later;
  }
  EXPECT_EQ(later, 5);
  EXPECT_EQ(clients.connect("127.0.0.5:1", start), kAdmit) << "per address";
}

TEST(AdmissionTest, ForgetsIdlePeersWithFullBuckets) {
  Admission admission;
  admission.set_limits({100, 10, 10, 5});
  Clients clients(admission);
  auto start = Clock::now();
  ASSERT_EQ(clients.connect("127.0.0.6:1", start), kAdmit);
  clients.close_last();
  EXPECT_EQ(admission.tracked_peers(), 1U);
  // Past the sweep interval, and long enough for the bucket to refill.
  ASSERT_EQ(clients.connect("127.0.0.7:1", start + std::chrono::seconds(5)), kAdmit);
  EXPECT_EQ(admission.tracked_peers(), 1U) << "only the new peer remains";
}

TEST(AdmissionTest, AccessFilterRefusesBeforeAnyLimit) {
  Admission admission;
  admission.set_limits({1, 1, 10, 1});
  Clients clients(admission);
  LimitsConfig rules = limited_rules();
  rules.access.deny = {*Cidr::parse("127.0.0.9/32").cidr};
  auto now = Clock::now();
  EXPECT_EQ(clients.connect("127.0.0.9:1", now, rules), RejectReason::kAccessDenied);
  EXPECT_EQ(admission.connections(), 0U) << "a refused client holds nothing";
  EXPECT_EQ(admission.tracked_peers(), 0U);
  EXPECT_EQ(clients.connect("127.0.0.8:1", now, rules), kAdmit);
}

TEST(AdmissionTest, TicketGivesBackItsShareExactlyOnce) {
  Admission admission;
  admission.set_limits({10, 1, 0, 0});
  auto now = Clock::now();
  AdmissionResult result = admission.admit(client("127.0.0.2:1"), limited_rules(), now);
  ASSERT_TRUE(result.admitted());
  AdmissionTicket moved = std::move(result.ticket);
  EXPECT_FALSE(result.ticket.held());  // NOLINT(bugprone-use-after-move): what a move leaves
  EXPECT_TRUE(moved.held());
  EXPECT_EQ(admission.connections(), 1U);
  result.ticket.reset();  // the moved-from ticket holds nothing to give back
  EXPECT_EQ(admission.connections(), 1U);
  moved.reset();
  moved.reset();
  EXPECT_EQ(admission.connections(), 0U);
  EXPECT_EQ(admission.admit(client("127.0.0.2:1"), limited_rules(), now).refused, kAdmit)
      << "the per-address slot is back";
}

TEST(AdmissionTest, ExemptPeerIsHeldToTheTotalBudgetOnly) {
  Admission admission;
  admission.set_limits({5, 1, 10, 1});
  Clients exempt(admission);
  Clients limited(admission);
  auto now = Clock::now();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(exempt.connect_exempt("127.0.0.1:1", now), kAdmit) << "connection #" << i;
    EXPECT_FALSE(exempt.last().counted());
  }
  EXPECT_EQ(admission.tracked_peers(), 0U) << "an exempt peer leaves no entry";
  EXPECT_EQ(exempt.connect_exempt("127.0.0.1:1", now), RejectReason::kMaxConnections);
  EXPECT_EQ(limited.connect("127.0.0.2:1", now), RejectReason::kMaxConnections);
  exempt.close_last();
  EXPECT_EQ(admission.connections(), 4U);
  EXPECT_EQ(limited.connect("127.0.0.2:1", now), kAdmit);
  EXPECT_TRUE(limited.last().counted());
}

// Exempt connections from an address take none of its per-peer slots and none of its tokens:
// the same address, not exempt, still gets exactly its own limits.
TEST(AdmissionTest, ExemptConnectionsTakeNoSlotOrToken) {
  Admission admission;
  admission.set_limits({1000, 2, 10, 3});
  Clients clients(admission);
  auto now = Clock::now();
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(clients.connect_exempt("127.0.0.2:1", now), kAdmit) << "exempt connection #" << i;
  }
  EXPECT_EQ(clients.connect("127.0.0.2:1", now), kAdmit);
  EXPECT_EQ(clients.connect("127.0.0.2:1", now), kAdmit);
  EXPECT_EQ(clients.connect("127.0.0.2:1", now), RejectReason::kMaxPerIp);
  EXPECT_EQ(admission.connections(), 52U);

  // Tokens: the bucket of 3 admits 3 limited connections at one instant, whatever the exempt
  // ones do in between.
  admission.set_limits({1000, 0, 10, 3});
  int admitted = 0;
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(clients.connect_exempt("127.0.0.3:1", now), kAdmit);
    if (clients.connect("127.0.0.3:1", now) == kAdmit) ++admitted;
  }
  EXPECT_EQ(admitted, 3);
}

// The exempt list changes (a reload) while connections from an address are open, both ways.
// Each connection gives back exactly what it took, as its ticket recorded: the slots of the
// counted ones, never those of the exempt ones.
TEST(AdmissionTest, ReleaseMatchesAdmissionAcrossAnExemptListChange) {
  Admission admission;
  admission.set_limits({1000, 2, 0, 0});
  Clients clients(admission);
  auto now = Clock::now();
  const char* const address = "127.0.0.2:1";

  // Exempt first, then not: the exempt connections leave without freeing the counted slots.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(clients.connect_exempt(address, now), kAdmit);
  std::vector<AdmissionTicket> exempt = clients.take();
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(clients.connect(address, now), kAdmit);
    ASSERT_TRUE(clients.last().counted());
  }
  std::vector<AdmissionTicket> counted = clients.take();
  EXPECT_EQ(clients.connect(address, now), RejectReason::kMaxPerIp);
  exempt.clear();
  EXPECT_EQ(clients.connect(address, now), RejectReason::kMaxPerIp)
      << "closing exempt connections freed a counted slot";
  EXPECT_EQ(admission.connections(), 2U);

  // Counted first, then exempt: the counted ones give their slots back when they close, even
  // though the address is exempt by then.
  for (int i = 0; i < 4; ++i) ASSERT_EQ(clients.connect_exempt(address, now), kAdmit);
  exempt = clients.take();
  counted.clear();
  exempt.clear();
  EXPECT_EQ(admission.connections(), 0U);
  EXPECT_EQ(clients.connect(address, now), kAdmit);
  EXPECT_EQ(clients.connect(address, now), kAdmit);
  EXPECT_EQ(clients.connect(address, now), RejectReason::kMaxPerIp)
      << "the slots must be back to exactly max_connections_per_ip";
}

// A connection waiting for its PROXY header holds a unit of the total budget and no address's
// slot; once its client is known the unit passes to the client's ticket, which is not checked
// against max_connections a second time.
TEST(AdmissionTest, ReservedUnitCountsTowardTheTotalAndPassesToTheClient) {
  Admission admission;
  admission.set_limits({2, 1, 0, 0});
  const LimitsConfig rules = limited_rules();
  auto now = Clock::now();
  AdmissionResult first = admission.reserve(PeerKey{});
  AdmissionResult second = admission.reserve(PeerKey{});
  ASSERT_TRUE(first.admitted());
  ASSERT_TRUE(second.admitted());
  EXPECT_FALSE(first.ticket.counted());
  EXPECT_EQ(admission.connections(), 2U);
  EXPECT_EQ(admission.reserve(PeerKey{}).refused, RejectReason::kMaxConnections);
  Clients clients(admission);
  EXPECT_EQ(clients.connect("127.0.0.5:1", now), RejectReason::kMaxConnections);

  // At the limit, a reserved connection is still admitted: its unit is carried.
  AdmissionResult admitted =
      admission.admit(client("127.0.0.2:1"), rules, now, std::move(first.ticket));
  ASSERT_TRUE(admitted.admitted());
  EXPECT_TRUE(admitted.ticket.counted());
  EXPECT_EQ(admission.connections(), 2U);

  // Refused by the client's own limit: the reserved unit is given back.
  AdmissionResult again =
      admission.admit(client("127.0.0.2:2"), rules, now, std::move(second.ticket));
  EXPECT_EQ(again.refused, RejectReason::kMaxPerIp);
  EXPECT_EQ(admission.connections(), 1U);

  admitted.ticket.reset();
  EXPECT_EQ(admission.connections(), 0U);
  // The reserved units touched no address: 127.0.0.2 has its one slot back.
  EXPECT_EQ(clients.connect("127.0.0.2:3", now), kAdmit);
}

// `echod --status` lists the busiest client addresses: most connections first, only addresses
// with a connection open, IPv6 by /64 as the limits count them.
TEST(AdmissionTest, TopClientsAreTheAddressesWithTheMostOpenConnections) {
  Admission admission;
  admission.set_limits({100, 10, 0, 0});
  Clients clients(admission);
  auto now = Clock::now();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(clients.connect("192.0.2.3:1", now), kAdmit);
  ASSERT_EQ(clients.connect("192.0.2.1:1", now), kAdmit);
  ASSERT_EQ(clients.connect("[2001:db8:0:7::1]:1", now), kAdmit);
  ASSERT_EQ(clients.connect("[2001:db8:0:7::2]:1", now), kAdmit);
  ASSERT_EQ(clients.connect("192.0.2.9:1", now), kAdmit);
  clients.close_last();  // 192.0.2.9 has no connection left

  std::vector<Admission::ClientCount> top = admission.top_clients(2);
  ASSERT_EQ(top.size(), 2U);
  EXPECT_EQ(top[0].client.to_string(), "192.0.2.3");
  EXPECT_EQ(top[0].connections, 3U);
  EXPECT_EQ(top[1].client.to_string(), "2001:db8:0:7::/64");
  EXPECT_EQ(top[1].connections, 2U);
  top = admission.top_clients(10);
  ASSERT_EQ(top.size(), 3U);
  EXPECT_EQ(top[2].client.to_string(), "192.0.2.1");
  EXPECT_TRUE(admission.top_clients(0).empty());
  clients.take();
  EXPECT_TRUE(admission.top_clients(10).empty());
}

// The status names the client refused last for each reason; a reservation refused before any
// client is known names none.
TEST(AdmissionTest, RemembersTheClientRefusedLastForEachReason) {
  Admission admission;
  admission.set_limits({3, 1, 0, 0});
  LimitsConfig rules = limited_rules();
  rules.access.deny = {*Cidr::parse("192.0.2.66/32").cidr};
  Clients clients(admission);
  auto now = Clock::now();
  EXPECT_FALSE(admission.last_refused().at(static_cast<std::size_t>(RejectReason::kMaxPerIp)));
  ASSERT_EQ(clients.connect("192.0.2.1:1", now), kAdmit);
  EXPECT_EQ(clients.connect("192.0.2.1:2", now), RejectReason::kMaxPerIp);
  EXPECT_EQ(clients.connect("192.0.2.66:1", now, rules), RejectReason::kAccessDenied);
  ASSERT_EQ(clients.connect("192.0.2.2:1", now), kAdmit);
  // A connection waiting for its PROXY header is refused under its peer's (the balancer's) name.
  const PeerKey balancer = PeerKey::of(client("10.0.0.9:40000"));
  ASSERT_TRUE(admission.reserve(balancer).admitted());  // given back at once
  AdmissionResult held = admission.reserve(balancer);
  ASSERT_TRUE(held.admitted());
  EXPECT_EQ(admission.reserve(balancer).refused, RejectReason::kMaxConnections);
  const Admission::LastRefused last = admission.last_refused();
  const auto& per_ip = last.at(static_cast<std::size_t>(RejectReason::kMaxPerIp));
  const auto& denied = last.at(static_cast<std::size_t>(RejectReason::kAccessDenied));
  ASSERT_TRUE(per_ip && denied);
  EXPECT_EQ(per_ip->to_string(), "192.0.2.1");
  EXPECT_EQ(denied->to_string(), "192.0.2.66");
  const auto& waiting = last.at(static_cast<std::size_t>(RejectReason::kMaxConnections));
  ASSERT_TRUE(waiting);
  EXPECT_EQ(waiting->to_string(), "10.0.0.9");
  EXPECT_EQ(clients.connect("192.0.2.3:1", now), RejectReason::kMaxConnections);
  const Admission::LastRefused after = admission.last_refused();
  const auto& total = after.at(static_cast<std::size_t>(RejectReason::kMaxConnections));
  ASSERT_TRUE(total);
  EXPECT_EQ(total->to_string(), "192.0.2.3");
}

}  // namespace
}  // namespace echod
