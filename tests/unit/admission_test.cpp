#include "worker/admission.hpp"

#include <vector>

#include <gtest/gtest.h>

namespace echod {
namespace {

using Clock = Admission::Clock;
using Verdict = Admission::Verdict;
using PerPeer = Admission::PerPeer;

PeerKey peer(const char* text) { return PeerKey::of(*SocketAddress::parse(text).address); }

TEST(AdmissionTest, EnforcesTheTotalBudgetAndFreesItOnRelease) {
  Admission admission;
  admission.set_limits({3, 0, 0, 0});
  auto now = Clock::now();
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(admission.admit(peer("127.0.0.1:1"), now).verdict, Verdict::kAdmit);
  EXPECT_EQ(admission.admit(peer("127.0.0.2:1"), now).verdict, Verdict::kMaxConnections);
  admission.release(peer("127.0.0.1:1"), true);
  EXPECT_EQ(admission.admit(peer("127.0.0.2:1"), now).verdict, Verdict::kAdmit);
  EXPECT_EQ(admission.connections(), 3U);
}

TEST(AdmissionTest, CountsConnectionsPerAddressNotPerPort) {
  Admission admission;
  admission.set_limits({100, 2, 0, 0});
  auto now = Clock::now();
  EXPECT_EQ(admission.admit(peer("127.0.0.2:1000"), now).verdict, Verdict::kAdmit);
  EXPECT_EQ(admission.admit(peer("127.0.0.2:2000"), now).verdict, Verdict::kAdmit);
  EXPECT_EQ(admission.admit(peer("127.0.0.2:3000"), now).verdict, Verdict::kMaxPerPeer);
  EXPECT_EQ(admission.admit(peer("127.0.0.3:1000"), now).verdict, Verdict::kAdmit)
      << "other peers unaffected";
}

TEST(AdmissionTest, CountsIpv6ByPrefix64) {
  Admission admission;
  admission.set_limits({100, 1, 0, 0});
  auto now = Clock::now();
  EXPECT_EQ(admission.admit(peer("[2001:db8:1:2::1]:1"), now).verdict, Verdict::kAdmit);
  EXPECT_EQ(admission.admit(peer("[2001:db8:1:2::ffff]:1"), now).verdict, Verdict::kMaxPerPeer);
  EXPECT_EQ(admission.admit(peer("[2001:db8:1:3::1]:1"), now).verdict, Verdict::kAdmit);
}

TEST(AdmissionTest, TokenBucketAllowsBurstThenRate) {
  Admission admission;
  admission.set_limits({100000, 0, 10, 5});
  auto start = Clock::now();
  int admitted = 0;
  for (int i = 0; i < 20; ++i) {
    if (admission.admit(peer("127.0.0.4:1"), start).verdict == Verdict::kAdmit) ++admitted;
  }
  EXPECT_EQ(admitted, 5) << "the burst";
  EXPECT_EQ(admission.admit(peer("127.0.0.4:1"), start).verdict, Verdict::kAcceptRate);
  // One second later, ten more tokens (capped at the burst of five).
  int later = 0;
  for (int i = 0; i < 20; ++i) {
    if (admission.admit(peer("127.0.0.4:1"), start + std::chrono::seconds(1)).verdict ==
        Verdict::kAdmit) {
      ++later;
    }
  }
  EXPECT_EQ(later, 5);
  EXPECT_EQ(admission.admit(peer("127.0.0.5:1"), start).verdict, Verdict::kAdmit) << "per address";
}

TEST(AdmissionTest, ForgetsIdlePeersWithFullBuckets) {
  Admission admission;
  admission.set_limits({100, 10, 10, 5});
  auto start = Clock::now();
  ASSERT_EQ(admission.admit(peer("127.0.0.6:1"), start).verdict, Verdict::kAdmit);
  admission.release(peer("127.0.0.6:1"), true);
  EXPECT_EQ(admission.tracked_peers(), 1U);
  // Past the sweep interval, and long enough for the bucket to refill.
  ASSERT_EQ(admission.admit(peer("127.0.0.7:1"), start + std::chrono::seconds(5)).verdict,
            Verdict::kAdmit);
  EXPECT_EQ(admission.tracked_peers(), 1U) << "only the new peer remains";
}

TEST(AdmissionTest, ExemptPeerIsHeldToTheTotalBudgetOnly) {
  Admission admission;
  admission.set_limits({5, 1, 10, 1});
  auto now = Clock::now();
  for (int i = 0; i < 5; ++i) {
    Admission::Decision decision = admission.admit(peer("127.0.0.1:1"), now, PerPeer::kExempt);
    EXPECT_EQ(decision.verdict, Verdict::kAdmit) << "connection #" << i;
    EXPECT_FALSE(decision.counted);
  }
  EXPECT_EQ(admission.tracked_peers(), 0U) << "an exempt peer leaves no entry";
  EXPECT_EQ(admission.admit(peer("127.0.0.1:1"), now, PerPeer::kExempt).verdict,
            Verdict::kMaxConnections);
  EXPECT_EQ(admission.admit(peer("127.0.0.2:1"), now).verdict, Verdict::kMaxConnections);
  admission.release(peer("127.0.0.1:1"), false);
  EXPECT_EQ(admission.connections(), 4U);
  Admission::Decision limited = admission.admit(peer("127.0.0.2:1"), now);
  EXPECT_EQ(limited.verdict, Verdict::kAdmit);
  EXPECT_TRUE(limited.counted);
}

// Exempt connections from an address take none of its per-peer slots and none of its tokens:
// the same address, not exempt, still gets exactly its own limits.
TEST(AdmissionTest, ExemptConnectionsTakeNoSlotOrToken) {
  Admission admission;
  admission.set_limits({1000, 2, 10, 3});
  auto now = Clock::now();
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(admission.admit(peer("127.0.0.2:1"), now, PerPeer::kExempt).verdict, Verdict::kAdmit)
        << "exempt connection #" << i;
  }
  EXPECT_EQ(admission.admit(peer("127.0.0.2:1"), now).verdict, Verdict::kAdmit);
  EXPECT_EQ(admission.admit(peer("127.0.0.2:1"), now).verdict, Verdict::kAdmit);
  EXPECT_EQ(admission.admit(peer("127.0.0.2:1"), now).verdict, Verdict::kMaxPerPeer);
  EXPECT_EQ(admission.connections(), 52U);

  // Tokens: the bucket of 3 admits 3 limited connections at one instant, whatever the exempt
  // ones do in between.
  admission.set_limits({1000, 0, 10, 3});
  int admitted = 0;
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(admission.admit(peer("127.0.0.3:1"), now, PerPeer::kExempt).verdict, Verdict::kAdmit);
    if (admission.admit(peer("127.0.0.3:1"), now).verdict == Verdict::kAdmit) ++admitted;
  }
  EXPECT_EQ(admitted, 3);
}

// The exempt list changes (a reload) while connections from an address are open, both ways.
// Each connection gives back exactly what it took, as its Decision recorded: the slots of the
// counted ones, never those of the exempt ones.
TEST(AdmissionTest, ReleaseMatchesAdmissionAcrossAnExemptListChange) {
  Admission admission;
  admission.set_limits({1000, 2, 0, 0});
  auto now = Clock::now();
  const PeerKey key = peer("127.0.0.2:1");

  // Exempt first, then not: the exempt connections leave without freeing the counted slots.
  std::vector<Admission::Decision> exempt;
  for (int i = 0; i < 3; ++i) exempt.push_back(admission.admit(key, now, PerPeer::kExempt));
  std::vector<Admission::Decision> counted;
  for (int i = 0; i < 2; ++i) counted.push_back(admission.admit(key, now));
  for (const auto& decision : counted) {
    ASSERT_EQ(decision.verdict, Verdict::kAdmit);
    ASSERT_TRUE(decision.counted);
  }
  EXPECT_EQ(admission.admit(key, now).verdict, Verdict::kMaxPerPeer);
  for (const auto& decision : exempt) admission.release(key, decision.counted);
  EXPECT_EQ(admission.admit(key, now).verdict, Verdict::kMaxPerPeer)
      << "closing exempt connections freed a counted slot";
  EXPECT_EQ(admission.connections(), 2U);

  // Counted first, then exempt: the counted ones give their slots back when they close, even
  // though the address is exempt by then.
  for (int i = 0; i < 4; ++i) exempt.push_back(admission.admit(key, now, PerPeer::kExempt));
  for (const auto& decision : counted) admission.release(key, decision.counted);
  for (int i = 3; i < 7; ++i) admission.release(key, exempt[static_cast<std::size_t>(i)].counted);
  EXPECT_EQ(admission.connections(), 0U);
  EXPECT_EQ(admission.admit(key, now).verdict, Verdict::kAdmit);
  EXPECT_EQ(admission.admit(key, now).verdict, Verdict::kAdmit);
  EXPECT_EQ(admission.admit(key, now).verdict, Verdict::kMaxPerPeer)
      << "the slots must be back to exactly max_connections_per_ip";
}

}  // namespace
}  // namespace echod
