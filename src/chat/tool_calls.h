// Tool calls in a finished answer: the model's own call syntax (ToolCallFormat) read into
// OpenAI's message.tool_calls, the rest of the text kept as content. Malformed calls
// (JSON that does not parse, a call that is not {"name", "arguments"}) stay content:
// parsing never throws. tool_call_stream.h does the same piece by piece.
//
//   ParsedToolCalls p = parse_tool_calls(format, answer, id_seed);
//   message["content"] = p.content;  message["tool_calls"] = openai_tool_calls(p.calls);
//   finish_reason = p.calls.empty() ? "stop" : "tool_calls";
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "chat/tool_call_format.h"

namespace entropix {

class Rng;

struct ToolCall {
  std::string id;  // the model's own when it writes one (Mistral), else new_tool_call_id()
  std::string name;
  std::string arguments;  // a JSON object as compact text, keys in the model's order
};

struct ParsedToolCalls {
  std::string content;          // the text outside the calls; whitespace between and after calls dropped
  std::vector<ToolCall> calls;  // in the order written
};

// id_seed seeds the ids given to calls (the same seed, the same ids): pass a fresh value
// per answer so that ids stay unique across a conversation. With format None all text
// is content.
ParsedToolCalls parse_tool_calls(ToolCallFormat format, std::string_view text, uint64_t id_seed);

// "call_" + 24 letters and digits, as OpenAI's ids look; for Mistral 9 letters and digits,
// the only ids its template accepts.
std::string new_tool_call_id(ToolCallFormat format, Rng& rng);

// The calls written in the format's syntax (tool_call_syntax), arguments as given: what a
// grammar-forced answer looks like. Throws Error for format None or arguments that are
// not a JSON object.
std::string write_tool_calls(ToolCallFormat format, const std::vector<ToolCall>& calls);

// OpenAI's message.tool_calls: [{"id", "type": "function", "function": {"name", "arguments"}}].
nlohmann::ordered_json openai_tool_calls(const std::vector<ToolCall>& calls);

}  // namespace entropix
