// How a conversation is put to a model: the messages rendered with a chat template
// when there is one, else as plain "User:/Assistant:" turns, and what the answer
// then needs (a stop string, a leading space dropped). The server and `entropix
// chat` build their prompts here.
//
//   ChatFormat format(engine.chat_template());  // nullopt: plain turns
//   ids = tok.encode(format.render(messages, tok), format.add_bos(), true);
//   if (!format.stop().empty()) options.stop.push_back(format.stop());
//   LeadingSpace lead = format.leading_space();  // lead.apply(text) on each piece of the answer
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "chat/tool_call_format.h"

namespace entropix {

class Tokenizer;

// Drops the space plain turns put between "Assistant:" and the answer, from the
// first text of an answer that is not empty (given whole or piece by piece).
struct LeadingSpace {
  bool active = false;  // a space is still to be dropped
  void apply(std::string& text);
};

class ChatFormat {
 public:
  // template_source: Jinja source, or nullopt for plain turns; origin: where it came
  // from, named by every error. Throws Error when the template does not parse.
  explicit ChatFormat(const std::optional<std::string>& template_source, const std::string& origin = "");

  bool has_template() const { return tmpl_ != nullptr; }
  // The conversation, ending where the assistant's answer starts. Throws Error when
  // the template fails on these messages (its own raise_exception() included).
  std::string render(const std::vector<ChatMessage>& messages, const Tokenizer& tokenizer) const;
  // The same with tools declared (OpenAI's tools list; null: none) and the messages'
  // tool calls and results put in the shapes the template expects (tool_template_context).
  std::string render(const std::vector<ChatMessage>& messages, const Tokenizer& tokenizer,
                     const nlohmann::ordered_json& tools) const;
  // How the model writes a tool call, as its template shows; None for plain turns and
  // templates that show no call syntax.
  ToolCallFormat tool_format() const { return tool_format_; }
  // Whether the tokenizer is to add BOS: templates write its text themselves.
  bool add_bos() const { return !tmpl_; }
  // A stop string the answer needs, else empty: after plain turns the model would
  // go on with the user's next turn.
  std::string stop() const { return tmpl_ ? "" : "\nUser:"; }
  LeadingSpace leading_space() const { return LeadingSpace{!tmpl_}; }

 private:
  std::unique_ptr<ChatTemplate> tmpl_;  // null: plain turns
  ToolCallFormat tool_format_ = ToolCallFormat::None;
};

}  // namespace entropix
