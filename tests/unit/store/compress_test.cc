#include "store/compress.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace ketamine::store {
namespace {

std::string ReadBenchMessage() {
  std::ifstream in(std::string(KETAMINE_TESTS_DIR) + "/bench/data/RDE_O11-bench.hl7", std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Lz4Test, AMessageAndABundleRoundTripSmaller) {
  const std::string message = ReadBenchMessage();
  ASSERT_GT(message.size(), 1000u);
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
  for (int i = 0; i < 5; ++i) {
    if (i > 0) bundle += ",";
    bundle += R"({"fullUrl":"urn:uuid:708973f9-203a-54a0-9b9c-617f9f588d0)" + std::to_string(i) +
              R"(","resource":{"resourceType":"Medication","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"238082"}]}}})";
  }
  bundle += "]}";
  for (const std::string& plain : {message, bundle}) {
    const std::string packed = Lz4Pack(plain);
    ASSERT_FALSE(packed.empty());
    EXPECT_LT(packed.size(), plain.size() - plain.size() / 8);
    auto back = Lz4Unpack(packed);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, plain);
  }
}

TEST(Lz4Test, WhatWouldNotShrinkIsLeftAlone) {
  EXPECT_EQ(Lz4Pack(""), "");
  EXPECT_EQ(Lz4Pack("MSH|^~\\&|A|B"), "");  // too short to bother
  std::string noise;
  uint32_t x = 12345;
  for (int i = 0; i < 4096; ++i) {
    x = x * 1103515245 + 12345;
    noise.push_back(static_cast<char>(x >> 24));
  }
  EXPECT_EQ(Lz4Pack(noise), "");
}

TEST(Lz4Test, DamagedBlobsAreErrorsNotCrashes) {
  const std::string packed = Lz4Pack(std::string(5000, 'a') + std::string(5000, 'b'));
  ASSERT_FALSE(packed.empty());
  EXPECT_FALSE(Lz4Unpack("").ok());
  EXPECT_FALSE(Lz4Unpack("ab").ok());
  EXPECT_FALSE(Lz4Unpack(packed.substr(0, packed.size() - 3)).ok());  // cut short
  std::string claims_more = packed;
  claims_more[0] = static_cast<char>(claims_more[0] + 1);  // a header one byte off
  EXPECT_FALSE(Lz4Unpack(claims_more).ok());
  EXPECT_FALSE(Lz4Unpack(std::string("\xff\xff\xff\x7f", 4) + "xyz").ok());  // 2 GB claimed: refused, not allocated
  EXPECT_FALSE(Lz4Unpack(std::string("\x10\x00\x00\x00", 4) + "{\"not\":\"lz4\"}").ok());
  // More than LZ4 can expand ten bytes to: refused before a megabyte is allocated for it.
  EXPECT_FALSE(Lz4Unpack(std::string("\x00\x00\x10\x00", 4) + "0123456789").ok());
  // A block of literals only, as any LZ4 writer makes it: 20 bytes, token 0xF0, 20 - 15 = 5.
  EXPECT_EQ(*Lz4Unpack(std::string("\x14\x00\x00\x00\xf0\x05", 6) + "MSH|^~\\&|PHARM|CLINI"), "MSH|^~\\&|PHARM|CLINI");
}

}  // namespace
}  // namespace ketamine::store
