#include "chat/tool_call_stream.h"

namespace entropix {

nlohmann::ordered_json openai_tool_call_delta(const ToolCallDelta& delta) {
  if (!delta.first) return {{"index", delta.index}, {"function", {{"arguments", delta.arguments}}}};
  return {{"index", delta.index},
          {"id", delta.id},
          {"type", "function"},
          {"function", {{"name", delta.name}, {"arguments", delta.arguments}}}};
}

ParsedToolCalls collect_tool_call_events(const std::vector<ToolCallStreamEvent>& events) {
  ParsedToolCalls out;
  for (const ToolCallStreamEvent& e : events) {
    if (!e.is_call) out.content += e.content;
    else if (e.call.first) out.calls.push_back({e.call.id, e.call.name, e.call.arguments});
    else if (!out.calls.empty()) out.calls.back().arguments += e.call.arguments;
  }
  return out;
}

ToolCallStreamParser::ToolCallStreamParser(ToolCallFormat format, uint64_t id_seed) : scanner_(format, id_seed) {}

std::vector<ToolCallStreamEvent> ToolCallStreamParser::feed(std::string_view piece) {
  pending_.append(piece);
  return decide(false);
}

std::vector<ToolCallStreamEvent> ToolCallStreamParser::finish() { return decide(true); }

std::vector<ToolCallStreamEvent> ToolCallStreamParser::decide(bool final) {
  std::vector<ToolCallStreamEvent> events;
  size_t pos = 0;
  while (pos < pending_.size()) {
    ToolCallStep step = scanner_.step(pending_, pos, final);
    if (step.kind == ToolCallStep::Wait) break;
    if (step.kind == ToolCallStep::Content) {
      if (events.empty() || events.back().is_call) events.push_back({});
      events.back().content.append(pending_, pos, step.length);
    }
    for (ToolCall& call : step.calls) {
      ToolCallDelta head{calls_, std::move(call.id), std::move(call.name), "", true};
      ToolCallDelta args{calls_, "", "", std::move(call.arguments), false};
      events.push_back({true, "", std::move(head)});
      events.push_back({true, "", std::move(args)});
      ++calls_;
    }
    pos += step.length;
  }
  pending_.erase(0, pos);  // the scanner reads only what is still undecided
  return events;
}

}  // namespace entropix
