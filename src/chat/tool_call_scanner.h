// The one reader of tool-call syntax, shared by parse_tool_calls (the whole answer at
// once) and ToolCallStreamParser (piece by piece). It decides what the text at a
// position is (content, calls, or whitespace between calls) from as little text as it
// can, and waits when more text could change the decision; so deciding on pieces gives
// exactly what deciding on the whole text gives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "chat/tool_call_format.h"
#include "chat/tool_calls.h"
#include "sampling/rng.h"

namespace entropix {

struct ToolCallStep {
  enum Kind {
    Content,  // text[pos, pos + length) is plain content
    Drop,     // text[pos, pos + length) is whitespace between or after calls
    Calls,    // text[pos, pos + length) is calls (with any whitespace before them)
    Wait,     // more text is needed to decide (never when final)
  };
  Kind kind = Wait;
  size_t length = 0;
  std::vector<ToolCall> calls;  // Calls only, ids given
};

class ToolCallScanner {
 public:
  ToolCallScanner(ToolCallFormat format, uint64_t id_seed);

  // What text[pos...] starts with; pos < text.size(). final: no text will follow.
  // Every step but Wait moves the scanner on: call it next at pos + length.
  ToolCallStep step(std::string_view text, size_t pos, bool final);

 private:
  ToolCallFormat format_;
  ToolCallSyntax syntax_;    // empty for None
  Rng ids_;                  // draws the ids of calls that bring none
  bool at_start_ = true;     // only whitespace so far (Llama's bare JSON call may open the answer)
  bool after_call_ = false;  // the last step was a call: whitespace here may be dropped

  ToolCallStep calls_step(size_t length, std::vector<ToolCall> calls);
};

}  // namespace entropix
