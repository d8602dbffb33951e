#include "fhir/json_patch.h"

#include <gtest/gtest.h>

#include "fhir/json.h"

namespace ketamine::fhir {
namespace {

const char* const kOrder =
    R"({"resourceType":"MedicationRequest","id":"o1","status":"active","note":[{"text":"a"},{"text":"b"}],)"
    R"("dosageInstruction":[{"text":"0.5 mg/kg/h"}],"a/b":{"m~n":1}})";

// The patch applied to kOrder: the result as JSON, or the error's code and message.
struct Patched {
  Status status;
  std::string json;
};

Patched Apply(const std::string& patch, const std::string& doc = kOrder) {
  auto p = ParseJson(patch);
  EXPECT_TRUE(p.ok()) << patch;
  auto d = ParseJson(doc);
  EXPECT_TRUE(d.ok());
  Status s = ApplyJsonPatch(**p, **d);
  return {s, ToJson(**d)};
}

TEST(JsonPatch, AppliesEachOperationInOrder) {
  auto r = Apply(R"([{"op":"test","path":"/status","value":"active"},
                     {"op":"replace","path":"/status","value":"completed"},
                     {"op":"add","path":"/note/1","value":{"text":"between"}},
                     {"op":"add","path":"/note/-","value":{"text":"last"}},
                     {"op":"remove","path":"/note/0"},
                     {"op":"add","path":"/priority","value":"urgent"},
                     {"op":"copy","from":"/dosageInstruction/0/text","path":"/note/0/text"},
                     {"op":"move","from":"/priority","path":"/intent"},
                     {"op":"replace","path":"/a~1b/m~0n","value":2}])");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.json,
            R"({"resourceType":"MedicationRequest","id":"o1","status":"completed","note":[{"text":"0.5 mg/kg/h"},)"
            R"({"text":"b"},{"text":"last"}],"dosageInstruction":[{"text":"0.5 mg/kg/h"}],"a/b":{"m~n":2},)"
            R"("intent":"urgent"})");
}

TEST(JsonPatch, AnAddOnAMemberThatIsThereReplacesItAndRemoveKeepsTheOrder) {
  auto r = Apply(R"([{"op":"add","path":"/status","value":"on-hold"},{"op":"remove","path":"/note"}])");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.json, R"({"resourceType":"MedicationRequest","id":"o1","status":"on-hold",)"
                    R"("dosageInstruction":[{"text":"0.5 mg/kg/h"}],"a/b":{"m~n":1}})");
}

TEST(JsonPatch, WhatCannotApplyIsAConflictNamingTheOperation) {
  for (const char* patch : {R"([{"op":"test","path":"/status","value":"draft"}])",
                            R"([{"op":"replace","path":"/priority","value":"urgent"}])",
                            R"([{"op":"remove","path":"/note/2"}])",
                            R"([{"op":"add","path":"/note/3","value":{}}])",
                            R"([{"op":"add","path":"/missing/child","value":1}])",
                            R"([{"op":"add","path":"/status/x","value":1}])",
                            R"([{"op":"move","from":"/note","path":"/note/0/inner"}])",
                            R"([{"op":"copy","from":"/nothing","path":"/x"}])",
                            R"([{"op":"remove","path":""}])",
                            R"([{"op":"remove","path":"/note/01"}])"}) {
    auto r = Apply(patch);
    EXPECT_EQ(r.status.code(), StatusCode::kConflict) << patch << ": " << r.status.message();
  }
  auto second = Apply(R"([{"op":"test","path":"/id","value":"o1"},{"op":"test","path":"/status","value":"draft"}])");
  EXPECT_EQ(second.status.message(), "operation 1 (test /status): the value at the path is not the one tested");
}

TEST(JsonPatch, WhatIsNotAJsonPatchIsInvalidInput) {
  for (const char* patch : {R"({"op":"remove","path":"/status"})", R"([1])", R"([{"path":"/status"}])",
                            R"([{"op":"delete","path":"/status"}])", R"([{"op":"remove"}])",
                            R"([{"op":"remove","path":"status"}])", R"([{"op":"add","path":"/x"}])",
                            R"([{"op":"move","path":"/x"}])", R"([{"op":"remove","path":"/a~2"}])",
                            R"([{"op":"remove","path":7}])"}) {
    auto r = Apply(patch);
    EXPECT_EQ(r.status.code(), StatusCode::kInvalidInput) << patch << ": " << r.status.message();
  }
}

TEST(JsonPatch, TestComparesWholeValuesAndAnEmptyPatchChangesNothing) {
  EXPECT_TRUE(Apply(R"([{"op":"test","path":"/note","value":[{"text":"a"},{"text":"b"}]}])").status.ok());
  EXPECT_FALSE(Apply(R"([{"op":"test","path":"/note","value":[{"text":"a"}]}])").status.ok());
  auto r = Apply("[]");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.json, ToJson(**ParseJson(kOrder)));
}

}  // namespace
}  // namespace ketamine::fhir
