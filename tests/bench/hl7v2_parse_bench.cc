// HL7 v2 parse speed on realistic 1-2 KB RDE^O11 and ORU^R01 messages, one thread.
//   Parse:           the zero-copy parse (segments and fields indexed, components on demand)
//   ParseReadAll:    parse, then split every field into repetitions, components and
//                    sub-components and touch each: comparable to a parser that splits eagerly
//   ParseAndAck:     parse and build the ACK, the work per message on the MLLP path
// Figures: bytes_per_second (MB/s) and items_per_second (messages/s).
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <string>

#include "hl7v2/ack.h"
#include "hl7v2/parser.h"
#include "mllp/framer.h"

namespace {

using namespace ketamine::hl7v2;

std::string Load(const char* name) {
  std::ifstream in(std::string(KETAMINE_BENCH_DATA_DIR) + "/" + name, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  if (out.str().empty()) std::abort();
  return out.str();
}

size_t TouchEveryComponent(const Message& msg) {
  const Delimiters& d = msg.delimiters();
  size_t total = 0;
  for (size_t s = 0; s < msg.segment_count(); ++s) {
    for (size_t f = 1; f <= msg.FieldCount(s); ++f) {
      std::string_view field = msg.Field(s, f);
      if (s == 0 && f <= 2) {
        total += field.size();
        continue;
      }
      VisitComponents(field, d, [&total](int, int, int, std::string_view value) {
        total += value.size() + 1;
      });
    }
  }
  return total;
}

void BM_Parse(benchmark::State& state, const char* file) {
  std::string text = Load(file);
  for (auto _ : state) {
    auto msg = Parse(std::string_view(text));
    benchmark::DoNotOptimize(msg);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_ParseReadAll(benchmark::State& state, const char* file) {
  std::string text = Load(file);
  for (auto _ : state) {
    auto msg = Parse(std::string_view(text));
    benchmark::DoNotOptimize(TouchEveryComponent(*msg));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_ParseAndAck(benchmark::State& state, const char* file) {
  std::string text = Load(file);
  AckContext ctx;
  ctx.control_id = "KGW1-1";
  ctx.timestamp = "20261123101500.000+0000";
  for (auto _ : state) {
    auto msg = Parse(std::string_view(text));
    benchmark::DoNotOptimize(BuildAck(*msg, AckCode::kAA, {}, ctx));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// MLLP framing alone: one framed message per read, as a connection's recv hands it over.
void BM_Frame(benchmark::State& state, const char* file) {
  const std::string framed = ketamine::mllp::Frame(Load(file));
  ketamine::mllp::Framer framer(1 << 20);
  size_t frames = 0;
  for (auto _ : state) {
    framer.Feed(framed, [&frames](const ketamine::mllp::FrameEvent& e) {
      frames += e.payload.empty() ? 0 : 1;
    });
  }
  if (frames != static_cast<size_t>(state.iterations())) std::abort();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * framed.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

BENCHMARK_CAPTURE(BM_Frame, RDE_O11, "RDE_O11-bench.hl7");
BENCHMARK_CAPTURE(BM_Parse, RDE_O11, "RDE_O11-bench.hl7");
BENCHMARK_CAPTURE(BM_Parse, ORU_R01, "ORU_R01-bench.hl7");
BENCHMARK_CAPTURE(BM_ParseReadAll, RDE_O11, "RDE_O11-bench.hl7");
BENCHMARK_CAPTURE(BM_ParseReadAll, ORU_R01, "ORU_R01-bench.hl7");
BENCHMARK_CAPTURE(BM_ParseAndAck, RDE_O11, "RDE_O11-bench.hl7");
BENCHMARK_CAPTURE(BM_ParseAndAck, ORU_R01, "ORU_R01-bench.hl7");

}  // namespace

BENCHMARK_MAIN();
