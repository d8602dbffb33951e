// The shipped examples: every valid one passes, every invalid one fails with exactly the rule its
// file name names ("clinical-rate.json", "profile-slice-min--waste-amount.json").
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "profiles/validator.h"
#include "shared_validator.h"

namespace ketamine::profiles {
namespace {

const std::filesystem::path kProfiles = KETAMINE_PROFILES_DIR;

std::string Read(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}


std::vector<std::filesystem::path> Files(const std::string& folder) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(kProfiles / "examples" / folder)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ExamplesTest, EveryValidExamplePasses) {
  auto files = Files("valid");
  ASSERT_GE(files.size(), 8u);
  for (const auto& file : files) {
    Issues issues = Shared()->ValidateText(Read(file));
    for (const auto& issue : issues.items()) {
      EXPECT_NE(issue.severity, Severity::kError) << file.filename() << ": " << issue.ToString();
      EXPECT_NE(issue.severity, Severity::kWarning) << file.filename() << ": " << issue.ToString();
    }
  }
}

TEST(ExamplesTest, EveryInvalidExampleBreaksExactlyItsNamedRule) {
  auto files = Files("invalid");
  ASSERT_GE(files.size(), 20u);
  std::set<std::string> rules;
  for (const auto& file : files) {
    std::string stem = file.stem().string();
    std::string rule = stem.substr(0, stem.find("--"));
    rules.insert(rule);
    Issues issues = Shared()->ValidateText(Read(file));
    std::set<std::string> errors;
    for (const auto& issue : issues.items()) {
      if (issue.severity == Severity::kError) errors.insert(issue.code);
    }
    EXPECT_EQ(errors, std::set<std::string>{rule}) << file.filename();
  }
  EXPECT_GE(rules.size(), 18u);
}

TEST(ExamplesTest, ProfilesAreAppliedWithoutBeingClaimed) {
  // The valid order claims no profile; auto-apply recognises ketamine by its RxNorm code.
  std::string text = Read(kProfiles / "examples/invalid/clinical-route.json");
  ASSERT_EQ(text.find("meta"), std::string::npos);
  EXPECT_TRUE(Shared()->ValidateText(text).HasErrors());
}

TEST(ExamplesTest, ExtraProfileFromTheCommandLine) {
  const Profile* prescriber =
      Shared()->profiles().Find("http://fhir.ketamine-gateway.org/StructureDefinition/ketamine-prescriber");
  ASSERT_NE(prescriber, nullptr);
  std::string plain = R"({"resourceType":"Practitioner","name":[{"family":"Lee"}]})";
  EXPECT_FALSE(Shared()->ValidateText(plain).HasErrors());
  EXPECT_TRUE(Shared()->ValidateText(plain, prescriber).HasErrors());
}

}  // namespace
}  // namespace ketamine::profiles
