#include "log/log_event.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace echod {
namespace {

using Fields = std::vector<std::string>;

TEST(LogEventTest, LimitRecordCarriesTheClientBesideThePeer) {
  LogEventFields fields{2, "10.0.0.5:7007", "max_connections_per_ip", std::nullopt};
  fields.client_addr = "192.0.2.1";
  fields.peer_addr = "10.0.0.2";
  EXPECT_EQ(journal_fields(LogEvent::kLimitFired, spdlog::level::warn, fields, "refused"),
            (Fields{"MESSAGE=refused", "MESSAGE_ID=645a0b63e2e2455ab7bce444ffb78a46", "PRIORITY=4",
                    "SYSLOG_IDENTIFIER=echod", "ECHOD_WORKER=2", "ECHOD_LISTENER=10.0.0.5:7007",
                    "ECHOD_REASON=max_connections_per_ip", "CLIENT_ADDR=192.0.2.1",
                    "PEER_ADDR=10.0.0.2"}));
}

// A connection refused before its header named a client has a peer and no client.
TEST(LogEventTest, EmptyFieldsAndNoEventAreLeftOut) {
  LogEventFields fields;
  fields.peer_addr = "2001:db8::2";
  EXPECT_EQ(
      journal_fields(std::nullopt, spdlog::level::debug, fields, "closed"),
      (Fields{"MESSAGE=closed", "PRIORITY=7", "SYSLOG_IDENTIFIER=echod", "PEER_ADDR=2001:db8::2"}));
  EXPECT_EQ(journal_fields(LogEvent::kReady, spdlog::level::info, LogEventFields::of_generation(3),
                           "ready"),
            (Fields{"MESSAGE=ready", "MESSAGE_ID=00cbcd87327d49f5bf1d8e7bdb61e4fc", "PRIORITY=6",
                    "SYSLOG_IDENTIFIER=echod", "ECHOD_GENERATION=3"}));
}

}  // namespace
}  // namespace echod
