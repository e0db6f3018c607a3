#include <string_view>

#include <gtest/gtest.h>

#include "net/accept_error.hpp"
#include "net/close_reason.hpp"
#include "worker/reject_reason.hpp"
#include "worker/worker_status.hpp"

namespace echod {
namespace {

// Log searches, dashboards and alerts match on these strings: a change here is a breaking change
// for operators, not a refactoring.
TEST(ReasonInfoTest, ReasonsKeepTheirLogTextsAndLabels) {
  struct Case {
    ReasonInfo actual;
    std::string_view log_text;
    std::string_view label;
  };
  const Case cases[] = {
      {info(CloseReason::kPeerClosed), "client closed", "client_close"},
      {info(CloseReason::kShutdownTimeout), "shutdown timeout", "shutdown_timeout"},
      {info(CloseReason::kSendStall), "send stall", "send_stall"},
      {info(RejectReason::kAccessDenied), "access denied", "access_denied"},
      {info(RejectReason::kAcceptRate), "accept_rate_per_ip", "accept_rate"},
      {info(RejectReason::kMaxPerIp), "max_connections_per_ip", "max_connections_per_ip"},
      {info(AcceptErrorClass::kFdLimit), "out of file descriptors", "fd_limit"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.actual.log_text, c.log_text);
    EXPECT_EQ(c.actual.label, c.label);
  }
  EXPECT_EQ(kCloseReasonLabels[static_cast<std::size_t>(CloseReason::kIdleTimeout)],
            "idle_timeout");
  EXPECT_EQ(kRejectReasonLabels[static_cast<std::size_t>(RejectReason::kMaxConnections)],
            "max_connections");
  EXPECT_EQ(kAcceptErrorLabels[static_cast<std::size_t>(AcceptErrorClass::kOther)], "other");
}

TEST(ReasonInfoTest, AcceptErrorsAreClassifiedByErrno) {
  EXPECT_EQ(classify_accept_error(EMFILE), AcceptErrorClass::kFdLimit);
  EXPECT_EQ(classify_accept_error(ENFILE), AcceptErrorClass::kFdLimit);
  EXPECT_EQ(classify_accept_error(ENOBUFS), AcceptErrorClass::kMemory);
  EXPECT_EQ(classify_accept_error(ENOMEM), AcceptErrorClass::kMemory);
  EXPECT_EQ(classify_accept_error(ECONNABORTED), AcceptErrorClass::kAborted);
  EXPECT_EQ(classify_accept_error(EPROTO), AcceptErrorClass::kOther);
}

}  // namespace
}  // namespace echod
