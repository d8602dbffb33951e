#include "mapping/csv.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fhir/json.h"

namespace ketamine::mapping {
namespace {

std::vector<std::vector<std::string>> ReadAll(std::string_view text, std::string* error = nullptr, size_t limit = 1024) {
  CsvReader reader(text, ',', limit);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string e;
  while (reader.Next(row, e)) {
    rows.push_back(row);
    if (!e.empty()) break;
  }
  if (error != nullptr) *error = e;
  return rows;
}

TEST(CsvReader, QuotesLineBreaksAndBom) {
  auto rows = ReadAll("\xEF\xBB\xBF" "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n\r\nlast,,\n");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"x, y", "say \"hi\"", "two\nlines"}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"last", "", ""}));
}

TEST(CsvReader, UnclosedQuoteAndOversizedFieldAreErrors) {
  std::string error;
  ReadAll("a,b\n\"open,c\n", &error);
  EXPECT_EQ(error, "a quoted field is not closed");
  ReadAll("a,b\n" + std::string(2000, 'x') + "\n", &error, 1024);
  EXPECT_NE(error.find("longer than 1024"), std::string::npos);
}

TEST(CsvReader, LineNumbersCountQuotedLineBreaks) {
  CsvReader reader("h\n\"a\nb\"\nc\n", ',', 100);
  std::vector<std::string> row;
  std::string error;
  ASSERT_TRUE(reader.Next(row, error));
  ASSERT_TRUE(reader.Next(row, error));
  EXPECT_EQ(reader.line(), 2u);
  ASSERT_TRUE(reader.Next(row, error));
  EXPECT_EQ(reader.line(), 4u);
  EXPECT_FALSE(reader.Next(row, error));
}

class CsvLayoutTest : public ::testing::Test {
 protected:
  std::filesystem::path Site(const std::string& file, const std::string& text) {
    auto dir = std::filesystem::temp_directory_path() / ("kgw-csv-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "csv");
    std::ofstream(dir / "csv" / file) << text;
    dirs_.push_back(dir);
    return dir;
  }
  void TearDown() override {
    for (const auto& d : dirs_) std::filesystem::remove_all(d);
  }
  std::vector<std::filesystem::path> dirs_;
};

TEST_F(CsvLayoutTest, ABrokenLayoutIsRefusedNamingFileLineAndReason) {
  auto site = Site("bad.json", "{\n  \"id\": \"x\",\n  \"resources\": [{\"name\": \"p\", \"resourceType\": \"Patient\",\n"
                               "    \"fields\": [{\"to\": \"birthDate\", \"column\": \"dob\", \"type\": \"datetime\"}]}]\n}\n");
  auto loaded = Converter::Load({KETAMINE_MAPPINGS_DIR, site});
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(), "bad.json line 4: resources[0].fields[0].type: unknown type 'datetime'");
}

TEST_F(CsvLayoutTest, ASiteLayoutWithSemicolonsAndUsDates) {
  auto site = Site("site.json", R"({"id": "site", "delimiter": ";", "resources": [
    {"name": "patient", "resourceType": "Patient", "identity": {"system": "urn:site", "column": "id"},
     "fields": [{"to": "identifier[0].value", "column": "id"}]},
    {"name": "pain", "resourceType": "Observation", "when": {"anyPresent": ["score"]},
     "fields": [{"to": "status", "value": "final"}, {"to": "subject", "reference": "patient"},
                {"to": "effectiveDateTime", "column": "when", "type": "dateTime", "format": "MM/DD/YYYY"},
                {"to": "valueInteger", "column": "score", "type": "integer"}]}]})");
  auto loaded = Converter::Load({KETAMINE_MAPPINGS_DIR, site});
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const CsvPlan* plan = (*loaded)->CsvPlanById("site");
  ASSERT_NE(plan, nullptr);
  std::vector<std::string> bundles;
  std::vector<std::string> issues;
  ConvertOptions options;
  options.default_timezone = "-06:00";
  Status status = (*loaded)->CsvToFhir("id;when;score\nP1;11/3/2026 9:05;6\nP2;11/3/2026 9:05;\n", *plan, options,
                                       [&](CsvRowResult& row) {
                                         for (const auto& i : row.issues.items()) issues.push_back(i.ToString());
                                         bundles.push_back(fhir::ToJson(*row.bundle));
                                       });
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_TRUE(issues.empty());
  ASSERT_EQ(bundles.size(), 2u);
  EXPECT_NE(bundles[0].find(R"("effectiveDateTime":"2026-11-03T09:05:00-06:00")"), std::string::npos) << bundles[0];
  EXPECT_NE(bundles[0].find(R"("url":"Patient?identifier=urn:site|P1")"), std::string::npos);
  EXPECT_EQ(bundles[1].find("Observation"), std::string::npos) << "no score, no Observation";
}

TEST_F(CsvLayoutTest, ALayoutNamesItsCharacterSetAndTheRequestOverridesIt) {
  const std::string layout = R"({"id": "latin", "charset": "ISO-8859-1", "resources": [
    {"name": "patient", "resourceType": "Patient", "identity": {"system": "urn:site", "column": "id"},
     "fields": [{"to": "identifier[0].value", "column": "id"}, {"to": "name[0].family", "column": "family"}]}]})";
  auto site = Site("latin.json", layout);
  auto loaded = Converter::Load({KETAMINE_MAPPINGS_DIR, site});
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const CsvPlan* plan = (*loaded)->CsvPlanById("latin");
  ASSERT_NE(plan, nullptr);
  auto family = [&](std::string_view text, const std::string& charset) {
    ConvertOptions options;
    options.charset = charset;
    std::string name;
    Status status = (*loaded)->CsvToFhir(text, *plan, options, [&](CsvRowResult& row) {
      name = (*row.bundle)["entry"][0]["resource"]["name"][0]["family"].GetString();
    });
    return status.ok() ? name : "error: " + status.message();
  };
  EXPECT_EQ(family("id,family\nP1,M\xFCller\n", ""), "M\xC3\xBCller");          // the layout's ISO-8859-1
  EXPECT_EQ(family("id,family\nP1,M\xC3\xBCller\n", "utf-8"), "M\xC3\xBCller");  // the request says UTF-8
  EXPECT_EQ(family("id,family\nP1,\x80\n", "WINDOWS-1252"), "\xE2\x82\xAC");     // the euro sign
  EXPECT_EQ(family("id,family\nP1,\x81\n", "WINDOWS-1252"), "error: the CSV input: byte 13 is not valid WINDOWS-1252");

  auto unknown = Site("unknown.json", R"({"id": "u", "charset": "KLINGON-8", "resources": [
    {"name": "p", "resourceType": "Patient", "fields": [{"to": "id", "column": "id"}]}]})");
  auto refused = Converter::Load({KETAMINE_MAPPINGS_DIR, unknown});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("unknown.json line 1: charset: is a character set glibc's iconv knows"),
            std::string::npos)
      << refused.status().message();
}

TEST_F(CsvLayoutTest, TextThatIsNotUtf8IsRefusedWithItsLine) {
  auto loaded = Converter::Load({KETAMINE_MAPPINGS_DIR});
  ASSERT_TRUE(loaded.ok());
  Status status = (*loaded)->CsvToFhir("mrn,family_name\nMRN-1,Doe\nMRN-2,M\xFCller\n", *(*loaded)->CsvPlanById("pain-vitals"),
                                       {}, [](CsvRowResult&) {});
  EXPECT_EQ(status.message(), "line 3 of the CSV input is not UTF-8 (byte 33): export it as UTF-8 or name its character set "
                              "(such as WINDOWS-1252)");
}

}  // namespace
}  // namespace ketamine::mapping
