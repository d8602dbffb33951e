#include "http/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "http/server.h"

namespace ketamine::http {
namespace {

// PostAll against our own listener, which answers each POST 100 ms after it came.
TEST(Client, PostAllStartsNothingMoreOnceToldToStop) {
  std::atomic<int> received = 0;
  ServerOptions options;
  options.port = 0;
  auto server = Server::Start(options, [&received](const Request&, Responder respond) {
    ++received;
    std::thread([respond = std::move(respond)] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      respond({201, "application/fhir+json", {}, "{}"});
    }).detach();
  });
  ASSERT_TRUE(server.ok()) << server.status().message();
  auto client = Client::Make("http://127.0.0.1:" + std::to_string((*server)->port()) + "/fhir", {5000, {}});
  ASSERT_TRUE(client.ok());
  const std::vector<OutgoingPost> posts(10, OutgoingPost{"{}", {}});
  int asked = 0;
  auto answers = (*client)->PostAll(posts, /*in_flight=*/2, [&asked] { return ++asked <= 3; });
  ASSERT_EQ(answers.size(), 3u);  // two at once, a third after the first answer, then no more
  for (const auto& a : answers) {
    ASSERT_TRUE(a.ok()) << a.status().message();
    EXPECT_EQ(a->status, 201);
  }
  EXPECT_EQ(asked, 4);
  EXPECT_EQ(received, 3);
  // Without go_on every post goes.
  EXPECT_EQ((*client)->PostAll(posts, 4).size(), 10u);
  EXPECT_EQ(received, 13);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // the last answers' threads end
  (*server)->Stop();
}

}  // namespace
}  // namespace ketamine::http
