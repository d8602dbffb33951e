#include "mllp/framer.h"

#include <algorithm>
#include <cstring>

namespace ketamine::mllp {

std::string Frame(std::string_view message) {
  std::string out;
  out.reserve(message.size() + 3);
  out += kStartBlock;
  out.append(message);
  out += kEndBlock;
  out += kCarriageReturn;
  return out;
}

namespace {

// Where the first start or end block at or after `pos` is (npos: neither). Two memchr passes:
// string_view::find_first_of calls memchr on its set once per byte of the text, which made the
// framer ~6 % of an MLLP thread's time (~3.6 µs for a 2 KB message; ~50 ns now).
size_t FindBlockByte(std::string_view bytes, size_t pos) {
  const char* from = bytes.data() + pos;
  size_t n = bytes.size() - pos;
  if (const void* end = std::memchr(from, kEndBlock, n); end != nullptr) {
    n = static_cast<size_t>(static_cast<const char*>(end) - from);
  }
  const void* start = std::memchr(from, kStartBlock, n);
  const char* found = start != nullptr ? static_cast<const char*>(start) : from + n;
  if (found == bytes.data() + bytes.size()) return std::string_view::npos;
  return static_cast<size_t>(found - bytes.data());
}

}  // namespace

Framer::Framer(size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

void Framer::Finish(const std::function<void(const FrameEvent&)>& on_frame) {
  bool oversized = state_ == State::kOversized || state_ == State::kOversizedSawEnd;
  FrameEvent event{oversized ? FrameEvent::kOversized : FrameEvent::kMessage, buffer_, frame_bytes_};
  state_ = State::kIdle;
  on_frame(event);
  buffer_.clear();
  frame_bytes_ = 0;
}

void Framer::Feed(std::string_view bytes, const std::function<void(const FrameEvent&)>& on_frame) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    switch (state_) {
      case State::kIdle: {
        size_t start = bytes.find(kStartBlock, pos);
        if (start == std::string_view::npos) {
          skipped_bytes_ += bytes.size() - pos;
          return;
        }
        skipped_bytes_ += start - pos;
        pos = start + 1;
        state_ = State::kInFrame;
        buffer_.clear();
        frame_bytes_ = 0;
        break;
      }
      case State::kInFrame:
      case State::kOversized: {
        // A new start block before the end block means the sender gave up on the frame (it
        // reconnected or restarted mid-message): drop the partial frame and start over.
        size_t end = FindBlockByte(bytes, pos);
        if (end != std::string_view::npos && bytes[end] == kStartBlock) {
          skipped_bytes_ += frame_bytes_ + (end - pos) + 1;
          buffer_.clear();
          frame_bytes_ = 0;
          state_ = State::kInFrame;
          pos = end + 1;
          break;
        }
        size_t stop = end == std::string_view::npos ? bytes.size() : end;
        size_t chunk = stop - pos;
        frame_bytes_ += chunk;
        if (state_ == State::kInFrame) {
          if (frame_bytes_ > max_frame_bytes_) {
            state_ = State::kOversized;
            size_t room = kOversizeHeadBytes > buffer_.size() ? kOversizeHeadBytes - buffer_.size() : 0;
            buffer_.append(bytes.substr(pos, std::min(chunk, room)));
          } else {
            buffer_.append(bytes.substr(pos, chunk));
          }
        }
        pos = stop;
        if (end != std::string_view::npos) {
          ++pos;
          state_ = state_ == State::kInFrame ? State::kSawEnd : State::kOversizedSawEnd;
        }
        break;
      }
      case State::kSawEnd:
      case State::kOversizedSawEnd: {
        if (bytes[pos] == kCarriageReturn) {
          ++pos;
          Finish(on_frame);
        } else if (state_ == State::kSawEnd) {
          // A lone 0x1C inside the message: keep it as data (the parser will refuse it).
          buffer_ += kEndBlock;
          ++frame_bytes_;
          state_ = State::kInFrame;
        } else {
          ++frame_bytes_;
          state_ = State::kOversized;
        }
        break;
      }
    }
  }
}

}  // namespace ketamine::mllp
