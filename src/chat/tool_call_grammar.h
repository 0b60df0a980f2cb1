// Grammars that make an answer a well-formed tool call (tool_choice "required" or a
// named function, and the JSON form of templates without a call syntax): every call
// names a declared function and its arguments match that function's parameters.
//
//   std::vector<ToolGrammarFunction> fns = {{"get_weather", json_schema_to_gbnf(params)}};
//   std::string g = tool_calls_gbnf(ToolCallFormat::Hermes, fns, /*parallel=*/true);
//   std::string j = generic_tool_gbnf(fns, true, string_response_gbnf());  // calls or a reply
#pragma once

#include <string>
#include <vector>

#include "chat/tool_call_format.h"

namespace entropix {

// A function a call may name, with the GBNF (start rule `root`, as json_schema_to_gbnf
// writes it) of the arguments its parameters schema allows.
struct ToolGrammarFunction {
  std::string name;
  std::string arguments_gbnf;
};

// One call of one of `functions` (with `parallel`, one or more) in the format's
// syntax (tool_call_syntax), read back by parse_tool_calls. Throws Error for format
// None or no functions.
std::string tool_calls_gbnf(ToolCallFormat format, const std::vector<ToolGrammarFunction>& functions, bool parallel);

// The answer of a model whose template shows no call syntax, as one JSON object:
//   {"tool_calls": [{"name": NAME, "arguments": {...}}, ...]}
// or, when `response_gbnf` is not empty (tool_choice auto), {"response": VALUE} with
// VALUE matching response_gbnf (a string: string_response_gbnf(); a JSON schema's
// grammar under response_format). Read back by parse_generic_tool_answer.
std::string generic_tool_gbnf(const std::vector<ToolGrammarFunction>& functions, bool parallel,
                              const std::string& response_gbnf);

// GBNF of any JSON string: the generic form's reply when no response_format asks for more.
std::string string_response_gbnf();

// An answer that is either `first` or `second` (two GBNF texts with `root` rules), as
// tool_choice auto with a JSON response_format needs: calls, or the JSON reply.
std::string either_gbnf(const std::string& first, const std::string& second);

}  // namespace entropix
