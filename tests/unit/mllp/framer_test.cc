#include "mllp/framer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ketamine::mllp {
namespace {

struct Collected {
  std::vector<std::string> messages;
  std::vector<size_t> oversized;
};

Collected FeedAll(Framer& framer, const std::vector<std::string>& chunks) {
  Collected out;
  for (const auto& chunk : chunks) {
    framer.Feed(chunk, [&](const FrameEvent& f) {
      if (f.kind == FrameEvent::kMessage) {
        out.messages.emplace_back(f.payload);
      } else {
        out.oversized.push_back(f.total_bytes);
      }
    });
  }
  return out;
}

TEST(FramerTest, OneFrame) {
  Framer framer;
  auto got = FeedAll(framer, {Frame("MSH|a\r")});
  ASSERT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(got.messages[0], "MSH|a\r");
  EXPECT_FALSE(framer.in_frame());
}

TEST(FramerTest, SplitAtEveryByte) {
  std::string wire = Frame("MSH|first\r") + Frame("MSH|second\r");
  std::vector<std::string> bytes;
  for (char c : wire) bytes.emplace_back(1, c);
  Framer framer;
  auto got = FeedAll(framer, bytes);
  ASSERT_EQ(got.messages.size(), 2u);
  EXPECT_EQ(got.messages[1], "MSH|second\r");
}

TEST(FramerTest, MergedFramesInOneRead) {
  Framer framer;
  auto got = FeedAll(framer, {Frame("A") + Frame("B") + Frame("C").substr(0, 2), "\x1c\r"});
  ASSERT_EQ(got.messages.size(), 3u);
  EXPECT_EQ(got.messages[2], "C");
}

TEST(FramerTest, NoiseBetweenFramesIsSkippedAndCounted) {
  Framer framer;
  auto got = FeedAll(framer, {"\r\n garbage" + Frame("A") + "xx"});
  ASSERT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(framer.skipped_bytes(), 12u);
}

TEST(FramerTest, EndBlockWithoutCarriageReturnIsData) {
  Framer framer;
  auto got = FeedAll(framer, {std::string("\x0b") + "A\x1cZ" + "\x1c\r"});
  ASSERT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(got.messages[0], "A\x1cZ");
}

TEST(FramerTest, StartBlockInsideAFrameRestartsIt) {
  Framer framer;
  auto got = FeedAll(framer, {"\x0bhalf a mess", Frame("whole")});
  ASSERT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(got.messages[0], "whole");
  EXPECT_GT(framer.skipped_bytes(), 0u);
}

TEST(FramerTest, OversizedFrameIsReportedWithItsHeadAndSkipped) {
  Framer framer(100);
  std::string big = "MSH|^~\\&|A|B|C|D|1||RDE^O11|BIG1|P|2.5\r" + std::string(500, 'x');
  std::vector<std::string> chunks;
  std::string wire = Frame(big) + Frame("MSH|small\r");
  for (size_t i = 0; i < wire.size(); i += 37) chunks.push_back(wire.substr(i, 37));
  Collected got;
  framer.Feed("", [](const FrameEvent&) {});
  for (const auto& c : chunks) {
    framer.Feed(c, [&](const FrameEvent& f) {
      if (f.kind == FrameEvent::kOversized) {
        got.oversized.push_back(f.total_bytes);
        EXPECT_EQ(f.payload.substr(0, 3), "MSH");
        EXPECT_LE(f.payload.size(), kOversizeHeadBytes);
      } else {
        got.messages.emplace_back(f.payload);
      }
    });
    EXPECT_LE(framer.buffered_bytes(), kOversizeHeadBytes);
  }
  ASSERT_EQ(got.oversized.size(), 1u);
  EXPECT_EQ(got.oversized[0], big.size());
  ASSERT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(got.messages[0], "MSH|small\r");
}

TEST(FramerTest, ExactlyAtTheLimitIsAccepted) {
  Framer framer(10);
  auto got = FeedAll(framer, {Frame(std::string(10, 'a')), Frame(std::string(11, 'b'))});
  EXPECT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(got.oversized.size(), 1u);
}

}  // namespace
}  // namespace ketamine::mllp
