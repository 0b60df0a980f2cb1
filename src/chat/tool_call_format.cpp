#include "chat/tool_call_format.h"

#include "core/error.h"

namespace entropix {

namespace {

bool contains(const std::string& text, const char* what) { return text.find(what) != std::string::npos; }

}  // namespace

ToolCallFormat detect_tool_call_format(const std::string& src) {
  // Most specific markers first: Granite's <|tool_call|> is not Hermes' <tool_call>.
  if (contains(src, "[TOOL_CALLS]")) return ToolCallFormat::Mistral;
  if (contains(src, "<|tool_call|>")) return ToolCallFormat::Granite;
  if (contains(src, "<｜tool▁calls▁begin｜>")) return ToolCallFormat::DeepSeekR1;
  if (contains(src, "<tool_call>")) return ToolCallFormat::Hermes;
  // Llama 3.1/3.2 write a call as '{"name": "' + name + '", "parameters": ' + args + '}'.
  if (contains(src, "tool_calls") && contains(src, "\"parameters\": ")) return ToolCallFormat::Llama3Json;
  return ToolCallFormat::None;
}

const char* tool_call_format_name(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::None:
      return "none";
    case ToolCallFormat::Llama3Json:
      return "llama3-json";
    case ToolCallFormat::Hermes:
      return "hermes";
    case ToolCallFormat::Mistral:
      return "mistral";
    case ToolCallFormat::Granite:
      return "granite";
    case ToolCallFormat::DeepSeekR1:
      return "deepseek-r1";
  }
  return "unknown";
}

ToolCallSyntax tool_call_syntax(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::None:
      break;
    case ToolCallFormat::Llama3Json:
      return {.start_markers = {"<|python_tag|>"},
              .json_at_start = true,
              .call_separator = "\n",
              .arguments_key = "parameters"};
    case ToolCallFormat::Hermes:
      return {.start_markers = {"<tool_call>"},
              .call_open = "<tool_call>\n",
              .call_close = "\n</tool_call>",
              .call_separator = "\n",
              .arguments_key = "arguments"};
    case ToolCallFormat::Mistral:
      // Mistral Small 3.2's own form (its template writes it); each call opens with [TOOL_CALLS].
      return {.start_markers = {"[TOOL_CALLS]"},
              .call_open = "[TOOL_CALLS]",
              .name_in_json = false,
              .name_close = "[ARGS]"};
    case ToolCallFormat::Granite:
      return {.start_markers = {"<|tool_call|>"},
              .block_open = "<|tool_call|>[",
              .block_close = "]",
              .call_separator = ", ",
              .arguments_key = "arguments"};
    case ToolCallFormat::DeepSeekR1:
      return {.start_markers = {"<｜tool▁calls▁begin｜>"},
              .block_open = "<｜tool▁calls▁begin｜>",
              .block_close = "<｜tool▁calls▁end｜>",
              .call_open = "<｜tool▁call▁begin｜>function<｜tool▁sep｜>",
              .call_close = "\n```<｜tool▁call▁end｜>",
              .call_separator = "\n",
              .name_in_json = false,
              .name_close = "\n```json\n"};
  }
  throw Error("tool calls: the chat template shows no tool-call syntax (format none), so none can be written");
}

}  // namespace entropix
