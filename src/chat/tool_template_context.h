// The context a chat template renders a conversation with tools from: OpenAI's messages
// (assistant tool_calls with arguments as JSON text, role "tool" results with their
// tool_call_id) and tool list, put in the shapes each template family expects:
//
//   - arguments: Hugging Face templates apply tojson to them, written for a dict (as
//     vLLM passes them), so JSON text becomes the object it holds; DeepSeek-R1's
//     template concatenates them, so it gets the text.
//   - an assistant message that only calls tools has content "" (templates concatenate
//     it), but none for DeepSeek-R1, whose template writes calls only when it is none.
//   - Llama 3.x: its template takes one call per assistant message, so parallel calls
//     become consecutive assistant messages; it applies tojson to a tool result, so a
//     result that is JSON text is passed as the value it holds (not as a quoted string).
//   - Mistral: its template accepts only 9-letter-or-digit ids, so any other id is
//     replaced, the same way in the call and in its result.
//   - tools: none when absent or empty (templates test `tools is not none`).
//
//   ChatTemplate t(source);
//   auto ctx = tool_template_context(messages, tools, detect_tool_call_format(source), true, bos, eos);
//   std::string prompt = t.render(ctx);
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "chat/tool_call_format.h"

namespace entropix {

// tools: OpenAI's [{"type": "function", "function": {name, description, parameters}}] or
// null; parse the request as ordered_json to keep the client's key order in the prompt.
// The context holds messages, tools, documents (none), add_generation_prompt, bos_token
// and eos_token, as ChatTemplate::apply's does.
nlohmann::ordered_json tool_template_context(const std::vector<ChatMessage>& messages,
                                             const nlohmann::ordered_json& tools, ToolCallFormat format,
                                             bool add_generation_prompt, const std::string& bos_token,
                                             const std::string& eos_token);

// The 9 letters and digits Mistral's template demands for a call id: the id itself when
// it has that form, else one derived from it (the same id always gives the same one).
std::string mistral_tool_call_id(const std::string& id);

}  // namespace entropix
