#include "routing/merge.h"

#include <map>
#include <memory>
#include <set>
#include <string_view>

#include "common/sha256.h"
#include "fhir/json.h"

namespace ketamine::routing {
namespace {

using rapidjson::Value;

// An entry of a mergeable Bundle: where it writes, under which fullUrl, what.
struct Entry {
  std::string_view url;       // "Type/id"
  std::string_view full_url;  // may be empty
  Value* entry = nullptr;     // in the item's document
  const Value* resource = nullptr;
};

struct Parsed {
  std::unique_ptr<fhir::JsonDocument> doc;
  std::vector<Entry> entries;
  // This item's fullUrl -> the kept entry's fullUrl (looked up by the references' views).
  std::map<std::string, std::string, std::less<>> aliases;
};

std::string_view View(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

// The Bundle's entries when every one is a plain PUT on "Type/id"; false otherwise.
bool ReadMergeable(const store::OutboxItem& item, Parsed& parsed) {
  if (item.outcome_unknown || item.write.content_type != "application/fhir+json") return false;
  auto doc = fhir::ParseJson(item.write.payload);
  if (!doc.ok()) return false;
  const Value& bundle = **doc;
  if (fhir::StringMemberView(bundle, "resourceType") != "Bundle" || fhir::StringMemberView(bundle, "type") != "transaction") {
    return false;
  }
  auto entries = (*doc)->FindMember("entry");
  if (entries == (*doc)->MemberEnd() || !entries->value.IsArray() || entries->value.Empty()) return false;
  std::set<std::string_view> urls, full_urls;
  for (Value& e : entries->value.GetArray()) {
    if (!e.IsObject()) return false;
    auto request = e.FindMember("request");
    auto resource = e.FindMember("resource");
    if (request == e.MemberEnd() || resource == e.MemberEnd() || !request->value.IsObject() || !resource->value.IsObject()) {
      return false;
    }
    for (auto m = request->value.MemberBegin(); m != request->value.MemberEnd(); ++m) {
      const std::string_view name = View(m->name);
      if (name != "method" && name != "url") return false;  // ifMatch, ifNoneExist …: conditions of its own
    }
    const std::string_view url = fhir::StringMemberView(request->value, "url");
    const size_t slash = url.find('/');
    if (fhir::StringMemberView(request->value, "method") != "PUT" || slash == std::string_view::npos || slash == 0 ||
        slash + 1 == url.size() || url.find_first_of("/?#", slash + 1) != std::string_view::npos) {
      return false;
    }
    const std::string_view full_url = fhir::StringMemberView(e, "fullUrl");
    // One resource twice, or one fullUrl for two: the server's to judge, in the item's own request.
    if (!urls.insert(url).second || (!full_url.empty() && !full_urls.insert(full_url).second)) return false;
    parsed.entries.push_back({url, full_url, &e, &resource->value});
  }
  parsed.doc = std::move(*doc);
  return true;
}

struct Group {
  std::vector<size_t> items;
  std::map<std::string_view, const Entry*> by_url;       // what the group writes
  std::map<std::string_view, std::string_view> full_urls;  // fullUrl -> the url written under it
};

// Whether `item` can join `group`: every resource it writes is new to the group, or written there
// alike (then its fullUrl becomes an alias of the kept one).
bool Join(Group& group, size_t index, Parsed& item) {
  std::map<std::string, std::string, std::less<>> aliases;
  for (const Entry& e : item.entries) {
    if (auto same = group.by_url.find(e.url); same != group.by_url.end()) {
      if (!(*e.resource == *same->second->resource)) return false;
      if (!e.full_url.empty() && e.full_url != same->second->full_url) {
        if (same->second->full_url.empty()) return false;  // nothing to point the references at
        aliases.emplace(e.full_url, same->second->full_url);
      }
      continue;
    }
    if (!e.full_url.empty()) {
      if (auto used = group.full_urls.find(e.full_url); used != group.full_urls.end() && used->second != e.url) return false;
    }
  }
  for (const Entry& e : item.entries) {
    if (group.by_url.count(e.url) != 0) continue;
    group.by_url.emplace(e.url, &e);
    if (!e.full_url.empty()) group.full_urls.emplace(e.full_url, e.url);
  }
  item.aliases = std::move(aliases);
  group.items.push_back(index);
  return true;
}

DeliveryRequest Alone(size_t index) { return {{index}, {}, {}}; }

}  // namespace

std::vector<DeliveryRequest> MergeDeliveries(const std::vector<store::OutboxItem>& items, size_t max_items) {
  std::vector<Parsed> parsed(items.size());
  std::vector<Group> groups;
  std::vector<DeliveryRequest> alone;
  for (size_t i = 0; i < items.size(); ++i) {
    if (max_items < 2 || items.size() < 2 || !ReadMergeable(items[i], parsed[i])) {
      alone.push_back(Alone(i));
      continue;
    }
    bool joined = false;
    for (Group& g : groups) {
      if (g.items.size() < max_items && Join(g, i, parsed[i])) {
        joined = true;
        break;
      }
    }
    if (!joined) {
      groups.emplace_back();
      Join(groups.back(), i, parsed[i]);
    }
  }
  std::vector<DeliveryRequest> out;
  out.reserve(groups.size() + alone.size());
  for (const Group& g : groups) {
    if (g.items.size() == 1) {
      out.push_back(Alone(g.items[0]));
      continue;
    }
    rapidjson::Document bundle(rapidjson::kObjectType);
    auto& allocator = bundle.GetAllocator();
    Value entries(rapidjson::kArrayType);
    std::set<std::string_view> written;
    Sha256 keys;
    for (size_t i : g.items) {
      keys.Update(items[i].write.idempotency_key);
      keys.Update("\n");
      Parsed& p = parsed[i];
      for (const Entry& e : p.entries) {
        if (!written.insert(e.url).second) continue;  // the same resource, kept from an earlier item
        if (!p.aliases.empty()) {
          fhir::ForEachReference(*e.entry, [&](Value& reference) {
            if (auto a = p.aliases.find(View(reference)); a != p.aliases.end()) {
              reference.SetString(a->second.data(), static_cast<rapidjson::SizeType>(a->second.size()), allocator);
            }
          });
        }
        // Moved, not copied: its strings stay in the item's document, which outlives the text.
        entries.PushBack(*e.entry, allocator);
      }
    }
    bundle.AddMember("resourceType", "Bundle", allocator);
    bundle.AddMember("type", "transaction", allocator);
    bundle.AddMember("entry", entries, allocator);
    out.push_back({g.items, fhir::ToJson(bundle), "merged-" + HexOf(keys.Final())});
  }
  for (DeliveryRequest& a : alone) out.push_back(std::move(a));
  return out;
}

const std::string& PayloadOf(const DeliveryRequest& request, const std::vector<store::OutboxItem>& items) {
  return request.items.size() == 1 ? items[request.items[0]].write.payload : request.merged_payload;
}

const std::string& KeyOf(const DeliveryRequest& request, const std::vector<store::OutboxItem>& items) {
  return request.items.size() == 1 ? items[request.items[0]].write.idempotency_key : request.merged_key;
}

}  // namespace ketamine::routing
