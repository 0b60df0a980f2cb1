// Chat templates of real models (the Jinja source stored in GGUF or tokenizer_config.json),
// rendered by our own Jinja-subset interpreter exactly as Hugging Face transformers'
// apply_chat_template renders them with jinja2 (trim_blocks, lstrip_blocks, its tojson,
// raise_exception and strftime_now).
//
//   ChatTemplate t(source, "tokenizer.chat_template");  // parses; throws Error on what it cannot handle
//   std::string prompt = t.apply(messages, true, "<s>", "</s>");
//   std::string custom = t.render({{"messages", ...}, {"enable_thinking", false}, ...});
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace entropix {

namespace jinja {
struct Node;
}

struct ChatMessage {
  std::string role;           // "system", "user", "assistant", "tool", ...
  std::string content;
  nlohmann::json tool_calls;  // null when absent, else an OpenAI-style array of tool calls
  std::string name;           // omitted from the message when empty
  std::string tool_call_id;   // omitted from the message when empty (tool results)
};

class ChatTemplate {
 public:
  // Parses the template and checks that every filter and test it names exists; throws
  // Error with the line and column of the first construct it cannot handle. origin names
  // where the source came from ("the --chat-template file"); every Error then starts with it.
  explicit ChatTemplate(std::string source, std::string origin = "");

  // context: a JSON object of template variables: messages, add_generation_prompt,
  // bos_token, eos_token and any others (tools, documents, date_string, enable_thinking...).
  // A "now" entry ("YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS") fixes what strftime_now()
  // formats; without it strftime_now() uses the current local time, as transformers does.
  // Object keys keep their order with ordered_json (tojson output follows it); plain json
  // sorts them. Throws Error (with the template line and column) when rendering fails,
  // including the template's own raise_exception(), and when the render passes one of
  // jinja::Limits (nesting, memory held, time taken).
  std::string render(const nlohmann::json& context) const;
  std::string render(const nlohmann::ordered_json& context) const;

  // The context transformers builds: messages, add_generation_prompt, bos_token,
  // eos_token, and tools and documents as none.
  std::string apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                    const std::string& bos_token, const std::string& eos_token) const;

  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::string origin_;  // empty: errors name no origin
  std::shared_ptr<const std::vector<std::unique_ptr<jinja::Node>>> body_;
};

}  // namespace entropix
