#include "worker/connection_table.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

namespace echod {
namespace {

Connection make_connection() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  UniqueFd other(fds[1]);  // closed at once; only the table's side matters here
  return Connection(UniqueFd(fds[0]), AdmissionTicket{}, 0);
}

TEST(ConnectionTableTest, FindsWhatWasInserted) {
  ConnectionTable table;
  auto token = table.insert(make_connection());
  ASSERT_NE(table.find(token), nullptr);
  EXPECT_EQ(table.size(), 1U);
  EXPECT_EQ(token & ConnectionTable::kTagBit, 0U);
}

TEST(ConnectionTableTest, StaleTokenFindsNothingAfterSlotReuse) {
  ConnectionTable table;
  auto first = table.insert(make_connection());
  table.erase(first);
  EXPECT_EQ(table.find(first), nullptr);
  auto second = table.insert(make_connection());
  EXPECT_EQ(static_cast<std::uint32_t>(first), static_cast<std::uint32_t>(second))
      << "the slot is reused";
  EXPECT_NE(first, second);
  EXPECT_EQ(table.find(first), nullptr);
  EXPECT_NE(table.find(second), nullptr);
}

TEST(ConnectionTableTest, EraseClosesTheFd) {
  ConnectionTable table;
  auto token = table.insert(make_connection());
  int fd = table.find(token)->fd();
  table.erase(token);
  EXPECT_EQ(table.size(), 0U);
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
}

TEST(ConnectionTableTest, TaggedTokensAreNeverConnections) {
  ConnectionTable table;
  auto token = table.insert(make_connection());
  EXPECT_EQ(table.find(token | ConnectionTable::kTagBit), nullptr);
}

TEST(ConnectionTableTest, ForEachMayEraseWhatItVisits) {
  ConnectionTable table;
  for (int i = 0; i < 5; ++i) table.insert(make_connection());
  int visited = 0;
  table.for_each([&](std::uint64_t token, Connection&) {
    ++visited;
    table.erase(token);
  });
  EXPECT_EQ(visited, 5);
  EXPECT_EQ(table.size(), 0U);
}

}  // namespace
}  // namespace echod
