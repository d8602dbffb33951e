#include "profiles/primitives.h"

#include <gtest/gtest.h>

#include "profiles/clinical.h"
#include "profiles/identifiers.h"

namespace ketamine::profiles {
namespace {

TEST(PrimitivesTest, DatesAndTimes) {
  for (const char* ok : {"2026", "2026-11", "2026-11-23"}) EXPECT_TRUE(IsValidDate(ok)) << ok;
  for (const char* bad : {"26", "2026-13", "2026-11-32", "0000", "2026-1-1", "2026-11-23T10:00:00Z"}) {
    EXPECT_FALSE(IsValidDate(bad)) << bad;
  }
  for (const char* ok : {"2026", "2026-11-23", "2026-11-23T09:00:00-05:00", "2026-11-23T09:00:00.123Z",
                         "2026-11-23T23:59:60+14:00"}) {
    EXPECT_TRUE(IsValidDateTime(ok)) << ok;
  }
  for (const char* bad : {"2026-11-23T09:00:00", "2026-11-23T09:00Z", "2026-11-23 09:00:00Z",
                          "2026-11-23T24:00:00Z", "2026-11-23T09:00:00+14:30", "2026-11-23T09:00:00.Z"}) {
    EXPECT_FALSE(IsValidDateTime(bad)) << bad;
  }
  EXPECT_TRUE(IsValidInstant("2026-11-23T09:00:00.5Z"));
  EXPECT_FALSE(IsValidInstant("2026-11-23"));
  EXPECT_TRUE(IsValidTime("09:00:00"));
  EXPECT_FALSE(IsValidTime("9:00"));
}

TEST(PrimitivesTest, OtherFormats) {
  EXPECT_TRUE(IsValidPrimitive("code", "on-hold"));
  EXPECT_FALSE(IsValidPrimitive("code", " active"));
  EXPECT_FALSE(IsValidPrimitive("code", "a  b"));
  EXPECT_TRUE(IsValidPrimitive("id", "ket-order.7001"));
  EXPECT_FALSE(IsValidPrimitive("id", "ket_order"));
  EXPECT_FALSE(IsValidPrimitive("id", std::string(65, 'a')));
  EXPECT_TRUE(IsValidPrimitive("oid", "urn:oid:2.16.840.1.113883.4.6"));
  EXPECT_FALSE(IsValidPrimitive("oid", "urn:oid:3.1"));
  EXPECT_TRUE(IsValidPrimitive("uuid", "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"));
  EXPECT_FALSE(IsValidPrimitive("uuid", "urn:uuid:C757873D-ec9a-4326-a141-556f43239520"));
  EXPECT_FALSE(IsValidPrimitive("uri", "has space"));
  EXPECT_TRUE(IsValidPrimitive("base64Binary", "aGVsbG8="));
  EXPECT_FALSE(IsValidPrimitive("base64Binary", "aGVsbG8"));
  EXPECT_FALSE(IsValidPrimitive("string", ""));
}

TEST(IdentifiersTest, DeaNumbersFromTheDomainFixtures) {
  for (const char* ok : {"AB1234563", "BB1388568", "CF1234563"}) EXPECT_TRUE(IsValidDeaNumber(ok)) << ok;
  for (const char* bad : {"AB1234564", "CS4861378", "ab1234563", "AB123456", "ZB1234563", "A91234563X"}) {
    EXPECT_FALSE(IsValidDeaNumber(bad)) << bad;
  }
}

TEST(IdentifiersTest, NpisFromTheDomainFixtures) {
  for (const char* ok : {"1234567893", "1245319599", "1003000126"}) EXPECT_TRUE(IsValidNpi(ok)) << ok;
  for (const char* bad : {"1234567890", "123456789", "12345678931", "12345678a3"}) EXPECT_FALSE(IsValidNpi(bad)) << bad;
}

}  // namespace
}  // namespace ketamine::profiles
