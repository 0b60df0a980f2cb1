#include "chat/chat_format.h"

#include "chat/tool_template_context.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

namespace {

std::string plain_turns(const std::vector<ChatMessage>& messages) {
  std::string s;
  for (const auto& m : messages) {
    if (m.role == "system") s += m.content + "\n\n";
    else if (m.role == "user") s += "User: " + m.content + "\n";
    else s += "Assistant: " + m.content + "\n";
  }
  return s + "Assistant:";
}

}  // namespace

void LeadingSpace::apply(std::string& text) {
  if (!active || text.empty()) return;
  if (text.front() == ' ') text.erase(0, 1);
  active = text.empty();
}

ChatFormat::ChatFormat(const std::optional<std::string>& template_source, const std::string& origin) {
  if (!template_source) return;
  tmpl_ = std::make_unique<ChatTemplate>(*template_source, origin);
  tool_format_ = detect_tool_call_format(*template_source);
}

std::string ChatFormat::render(const std::vector<ChatMessage>& messages, const Tokenizer& tokenizer) const {
  if (!tmpl_) return plain_turns(messages);
  return tmpl_->apply(messages, true, tokenizer.bos() >= 0 ? tokenizer.token_to_piece(tokenizer.bos()) : "",
                      tokenizer.eos() >= 0 ? tokenizer.token_to_piece(tokenizer.eos()) : "");
}

std::string ChatFormat::render(const std::vector<ChatMessage>& messages, const Tokenizer& tokenizer,
                              const nlohmann::ordered_json& tools) const {
  if (!tmpl_) return plain_turns(messages);
  const auto piece = [&](int32_t id) { return id >= 0 ? tokenizer.token_to_piece(id) : std::string(); };
  return tmpl_->render(
      tool_template_context(messages, tools, tool_format_, true, piece(tokenizer.bos()), piece(tokenizer.eos())));
}

}  // namespace entropix
