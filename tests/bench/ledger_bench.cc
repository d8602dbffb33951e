// The Schedule III ledger's two speed figures: durable appends in batches (one fsync'd
// transaction per batch; each entry hashed and chained, its balance computed), and `verify`
// (every entry re-hashed, its link and its balance checked). The ledger is a real file in a
// scratch folder under TMPDIR (or /tmp), synchronous=FULL as in the gateway.
//   build/release/tests/ledger_bench [--benchmark_filter=Verify]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "ledger/ledger.h"

namespace {

using namespace ketamine::ledger;

std::filesystem::path Scratch(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  auto dir = std::filesystem::path(tmp != nullptr ? tmp : "/tmp") / ("kgw-ledger-bench-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  return dir;
}

Draft Administration(int i) {
  Draft d;
  d.kind = Kind::kAdministration;
  d.location = "main";
  d.lot = i % 2 ? "LOT-A" : "LOT-B";
  d.amount_ug = 112000 + i % 1000;
  d.event_time = "2026-11-23T15:00:00Z";
  d.by = "Sam Lee";
  d.from_flow = true;  // never refused: the bench measures writing, not the book's limits
  d.source = "MAR|CLINIC|" + std::to_string(i) + "|ledger|urn:uuid:4c41a5f0-c59c-546d-83ea-4c55d7f6c090#administration";
  d.details = R"({"patient":{"id":"MRN-40021","name":"Alex J Testpatient","address":"12 Elm St, Riverside CA 92501"},)"
              R"("order":"ORD-7001","medication":"ketamine 10 MG/ML Injectable Solution"})";
  return d;
}

void BM_AppendBatched(benchmark::State& state) {
  const auto batch = static_cast<int>(state.range(0));
  auto dir = Scratch("append");
  auto ledger = Ledger::Open(dir);
  if (!ledger.ok()) std::abort();
  int next = 0;
  for (auto _ : state) {
    std::vector<Draft> drafts;
    drafts.reserve(static_cast<size_t>(batch));
    for (int i = 0; i < batch; ++i) drafts.push_back(Administration(next++));
    auto r = (*ledger)->Append(drafts);
    if (!r.ok() || r->entries.size() != static_cast<size_t>(batch)) std::abort();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * batch);
  ledger->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_AppendBatched)->Arg(1)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Verify(benchmark::State& state) {
  const auto entries = static_cast<int>(state.range(0));
  auto dir = Scratch("verify");
  auto ledger = Ledger::Open(dir);
  if (!ledger.ok()) std::abort();
  for (int done = 0; done < entries; done += 5000) {
    std::vector<Draft> drafts;
    for (int i = done; i < done + 5000 && i < entries; ++i) drafts.push_back(Administration(i));
    if (!(*ledger)->Append(drafts).ok()) std::abort();
  }
  for (auto _ : state) {
    auto v = (*ledger)->Verify();
    if (!v.ok() || !v->ok || v->entries != entries) std::abort();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * entries);
  ledger->reset();
  if (std::getenv("KGW_BENCH_KEEP") == nullptr) std::filesystem::remove_all(dir);  // kept: for profiling
}
BENCHMARK(BM_Verify)->Arg(1000000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
