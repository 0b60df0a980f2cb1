// libFuzzer target for the chat-template interpreter: parse arbitrary bytes as a template
// (as --chat-template or a GGUF's tokenizer.chat_template would give it) and render it over a
// small fixed conversation. Only entropix::Error may escape; anything else (a crash, a
// sanitizer report, another exception type, a render that outlives its time limit by far) is
// a finding.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/chat_template.h"
#include "core/error.h"

namespace {

using ordered = nlohmann::ordered_json;

// What transformers passes a template, plus tools and a fixed date so that runs repeat.
ordered make_context() {
  return ordered::parse(R"({
    "messages": [
      {"role": "system", "content": "You are terse."},
      {"role": "user", "content": "What is 6 * 7?"},
      {"role": "assistant", "content": "",
       "tool_calls": [{"id": "call_1", "type": "function",
                       "function": {"name": "calc", "arguments": {"expr": "6 * 7"}}}]},
      {"role": "tool", "content": "42", "name": "calc", "tool_call_id": "call_1"},
      {"role": "assistant", "content": "<think>easy</think>42"},
      {"role": "user", "content": "Thanks ✓"}
    ],
    "tools": [{"type": "function",
               "function": {"name": "calc", "description": "Evaluates arithmetic.",
                            "parameters": {"type": "object",
                                           "properties": {"expr": {"type": "string"}},
                                           "required": ["expr"]}}}],
    "documents": null,
    "add_generation_prompt": true,
    "enable_thinking": false,
    "bos_token": "<s>",
    "eos_token": "</s>",
    "now": "2025-01-31T12:00:00"
  })");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ordered context = make_context();
  try {
    const entropix::ChatTemplate t(std::string(reinterpret_cast<const char*>(data), size));
    volatile size_t sink = t.render(context).size();
    (void)sink;
  } catch (const entropix::Error&) {
  }
  return 0;
}
