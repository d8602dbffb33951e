#include "pipeline/inbound.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "store/sqlite_store.h"

namespace ketamine::pipeline {
namespace {

const char kRde[] =
    "MSH|^~\\&|PHARM|CLINIC|GW|HOSP|20261123101500||RDE^O11^RDE_O11|MSG0001|P|2.5.1\r"
    "PID|1||MRN123^^^CLINIC^MR||Doe^Jane\r"
    "RXE|^^^20261123|238082^ketamine 10 MG/ML^RXNORM|0.35||mg/kg/h\r";

class InboundTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kgw-inbound-" + std::to_string(::getpid()) + "-" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    store::SqliteOptions options;
    options.busy_timeout_ms = 50;
    auto s = store::SqliteStore::Open(dir_, options);
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
    pipeline_ = std::make_shared<InboundPipeline>(store_, InboundOptions{}, clock_);
  }
  void TearDown() override {
    pipeline_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::vector<std::string> Send(std::string message) {
    std::promise<std::vector<std::string>> done;
    auto future = done.get_future();
    pipeline_->OnMessage(std::move(message), {},
                         [&done](std::vector<std::string> replies) { done.set_value(std::move(replies)); });
    return future.get();
  }

  // Parses reply `i` and keeps its bytes alive in the fixture.
  const hl7v2::Message& Ack(const std::vector<std::string>& replies, size_t i = 0) {
    EXPECT_LT(i, replies.size());
    kept_.push_back(std::make_unique<std::string>(replies.at(i)));
    auto msg = hl7v2::Parse(std::string_view(*kept_.back()));
    EXPECT_TRUE(msg.ok()) << msg.status().ToString();
    acks_.push_back(std::make_unique<hl7v2::Message>(std::move(*msg)));
    return *acks_.back();
  }

  FixedClockForTest clock_{std::chrono::system_clock::time_point(std::chrono::seconds(1795428900))};
  std::filesystem::path dir_;
  std::shared_ptr<store::SqliteStore> store_;
  std::shared_ptr<InboundPipeline> pipeline_;
  std::vector<std::unique_ptr<std::string>> kept_;
  std::vector<std::unique_ptr<hl7v2::Message>> acks_;
};

TEST_F(InboundTest, AcceptedMessageIsStoredThenAcknowledged) {
  auto replies = Send(kRde);
  ASSERT_EQ(replies.size(), 1u);
  const auto& ack = Ack(replies);
  EXPECT_EQ(ack.Get("MSA-1"), "AA");
  EXPECT_EQ(ack.Get("MSA-2"), "MSG0001");
  auto stored = store_->List(0, 10);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].record.raw, kRde);
  EXPECT_EQ((*stored)[0].record.message_type, "RDE^O11");
  EXPECT_EQ((*stored)[0].record.status, store::MessageStatus::kAccepted);
}

TEST_F(InboundTest, DuplicateIsAcknowledgedAgainAndNotStoredTwice) {
  auto first = Send(kRde);
  auto second = Send(kRde);
  EXPECT_EQ(first, second);  // the very same ACK
  EXPECT_EQ(*store_->Count(), 1);
  EXPECT_EQ(pipeline_->counters().duplicates.load(), 1u);
}

TEST_F(InboundTest, UnsupportedMessageTypeGetsAr200) {
  auto replies = Send("MSH|^~\\&|A|B|C|D|1||DFT^P03|X1|P|2.5.1\r");
  const auto& ack = Ack(replies);
  EXPECT_EQ(ack.Get("MSA-1"), "AR");
  EXPECT_EQ(ack.Get("ERR-3.1"), "200");
  EXPECT_EQ(ack.Get("ERR-2"), "MSH^1^9^^1");
  EXPECT_EQ(ack.Get("ERR-4"), "E");
  auto stored = store_->List(0, 10);
  ASSERT_EQ(stored->size(), 1u);  // kept for the record, marked rejected
  EXPECT_EQ((*stored)[0].record.status, store::MessageStatus::kRejected);
}

TEST_F(InboundTest, UnsupportedTriggerGetsAr201) {
  const auto& ack = Ack(Send("MSH|^~\\&|A|B|C|D|1||ADT^A31|X1|P|2.5.1\r"));
  EXPECT_EQ(ack.Get("MSA-1"), "AR");
  EXPECT_EQ(ack.Get("ERR-3.1"), "201");
}

TEST_F(InboundTest, UnsupportedVersionAndProcessingId) {
  const auto& ack = Ack(Send("MSH|^~\\&|A|B|C|D|1||ADT^A04|X1|Q|3.0\r"));
  EXPECT_EQ(ack.Get("MSA-1"), "AR");
  ASSERT_EQ(ack.CountSegments("ERR"), 2);
  EXPECT_EQ(ack.Get("ERR[1]-3.1"), "202");
  EXPECT_EQ(ack.Get("ERR[2]-3.1"), "203");
}

TEST_F(InboundTest, MissingControlIdGetsAr101) {
  const auto& ack = Ack(Send("MSH|^~\\&|A|B|C|D|1||ADT^A04||P|2.5\r"));
  EXPECT_EQ(ack.Get("MSA-1"), "AR");
  EXPECT_EQ(ack.Get("ERR-3.1"), "101");
  EXPECT_EQ(ack.Get("ERR-2.3"), "10");
}

TEST_F(InboundTest, UnparsableMessageGetsArNamingTheSegment) {
  const auto& ack = Ack(Send("MSH|^~\\&|A|B|C|D|1||ADT^A04|BAD7|P|2.5\rpid|1\r"));
  EXPECT_EQ(ack.Get("MSA-1"), "AR");
  EXPECT_EQ(ack.Get("MSA-2"), "BAD7");
  EXPECT_NE(ack.GetText("ERR-8").find("segment 2"), std::string::npos);
  const auto& garbage = Ack(Send(std::string("\x00\x01\x02", 3)));
  EXPECT_EQ(garbage.Get("MSA-1"), "AR");
  EXPECT_EQ(*store_->Count(), 2);  // both kept, so nothing is lost
}

TEST_F(InboundTest, EnhancedModeSendsCommitAckThenApplicationAck) {
  auto replies = Send("MSH|^~\\&|A|B|C|D|1||RDE^O11|E1|P|2.5.1|||AL|AL\r");
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(Ack(replies, 0).Get("MSA-1"), "CA");
  EXPECT_EQ(Ack(replies, 1).Get("MSA-1"), "AA");
  auto only_commit = Send("MSH|^~\\&|A|B|C|D|1||RDE^O11|E2|P|2.5.1|||AL|NE\r");
  ASSERT_EQ(only_commit.size(), 1u);
  EXPECT_EQ(Ack(only_commit).Get("MSA-1"), "CA");
  auto rejected = Send("MSH|^~\\&|A|B|C|D|1||XYZ^Z01|E3|P|2.5.1|||AL|AL\r");
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(Ack(rejected).Get("MSA-1"), "CR");
}

TEST_F(InboundTest, StoreThatCannotWriteGetsArNeverAa) {
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / store::SqliteStore::kFileName).c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE;", nullptr, nullptr, nullptr), SQLITE_OK);
  const auto& ack = Ack(Send(kRde));
  EXPECT_EQ(ack.Get("MSA-1"), "AR");
  EXPECT_EQ(ack.Get("ERR-3.1"), "207");
  // Built once the store failed, from what was read off the message before it went to the store.
  EXPECT_EQ(ack.Get("MSA-2"), "MSG0001");
  EXPECT_EQ(ack.Get("MSH-3"), "GW");
  EXPECT_EQ(ack.Get("MSH-5"), "PHARM");
  EXPECT_EQ(ack.Get("MSH-6"), "CLINIC");
  EXPECT_EQ(ack.Get("MSH-9.2"), "O11");
  EXPECT_EQ(ack.Get("MSH-12"), "2.5.1");
  auto enhanced = Send("MSH|^~\\&|A|B|C|D|1||RDE^O11|E9|P|2.5.1|||AL|AL\r");
  ASSERT_EQ(enhanced.size(), 1u);
  EXPECT_EQ(Ack(enhanced).Get("MSA-1"), "CR");
  EXPECT_EQ(Ack(enhanced).Get("MSA-2"), "E9");
  sqlite3_exec(other, "ROLLBACK;", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  EXPECT_EQ(Ack(Send(kRde)).Get("MSA-1"), "AA");  // the sender's retry goes through
  EXPECT_EQ(*store_->Count(), 1);
}

TEST_F(InboundTest, OversizedMessageGetsAr) {
  std::promise<std::vector<std::string>> done;
  pipeline_->OnOversized("MSH|^~\\&|A|B|C|D|1||RDE^O11|BIG|P|2.5.1\rRXE|", 5000000, {},
                         [&](std::vector<std::string> r) { done.set_value(std::move(r)); });
  auto replies = done.get_future().get();
  const auto& ack = Ack(replies);
  EXPECT_EQ(ack.Get("MSA-1"), "AR");
  EXPECT_EQ(ack.Get("MSA-2"), "BIG");
  EXPECT_EQ(ack.Get("ERR-3.1"), "104");
}

TEST(ParseFailureTest, MapsLocations) {
  auto e = AckErrorForParseFailure(InvalidInput("x", Location("MSH-2")));
  EXPECT_EQ(e.location.segment, "MSH");
  EXPECT_EQ(e.location.field, 2);
  EXPECT_EQ(e.code, hl7v2::ErrorCode::kDataTypeError);
  e = AckErrorForParseFailure(Unsupported("x", Location("MSH-18")));
  EXPECT_EQ(e.code, hl7v2::ErrorCode::kTableValueNotFound);
}

}  // namespace
}  // namespace ketamine::pipeline

namespace ketamine::pipeline {
namespace {

class ConvertingInboundTest : public InboundTest {
 protected:
  void SetUp() override {
    InboundTest::SetUp();
    InboundOptions options;
    auto converter = mapping::Converter::Load({std::filesystem::path(KETAMINE_PROFILES_DIR).parent_path() / "mappings"});
    ASSERT_TRUE(converter.ok()) << converter.status().ToString();
    auto validator = profiles::Validator::Load(KETAMINE_PROFILES_DIR);
    ASSERT_TRUE(validator.ok()) << validator.status().ToString();
    options.converter = *converter;
    options.validator = *validator;
    options.convert.default_timezone = "-05:00";
    pipeline_ = std::make_shared<InboundPipeline>(store_, options, clock_);
  }
};

TEST_F(ConvertingInboundTest, MissingRequiredFieldGetsAeWithErr101) {
  auto replies = Send(
      "MSH|^~\\&|EHR|CLINIC|GW|CLINIC|20261123083000-0500||RDE^O11^RDE_O11|AE1|P|2.5.1\r"
      "PID|1||MRN-1^^^CLINIC^MR||Doe^Jane||19800101|F\rORC|NW|ORD-1^EHR\rRXE|||1||mg\rRXR|IV\r");
  const auto& ack = Ack(replies);
  EXPECT_EQ(ack.Get("MSA-1"), "AE");
  bool found = false;
  for (int i = 1; i <= ack.CountSegments("ERR"); ++i) {
    std::string prefix = "ERR[" + std::to_string(i) + "]-";
    if (ack.Get(prefix + "3.1") == "101") {
      found = true;
      EXPECT_EQ(ack.Get(prefix + "2"), "RXE^1^2");
      EXPECT_EQ(ack.Get(prefix + "4"), "E");
    }
  }
  EXPECT_TRUE(found);
  auto stored = store_->List(0, 10);
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].record.status, store::MessageStatus::kError);  // kept, not lost
}

TEST_F(ConvertingInboundTest, CleanKetamineAdministrationGetsAa) {
  std::ifstream in(std::string(KETAMINE_TEST_DATA_DIR) + "/hl7v2/RAS_O17-ketamine-1.hl7", std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  const auto& ack = Ack(Send(text.str()));
  EXPECT_EQ(ack.Get("MSA-1"), "AA");
  for (int i = 1; i <= ack.CountSegments("ERR"); ++i) {
    EXPECT_EQ(ack.Get("ERR[" + std::to_string(i) + "]-4"), "W");  // only warnings, if any
  }
}

}  // namespace
}  // namespace ketamine::pipeline
