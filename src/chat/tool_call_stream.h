// Tool calls read from an answer as it is generated, emitted as OpenAI streams them:
// content deltas, and per call a first delta with its index, id, name and empty
// arguments followed by one that appends its arguments. Content is released as soon as
// it cannot be the start of a call marker; a call is released once it is complete,
// since until then it may still turn out to be text (JSON that does not parse). The
// concatenated deltas equal parse_tool_calls on the whole answer with the same id_seed.
//
//   ToolCallStreamParser parser(format, id_seed);
//   for each piece: for (auto& e : parser.feed(piece)) send(e);
//   for (auto& e : parser.finish()) send(e);
//   finish_reason = parser.calls() > 0 ? "tool_calls" : "stop";
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "chat/tool_call_scanner.h"
#include "chat/tool_calls.h"

namespace entropix {

struct ToolCallDelta {
  int index = 0;          // the call's place among the answer's calls
  std::string id;         // the call's first delta only, else empty
  std::string name;       // the call's first delta only, else empty
  std::string arguments;  // appended to function.arguments ("" in the first delta)
  bool first = false;     // the call's first delta
};

// One entry of OpenAI's choices[].delta.tool_calls: the first delta of a call carries
// index, id, type "function", function.name and function.arguments; later ones index
// and function.arguments.
nlohmann::ordered_json openai_tool_call_delta(const ToolCallDelta& delta);

struct ToolCallStreamEvent {
  bool is_call = false;
  std::string content;  // !is_call: text for delta.content
  ToolCallDelta call;   // is_call
};

// The content and calls a sequence of events adds up to (what parse_tool_calls gives).
ParsedToolCalls collect_tool_call_events(const std::vector<ToolCallStreamEvent>& events);

class ToolCallStreamParser {
 public:
  ToolCallStreamParser(ToolCallFormat format, uint64_t id_seed);

  // The next piece of the answer (any split, even inside a character or a marker).
  std::vector<ToolCallStreamEvent> feed(std::string_view piece);
  // The answer has ended: what was held back, read as final.
  std::vector<ToolCallStreamEvent> finish();
  int calls() const { return calls_; }

 private:
  ToolCallScanner scanner_;
  std::string pending_;  // text received but not yet decided
  int calls_ = 0;

  std::vector<ToolCallStreamEvent> decide(bool final);
};

}  // namespace entropix
