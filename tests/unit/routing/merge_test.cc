#include "routing/merge.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fhir/json.h"
#include "http/server.h"
#include "routing/delivery.h"

namespace ketamine::routing {
namespace {

// An order for one patient as FhirDeliveryPayload gives it: every write a PUT on Type/id, the
// practitioner and the medication (alike for every order) under fullUrls of this message.
store::OutboxItem Order(const std::string& n, const std::string& practitioner_name = "Morgan") {
  store::OutboxItem item;
  item.id = std::stoi(n);
  item.write.content_type = "application/fhir+json";
  item.write.partition = "patient-" + n;
  item.write.idempotency_key = "key-" + n;
  item.write.payload = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:pat-)" + n + R"(","resource":{"resourceType":"Patient","id":"p)" + n + R"("},
     "request":{"method":"PUT","url":"Patient/p)" + n + R"("}},
    {"fullUrl":"urn:uuid:doc-)" + n + R"(","resource":{"resourceType":"Practitioner","id":"dr","name":[{"family":")" +
                          practitioner_name + R"("}]},
     "request":{"method":"PUT","url":"Practitioner/dr"}},
    {"fullUrl":"urn:uuid:med-)" + n + R"(","resource":{"resourceType":"Medication","id":"ket","code":{"text":"ketamine"}},
     "request":{"method":"PUT","url":"Medication/ket"}},
    {"fullUrl":"urn:uuid:mr-)" + n + R"(","resource":{"resourceType":"MedicationRequest","id":"mr)" + n + R"(",
      "subject":{"reference":"urn:uuid:pat-)" + n + R"("},"requester":{"reference":"urn:uuid:doc-)" + n + R"("},
      "medicationReference":{"reference":"urn:uuid:med-)" + n + R"("}},
     "request":{"method":"PUT","url":"MedicationRequest/mr)" + n + R"("}}]})";
  return item;
}

rapidjson::Document Parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  return doc;
}

std::vector<std::string> Urls(const rapidjson::Document& bundle) {
  std::vector<std::string> urls;
  for (const auto& e : bundle["entry"].GetArray()) urls.push_back(e["request"]["url"].GetString());
  return urls;
}

const rapidjson::Value& Resource(const rapidjson::Document& bundle, const std::string& url) {
  for (const auto& e : bundle["entry"].GetArray()) {
    if (url == e["request"]["url"].GetString()) return e["resource"];
  }
  static const rapidjson::Value none;
  return none;
}

TEST(MergeDeliveries, OrdersOfDifferentPatientsGoAsOneTransactionWithSharedResourcesOnce) {
  const std::vector<store::OutboxItem> items = {Order("1"), Order("2"), Order("3")};
  const auto requests = MergeDeliveries(items, 16);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].items, (std::vector<size_t>{0, 1, 2}));
  auto bundle = Parse(requests[0].merged_payload);
  ASSERT_FALSE(bundle.HasParseError());
  EXPECT_STREQ(bundle["type"].GetString(), "transaction");
  EXPECT_EQ(Urls(bundle), (std::vector<std::string>{"Patient/p1", "Practitioner/dr", "Medication/ket", "MedicationRequest/mr1",
                                                    "Patient/p2", "MedicationRequest/mr2", "Patient/p3", "MedicationRequest/mr3"}));
  // The later orders point at the practitioner and medication kept from the first; each keeps its
  // own patient.
  for (const std::string n : {"1", "2", "3"}) {
    const auto& mr = Resource(bundle, "MedicationRequest/mr" + n);
    EXPECT_EQ(std::string(mr["subject"]["reference"].GetString()), "urn:uuid:pat-" + n);
    EXPECT_STREQ(mr["requester"]["reference"].GetString(), "urn:uuid:doc-1");
    EXPECT_STREQ(mr["medicationReference"]["reference"].GetString(), "urn:uuid:med-1");
  }
  // Every reference in the merged Bundle resolves to an entry of it.
  std::set<std::string> full_urls;
  for (const auto& e : bundle["entry"].GetArray()) full_urls.insert(e["fullUrl"].GetString());
  fhir::ForEachReference(static_cast<const rapidjson::Value&>(bundle), [&](const rapidjson::Value& r) {
    EXPECT_EQ(full_urls.count(r.GetString()), 1u) << r.GetString();
  });
  EXPECT_EQ(requests[0].merged_key.rfind("merged-", 0), 0u);
  EXPECT_EQ(requests[0].merged_key.size(), 7u + 64u);
  EXPECT_EQ(MergeDeliveries(items, 16)[0].merged_key, requests[0].merged_key) << "the same group, the same key";
  EXPECT_NE(MergeDeliveries({Order("1"), Order("2")}, 16)[0].merged_key, requests[0].merged_key);
}

TEST(MergeDeliveries, AtMostMaxItemsPerRequestInTheirOrder) {
  const std::vector<store::OutboxItem> items = {Order("1"), Order("2"), Order("3"), Order("4"), Order("5")};
  const auto requests = MergeDeliveries(items, 2);
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].items, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(requests[1].items, (std::vector<size_t>{2, 3}));
  EXPECT_EQ(requests[2].items, (std::vector<size_t>{4}));
  EXPECT_EQ(PayloadOf(requests[2], items), items[4].write.payload) << "a group of one goes as stored";
  EXPECT_EQ(KeyOf(requests[2], items), "key-5");
  EXPECT_TRUE(requests[2].merged_payload.empty()) << "and is not copied";
  for (const auto& r : MergeDeliveries(items, 1)) {
    ASSERT_EQ(r.items.size(), 1u);
    EXPECT_EQ(PayloadOf(r, items), items[r.items[0]].write.payload);
  }
}

TEST(MergeDeliveries, AResourceWrittenDifferentlyGoesInAnotherRequest) {
  const std::vector<store::OutboxItem> items = {Order("1"), Order("2", "Lee"), Order("3"), Order("4", "Lee")};
  const auto requests = MergeDeliveries(items, 16);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].items, (std::vector<size_t>{0, 2}));
  EXPECT_EQ(requests[1].items, (std::vector<size_t>{1, 3}));
  auto second = Parse(requests[1].merged_payload);
  EXPECT_STREQ(Resource(second, "Practitioner/dr")["name"][0]["family"].GetString(), "Lee");
}

TEST(MergeDeliveries, WhatIsNotAPlainTransactionOfPutsGoesAloneAsStored) {
  std::vector<store::OutboxItem> items = {Order("1")};
  auto unknown = Order("2");
  unknown.outcome_unknown = true;  // resent with its own idempotency key
  items.push_back(unknown);
  auto v2 = Order("3");
  v2.write.content_type = "x-application/hl7-v2+er7";
  v2.write.payload = "MSH|^~\\&|...";
  items.push_back(v2);
  auto conditional = Order("4");
  conditional.write.payload.replace(conditional.write.payload.find(R"("url":"Patient/p4")"), 18,
                                    R"("url":"Patient/p4","ifMatch":"W/\"1\"")");
  items.push_back(conditional);
  auto post = Order("5");
  post.write.payload.replace(post.write.payload.find(R"("method":"PUT","url":"Patient/p5")"), 33,
                             R"("method":"POST","url":"Patient")");
  items.push_back(post);
  auto search = Order("6");
  search.write.payload.replace(search.write.payload.find(R"("url":"Patient/p6")"), 18, R"("url":"Patient?identifier=x")");
  items.push_back(search);
  auto batch = Order("7");
  batch.write.payload.replace(batch.write.payload.find("transaction"), 11, "batch");
  items.push_back(batch);
  auto twice = Order("8");  // the same resource twice in one Bundle
  twice.write.payload.replace(twice.write.payload.find("Patient/p8"), 10, "Medication/ket");
  items.push_back(twice);
  auto broken = Order("9");
  broken.write.payload.pop_back();
  items.push_back(broken);
  items.push_back(Order("10"));
  const auto requests = MergeDeliveries(items, 16);
  ASSERT_EQ(requests.size(), 9u);
  EXPECT_EQ(requests[0].items, (std::vector<size_t>{0, 9}));
  for (size_t r = 1; r < requests.size(); ++r) {
    ASSERT_EQ(requests[r].items.size(), 1u);
    const auto& item = items[requests[r].items[0]];
    EXPECT_EQ(PayloadOf(requests[r], items), item.write.payload);
    EXPECT_EQ(KeyOf(requests[r], items), item.write.idempotency_key);
  }
}

// A server that refuses any request carrying the word REFUSE: a merged transaction with one such
// order is refused whole, and its orders go again alone, so only that one fails.
TEST(FhirSender, ARefusedMergedRequestIsSentAgainItemByItem) {
  std::mutex mutex;
  std::vector<size_t> entries_per_request;
  http::ServerOptions options;
  options.port = 0;
  auto peer = http::Server::Start(options, [&](const http::Request& request, http::Responder respond) {
    auto bundle = Parse(request.body);
    {
      std::lock_guard lock(mutex);
      entries_per_request.push_back(bundle.HasParseError() ? 0 : bundle["entry"].Size());
    }
    if (request.body.find("REFUSE") != std::string::npos) {
      respond({422, "application/fhir+json", {}, R"({"resourceType":"OperationOutcome"})"});
      return;
    }
    respond({200, "application/fhir+json", {}, R"({"resourceType":"Bundle","type":"transaction-response"})"});
  });
  ASSERT_TRUE(peer.ok());
  rapidjson::Document config;
  config.Parse((R"({"destinations": {"r": {"type": "fhir", "url": "http://127.0.0.1:)" + std::to_string((*peer)->port()) +
                R"(/fhir", "items_per_request": 3, "concurrency": 2}}})").c_str());
  auto router = Router::FromJson(config);
  ASSERT_TRUE(router.ok()) << router.status().message();
  EXPECT_EQ((*router)->destinations().at("r").items_per_request, 3);
  auto sender = MakeSender((*router)->destinations().at("r"));
  auto refused = Order("2");
  refused.write.payload.replace(refused.write.payload.find(R"("id":"p2")"), 9, R"("id":"p2","gender":"REFUSE")");
  const std::vector<store::OutboxItem> items = {Order("1"), refused, Order("3"), Order("4")};
  const auto results = sender->SendAll(items, [] { return true; });
  ASSERT_EQ(results.size(), items.size());
  EXPECT_EQ(results[0].kind, SendResult::Kind::kDelivered) << results[0].detail;
  EXPECT_EQ(results[1].kind, SendResult::Kind::kPermanent) << results[1].detail;
  EXPECT_NE(results[1].detail.find("HTTP 422"), std::string::npos) << results[1].detail;
  EXPECT_EQ(results[2].kind, SendResult::Kind::kDelivered) << results[2].detail;
  EXPECT_EQ(results[3].kind, SendResult::Kind::kDelivered) << results[3].detail;
  {
    std::lock_guard lock(mutex);
    // [1,2,3] merged (refused) and [4] alone, then 1, 2 and 3 alone.
    std::sort(entries_per_request.begin(), entries_per_request.end());
    EXPECT_EQ(entries_per_request, (std::vector<size_t>{4, 4, 4, 4, 8}));
  }
  // The client's kept-alive connections close before the peer stops, and the continuations the stop
  // schedules on cpprestsdk's pool run before the process ends (else LeakSanitizer reports them).
  sender.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*peer)->Stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

TEST(RouterConfig, ItemsPerRequestIsForFhirDestinationsWithinBounds) {
  rapidjson::Document doc;
  doc.Parse(R"({"destinations": {"r": {"type": "fhir", "url": "http://x/fhir"}}})");
  EXPECT_EQ((*Router::FromJson(doc))->destinations().at("r").items_per_request, 1) << "each its own request unless told";
  doc.Parse(R"({"destinations": {"r": {"type": "fhir", "url": "http://x/fhir", "items_per_request": 101}}})");
  auto big = Router::FromJson(doc);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("destinations.r.items_per_request"), std::string::npos) << big.status().message();
  doc.Parse(R"({"destinations": {"f": {"type": "folder", "folder": "out", "items_per_request": 4}}})");
  auto folder = Router::FromJson(doc);
  ASSERT_FALSE(folder.ok());
  EXPECT_NE(folder.status().message().find("destinations.f.items_per_request"), std::string::npos) << folder.status().message();
}

}  // namespace
}  // namespace ketamine::routing
