#include "chat/tool_calls.h"

#include "chat/tool_call_scanner.h"
#include "core/error.h"
#include "sampling/rng.h"

namespace entropix {

ParsedToolCalls parse_tool_calls(ToolCallFormat format, std::string_view text, uint64_t id_seed) {
  ParsedToolCalls out;
  ToolCallScanner scanner(format, id_seed);
  for (size_t pos = 0; pos < text.size();) {
    ToolCallStep step = scanner.step(text, pos, true);
    if (step.kind == ToolCallStep::Content) out.content.append(text.substr(pos, step.length));
    for (ToolCall& call : step.calls) out.calls.push_back(std::move(call));
    pos += step.length;
  }
  return out;
}

std::string new_tool_call_id(ToolCallFormat format, Rng& rng) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const bool mistral = format == ToolCallFormat::Mistral;
  std::string id = mistral ? "" : "call_";
  for (int i = 0; i < (mistral ? 9 : 24); ++i) id += kAlphabet[rng.next_u64() % (sizeof(kAlphabet) - 1)];
  return id;
}

std::string write_tool_calls(ToolCallFormat format, const std::vector<ToolCall>& calls) {
  const ToolCallSyntax s = tool_call_syntax(format);
  std::string out = s.block_open;
  for (size_t i = 0; i < calls.size(); ++i) {
    const ToolCall& call = calls[i];
    const nlohmann::ordered_json args = nlohmann::ordered_json::parse(call.arguments, nullptr, false);
    if (!args.is_object())
      throw Error("tool call '" + call.name + "': expected arguments as a JSON object, found: " + call.arguments);
    if (i > 0) out += s.call_separator;
    out += s.call_open;
    if (s.name_in_json) {
      nlohmann::ordered_json j = {{"name", call.name}, {s.arguments_key, args}};
      out += j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    } else {
      out += call.name + s.name_close + args.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    }
    out += s.call_close;
  }
  return out + s.block_close;
}

nlohmann::ordered_json openai_tool_calls(const std::vector<ToolCall>& calls) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const ToolCall& call : calls)
    out.push_back(
        {{"id", call.id}, {"type", "function"}, {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
  return out;
}

}  // namespace entropix
