#include "worker/admission.hpp"

#include <gtest/gtest.h>

namespace echod {
namespace {

using Clock = Admission::Clock;
using Verdict = Admission::Verdict;

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

}  // namespace
}  // namespace echod
