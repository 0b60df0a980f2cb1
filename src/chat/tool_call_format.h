// How a model writes a tool call, as its chat template shows it: which syntax, which
// text starts a call (what a streaming parser or a lazy grammar watches for), and the
// exact form a grammar-forced call takes so that parse_tool_calls reads it back.
//
//   ToolCallFormat f = detect_tool_call_format(template_source);  // None: no tool syntax
//   ToolCallSyntax s = tool_call_syntax(f);  // block_open (call_open CALL call_close)+ block_close
#pragma once

#include <string>
#include <vector>

namespace entropix {

enum class ToolCallFormat {
  None,        // the template shows no tool-call syntax (Gemma 2, Phi-3.5, SmolLM3's Unsloth template)
  Llama3Json,  // Llama 3.1/3.2: {"name": NAME, "parameters": {...}} as the whole answer, or after <|python_tag|>
  Hermes,      // Qwen2.5, Qwen3, Hermes: <tool_call>\n{"name": NAME, "arguments": {...}}\n</tool_call>
  Mistral,     // [TOOL_CALLS]NAME[ARGS]{...} (Mistral Small 3.2), or [TOOL_CALLS][{"name":..,"arguments":..}]
  Granite,     // Granite 3.x: <|tool_call|>[{"name": NAME, "arguments": {...}}, ...]
  DeepSeekR1,  // <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{...}\n```<｜tool▁call▁end｜>...
};

// Recognised from the markers the template writes; None when it writes none.
ToolCallFormat detect_tool_call_format(const std::string& template_source);

// "none", "llama3-json", "hermes", "mistral", "granite", "deepseek-r1".
const char* tool_call_format_name(ToolCallFormat format);

// The syntax of one turn's calls:
//   block_open  call_open CALL call_close  (call_separator call_open CALL call_close)*  block_close
// where CALL is {"name": NAME, "<arguments_key>": ARGS} when name_in_json, else
// NAME name_close ARGS; ARGS is a JSON object. Whitespace inside the JSON is free.
struct ToolCallSyntax {
  // Texts whose appearance in the answer starts a call. A streaming parser holds back
  // text that may be the start of one; a lazy grammar switches on when one appears.
  std::vector<std::string> start_markers{};
  bool json_at_start = false;  // Llama: a bare JSON call opens the answer (after whitespace)

  std::string block_open{}, block_close{};  // around all of a turn's calls
  std::string call_open{}, call_close{};    // around each call
  std::string call_separator{};             // between two calls
  bool name_in_json = true;
  std::string arguments_key{};  // "arguments" or "parameters" (name_in_json)
  std::string name_close{};     // after the bare NAME, before ARGS (!name_in_json)
};

// Throws Error for ToolCallFormat::None, which has no syntax.
ToolCallSyntax tool_call_syntax(ToolCallFormat format);

}  // namespace entropix
