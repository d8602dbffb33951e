// Every shared sample message parses and serializes back byte for byte.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "hl7v2/parser.h"

namespace ketamine::hl7v2 {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::filesystem::path> SampleFiles() {
  std::vector<std::filesystem::path> files;
  for (const char* dir : {KETAMINE_SAMPLES_DIR, KETAMINE_TEST_DATA_DIR "/hl7v2"}) {
    if (!std::filesystem::exists(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() == ".hl7") files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(SamplesTest, EverySampleParsesAndSerializesByteIdentical) {
  auto files = SampleFiles();
  ASSERT_GE(files.size(), 12u) << "shared/samples/hl7v2 not found at " << KETAMINE_SAMPLES_DIR;
  for (const auto& file : files) {
    std::string bytes = ReadFile(file);
    auto msg = Parse(bytes);
    ASSERT_TRUE(msg.ok()) << file.filename() << ": " << msg.status().ToString();
    EXPECT_EQ(Serialize(*msg), bytes) << file.filename();
    EXPECT_FALSE(msg->MessageCode().empty()) << file.filename();
  }
}

TEST(SamplesTest, KeyFieldsOfSamples) {
  std::string ras = ReadFile(std::filesystem::path(KETAMINE_SAMPLES_DIR) / "RAS_O17-hapi-1.hl7");
  auto msg = Parse(ras);
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(msg->CountSegments("RXA"), 2);
  EXPECT_EQ(msg->GetText("RXA[2]-5"), "0002|Advil|http://acme.org/meds");
  EXPECT_EQ(msg->Get("RXA[2]-6"), "20");
  EXPECT_EQ(msg->Get("RXA-9(2).2"), "Tylenol note 2");
  EXPECT_EQ(msg->Get("ZXC[2]-1"), "Some ZXC value 2");
}

}  // namespace
}  // namespace ketamine::hl7v2
