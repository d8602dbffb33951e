// MLLP framing (HL7 v2.5.1 Appendix C): 0x0B <message> 0x1C 0x0D. The framer is pure: feed it
// whatever TCP gave you (a part of a frame, several frames) and it hands back complete frames in
// order. Bytes outside a frame are skipped and counted; a frame over max_frame_bytes is reported
// as oversized (with its first bytes, enough to read MSH and answer an AR) and skipped to its
// end, never buffered whole.
//   Framer framer(1 << 20);
//   framer.Feed(bytes, [&](const Frame& f) { if (f.kind == Frame::kMessage) Handle(f.payload); });
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace ketamine::mllp {

inline constexpr char kStartBlock = 0x0B;
inline constexpr char kEndBlock = 0x1C;
inline constexpr char kCarriageReturn = 0x0D;
inline constexpr size_t kDefaultMaxFrameBytes = 1u << 20;
inline constexpr size_t kOversizeHeadBytes = 4096;

// Wraps a message in an MLLP block.
std::string Frame(std::string_view message);

struct FrameEvent {
  enum Kind { kMessage, kOversized };
  Kind kind;
  std::string_view payload;  // the message (kMessage) or its first bytes (kOversized)
  size_t total_bytes;        // size of the whole payload
};

class Framer {
 public:
  explicit Framer(size_t max_frame_bytes = kDefaultMaxFrameBytes);

  // Calls on_frame for every frame completed by `bytes`. The payload view is valid only during
  // the call.
  void Feed(std::string_view bytes, const std::function<void(const FrameEvent&)>& on_frame);

  // Bytes seen outside any frame (noise, keep-alives, a peer speaking another protocol).
  size_t skipped_bytes() const { return skipped_bytes_; }
  // True while a frame has started and not ended.
  bool in_frame() const { return state_ != State::kIdle; }
  size_t buffered_bytes() const { return buffer_.size(); }

 private:
  enum class State { kIdle, kInFrame, kSawEnd, kOversized, kOversizedSawEnd };
  void Finish(const std::function<void(const FrameEvent&)>& on_frame);

  size_t max_frame_bytes_;
  State state_ = State::kIdle;
  std::string buffer_;
  size_t frame_bytes_ = 0;
  size_t skipped_bytes_ = 0;
};

}  // namespace ketamine::mllp
