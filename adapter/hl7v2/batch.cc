#include "hl7v2/batch.h"

#include <charconv>
#include <string>

namespace ketamine::hl7v2 {
namespace {

struct Line {
  std::string_view text;  // without terminator
  size_t begin;
  size_t end;  // after the terminator
};

std::vector<Line> SplitLines(std::string_view bytes) {
  std::vector<Line> lines;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t stop = bytes.find_first_of("\r\n", pos);
    if (stop == std::string_view::npos) stop = bytes.size();
    size_t next = stop;
    while (next < bytes.size() && (bytes[next] == '\r' || bytes[next] == '\n')) ++next;
    if (stop > pos) lines.push_back({bytes.substr(pos, stop - pos), pos, next});
    pos = next;
  }
  return lines;
}

std::string_view Name(const Line& line) { return line.text.substr(0, 3); }

}  // namespace

Result<Batch> ParseBatch(std::string_view bytes, const ParseOptions& options) {
  Batch batch;
  size_t skip = 0;
  if (bytes.size() >= 3 && bytes.substr(0, 3) == "\xEF\xBB\xBF") skip = 3;
  std::vector<Line> lines = SplitLines(bytes.substr(skip));
  for (auto& line : lines) {
    line.begin += skip;
    line.end += skip;
  }
  size_t i = 0;
  size_t message_start = std::string_view::npos;
  size_t message_end = 0;
  auto flush = [&]() {
    if (message_start != std::string_view::npos) {
      batch.raw_messages.push_back(bytes.substr(message_start, message_end - message_start));
      message_start = std::string_view::npos;
    }
  };
  for (; i < lines.size(); ++i) {
    const Line& line = lines[i];
    std::string_view name = Name(line);
    if (name == "FHS" && batch.file_header.empty() && batch.raw_messages.empty()) {
      batch.file_header = line.text;
    } else if (name == "BHS" && batch.batch_header.empty()) {
      batch.batch_header = line.text;
    } else if (name == "BTS") {
      flush();
      batch.batch_trailer = line.text;
    } else if (name == "FTS") {
      flush();
      batch.file_trailer = line.text;
    } else if (name == "MSH") {
      flush();
      message_start = line.begin;
      message_end = line.end;
    } else if (message_start != std::string_view::npos) {
      message_end = line.end;
    } else {
      return InvalidInput("segment " + std::string(name) + " before the first MSH",
                          Location("line " + std::to_string(i + 1)));
    }
  }
  flush();
  if (batch.raw_messages.empty()) {
    return InvalidInput("no MSH segment: the file holds no message", Location("MSH"));
  }
  batch.messages.reserve(batch.raw_messages.size());
  for (size_t m = 0; m < batch.raw_messages.size(); ++m) {
    auto msg = Parse(batch.raw_messages[m], options);
    if (!msg.ok()) {
      return Status(msg.status().code(),
                    "message " + std::to_string(m + 1) + ": " + msg.status().message(),
                    msg.status().location());
    }
    batch.messages.push_back(std::move(*msg));
  }
  if (!batch.batch_trailer.empty()) {
    // BTS-1 is the batch message count; the field separator is the 4th character.
    std::string_view bts = batch.batch_trailer;
    if (bts.size() > 4) {
      std::string_view count_text = bts.substr(4);
      count_text = count_text.substr(0, count_text.find(bts[3]));
      size_t count = 0;
      auto [ptr, ec] = std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
      if (!count_text.empty() &&
          (ec != std::errc() || ptr != count_text.data() + count_text.size() ||
           count != batch.messages.size())) {
        return InvalidInput("BTS-1 says " + std::string(count_text) + " messages, the batch has " +
                                std::to_string(batch.messages.size()),
                            Location("BTS-1"));
      }
    }
  }
  return batch;
}

}  // namespace ketamine::hl7v2
