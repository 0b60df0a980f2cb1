// Tool calls for a model whose chat template shows no call syntax (the demo model,
// Gemma 2, Phi-3.5, plain turns): the tools and the answer's JSON form are put in the
// conversation as text, the answer is constrained to that form (generic_tool_gbnf),
//
//   {"tool_calls": [{"name": NAME, "arguments": {...}}, ...]}   or   {"response": VALUE}
//
// and read back into OpenAI's tool calls and content. Earlier calls and results in
// the conversation are written in the same JSON, as user and assistant turns, so any
// template renders them.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "chat/chat_template.h"
#include "chat/tool_call_stream.h"
#include "chat/tool_calls.h"

namespace entropix {

// What the instructions say the model must do.
enum class ToolDemand { Choose, CallAny, CallNamed };

// tools: OpenAI's [{"type": "function", "function": {name, description, parameters}}];
// named: the function a CallNamed answer must call; no tools: no instructions (a
// conversation with earlier calls, answered without tools). The messages with the instructions
// added to the system message (or, without one, before the first user message's text,
// since some templates drop or refuse system messages), assistant tool_calls written as
// their JSON form, and tool results as user turns holding
// {"tool_response": {"tool_call_id", "name", "content"}} (consecutive ones merged).
std::vector<ChatMessage> generic_tool_messages(const std::vector<ChatMessage>& messages,
                                               const nlohmann::ordered_json& tools, ToolDemand demand,
                                               const std::string& named);

// The answer read back: calls (ids from id_seed, as parse_tool_calls gives them) or the
// response as content (a string's text; any other JSON value as its text). Text of
// another form is all content.
ParsedToolCalls parse_generic_tool_answer(std::string_view text, uint64_t id_seed);

// The same piece by piece: a string response is released as it is decoded, calls when
// the answer is complete. The concatenated events equal parse_generic_tool_answer.
class GenericToolStream {
 public:
  explicit GenericToolStream(uint64_t id_seed) : id_seed_(id_seed) {}
  std::vector<ToolCallStreamEvent> feed(std::string_view piece);
  std::vector<ToolCallStreamEvent> finish();
  int calls() const { return calls_; }

 private:
  uint64_t id_seed_;
  std::string text_;         // all of the answer so far
  size_t string_at_ = 0;     // streaming a string response: where its undecoded rest starts in text_
  bool streaming_ = false;   // the answer opened as {"response": "...
  bool string_done_ = false; // its closing quote was read
  int calls_ = 0;
};

}  // namespace entropix
