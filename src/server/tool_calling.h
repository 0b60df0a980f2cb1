// Tool calling for a chat request: how the conversation is put to the model (the
// template's own tool syntax, or the JSON form of chat/generic_tool_calls.h for a
// template without one), which grammar the answer must match (tool_choice required
// or a named function: a call; auto: the model's choice), and how the answer is read
// back into OpenAI's tool_calls, whole or streamed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "chat/chat_format.h"
#include "chat/generic_tool_calls.h"
#include "chat/tool_call_stream.h"
#include "chat/tool_calls.h"
#include "server/api.h"

namespace entropix::server {

struct ToolPlan {
  bool read_calls = false;  // answers are read for tool calls (tools given, tool_choice not none)
  bool generic = false;     // the template shows no call syntax: the JSON form
  ToolCallFormat format = ToolCallFormat::None;
  std::string grammar;      // what every answer must match (response_format's included); empty: free
  std::string grammar_param;
};

// Throws Error when a grammar cannot be written (the server answers 400 naming `tools`).
ToolPlan plan_tools(const ApiRequest& request, ToolCallFormat template_format);

// The prompt text of a chat request under the plan: the template renders the tools
// (its own syntax), or the messages carry the generic form's instructions.
std::string render_chat(const ChatFormat& format, const ApiRequest& request, const ToolPlan& plan,
                        const Tokenizer& tokenizer);

// An answer read for tool calls as it is generated, in the plan's form.
class ToolCallReader {
 public:
  ToolCallReader(const ToolPlan& plan, uint64_t id_seed);
  std::vector<ToolCallStreamEvent> feed(std::string_view piece);
  std::vector<ToolCallStreamEvent> finish();
  int calls() const;

  // A whole answer: its content and calls.
  static ParsedToolCalls read(const ToolPlan& plan, uint64_t id_seed, std::string_view text);

 private:
  std::variant<ToolCallStreamParser, GenericToolStream> reader_;
};

// A seed for the call ids of one choice, different per response and choice.
uint64_t tool_call_id_seed(const std::string& response_id, int32_t choice);

}  // namespace entropix::server
