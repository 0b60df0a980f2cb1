#include "chat/generic_tool_calls.h"

#include "sampling/rng.h"
#include "tokenizer/utf8.h"

namespace entropix {

namespace {

using ordered_json = nlohmann::ordered_json;

constexpr std::string_view kStringResponse = "{\"response\": \"";

std::string dump(const ordered_json& j) { return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace); }

std::string instructions(const ordered_json& tools, ToolDemand demand, const std::string& named) {
  std::string out = "You can call these tools (JSON Schema of each one's arguments):\n";
  for (const ordered_json& tool : tools) {
    if (!tool.is_object() || !tool.contains("function")) continue;
    const ordered_json& fn = tool.at("function");
    ordered_json line = {{"name", fn.value("name", "")}};
    if (fn.contains("description")) line["description"] = fn.at("description");
    line["parameters"] = fn.value("parameters", ordered_json::object());
    out += dump(line) + "\n";
  }
  out += "To call tools, answer with only {\"tool_calls\": [{\"name\": <tool name>, \"arguments\": <its arguments>}]}.";
  switch (demand) {
    case ToolDemand::Choose:
      out += " To answer without a tool, answer with only {\"response\": <your answer>}.";
      break;
    case ToolDemand::CallAny:
      out += " Call at least one tool now.";
      break;
    case ToolDemand::CallNamed:
      out += " Call " + named + " now.";
      break;
  }
  return out;
}

// A call's arguments as the JSON value they hold (arguments travel as JSON text).
ordered_json arguments_value(const nlohmann::json& args) {
  if (!args.is_string()) return ordered_json::parse(args.dump());
  ordered_json value = ordered_json::parse(args.get<std::string>(), nullptr, false);
  return value.is_discarded() ? ordered_json(args.get<std::string>()) : value;
}

std::string calls_text(const nlohmann::json& calls) {
  ordered_json out = ordered_json::array();
  for (const nlohmann::json& call : calls) {
    if (!call.is_object()) continue;
    const nlohmann::json fn = call.value("function", nlohmann::json::object());
    ordered_json c = {{"name", fn.value("name", "")},
                      {"arguments", arguments_value(fn.value("arguments", nlohmann::json::object()))}};
    if (call.contains("id")) c["id"] = ordered_json::parse(call.at("id").dump());
    out.push_back(std::move(c));
  }
  return dump(ordered_json{{"tool_calls", out}});
}

// The hex value of 4 digits at s[at], or -1.
int32_t hex4(std::string_view s, size_t at) {
  int32_t v = 0;
  for (size_t i = at; i < at + 4; ++i) {
    const char c = s[i];
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// Decodes the JSON string text in s from `at` up to its closing quote or what is
// still incomplete (a cut escape); returns the decoded text, moves `at`, sets `closed`.
std::string decode_string_part(std::string_view s, size_t& at, bool& closed) {
  std::string out;
  while (at < s.size()) {
    const char c = s[at];
    if (c == '"') {
      closed = true;
      ++at;
      return out;
    }
    if (c != '\\') {
      out += c;
      ++at;
      continue;
    }
    if (at + 1 >= s.size()) break;
    const char e = s[at + 1];
    if (e != 'u') {
      const std::string_view from = "\"\\/bfnrt", to = "\"\\/\b\f\n\r\t";
      const size_t k = from.find(e);
      if (k != std::string_view::npos) out += to[k];
      at += 2;
      continue;
    }
    if (at + 6 > s.size()) break;
    int32_t cp = hex4(s, at + 2);
    size_t used = 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {  // a surrogate pair: wait for its low half
      if (at + 12 > s.size()) break;
      const int32_t low = s.substr(at + 6, 2) == "\\u" ? hex4(s, at + 8) : -1;
      if (low >= 0xDC00 && low <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00), used = 12;
      else cp = 0xFFFD;
    } else if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) {
      cp = 0xFFFD;
    }
    out += unicode::encode_utf8(static_cast<uint32_t>(cp));
    at += used;
  }
  return out;
}

std::vector<ToolCallStreamEvent> content_event(std::string text) {
  if (text.empty()) return {};
  ToolCallStreamEvent e;
  e.content = std::move(text);
  return {std::move(e)};
}

}  // namespace

std::vector<ChatMessage> generic_tool_messages(const std::vector<ChatMessage>& messages, const ordered_json& tools,
                                               ToolDemand demand, const std::string& named) {
  std::vector<ChatMessage> out;
  bool after_results = false;  // the last turn is one of tool results: the next result joins it
  for (const ChatMessage& m : messages) {
    if (m.role == "tool") {
      ordered_json result = {{"tool_call_id", m.tool_call_id}};
      if (!m.name.empty()) result["name"] = m.name;
      ordered_json content = ordered_json::parse(m.content, nullptr, false);
      result["content"] = content.is_discarded() ? ordered_json(m.content) : content;
      const std::string text = dump(ordered_json{{"tool_response", result}});
      if (after_results) out.back().content += "\n" + text;
      else out.push_back(ChatMessage{"user", text, nullptr, "", ""});
      after_results = true;
      continue;
    }
    after_results = false;
    ChatMessage copy = m;
    if (m.tool_calls.is_array() && !m.tool_calls.empty()) {
      copy.content = (m.content.empty() ? "" : m.content + "\n") + calls_text(m.tool_calls);
    }
    copy.tool_calls = nullptr;
    out.push_back(std::move(copy));
  }
  if (!tools.is_array() || tools.empty()) return out;  // earlier calls in the JSON form, no tools now
  const std::string text = instructions(tools, demand, named);
  for (ChatMessage& m : out) {
    if (m.role == "system") {
      m.content += (m.content.empty() ? "" : "\n\n") + text;
      return out;
    }
  }
  for (ChatMessage& m : out) {
    if (m.role == "user") {
      m.content = text + "\n\n" + m.content;
      return out;
    }
  }
  out.insert(out.begin(), ChatMessage{"system", text, nullptr, "", ""});
  return out;
}

std::vector<ToolCallStreamEvent> GenericToolStream::feed(std::string_view piece) {
  text_.append(piece);
  if (!streaming_) {
    if (text_.size() < kStringResponse.size()) return {};
    if (text_.compare(0, kStringResponse.size(), kStringResponse) != 0) return {};
    streaming_ = true;
    string_at_ = kStringResponse.size();
  }
  if (string_done_) return {};
  std::string part = decode_string_part(text_, string_at_, string_done_);
  return content_event(std::move(part));
}

std::vector<ToolCallStreamEvent> GenericToolStream::finish() {
  if (streaming_) return {};  // the reply was released as it came; a cut escape is dropped
  const ordered_json answer = ordered_json::parse(text_, nullptr, false);
  if (answer.is_object() && answer.size() == 1 && answer.contains("response")) {
    const ordered_json& r = answer.at("response");
    return content_event(r.is_string() ? r.get<std::string>() : dump(r));
  }
  std::vector<ToolCallStreamEvent> events;
  bool well_formed = answer.is_object() && answer.size() == 1 && answer.contains("tool_calls") &&
                     answer.at("tool_calls").is_array() && !answer.at("tool_calls").empty();
  if (well_formed) {
    for (const ordered_json& call : answer.at("tool_calls")) {
      well_formed = well_formed && call.is_object() && call.contains("name") && call.at("name").is_string() &&
                    call.contains("arguments") && call.at("arguments").is_object();
    }
  }
  if (!well_formed) return content_event(text_);
  Rng rng(id_seed_);
  for (const ordered_json& call : answer.at("tool_calls")) {
    ToolCallStreamEvent first;
    first.is_call = true;
    first.call = {calls_, new_tool_call_id(ToolCallFormat::None, rng), call.at("name").get<std::string>(), "", true};
    ToolCallStreamEvent args;
    args.is_call = true;
    args.call = {calls_, "", "", dump(call.at("arguments")), false};
    events.push_back(std::move(first));
    events.push_back(std::move(args));
    ++calls_;
  }
  return events;
}

ParsedToolCalls parse_generic_tool_answer(std::string_view text, uint64_t id_seed) {
  GenericToolStream stream(id_seed);
  std::vector<ToolCallStreamEvent> events = stream.feed(text);
  for (ToolCallStreamEvent& e : stream.finish()) events.push_back(std::move(e));
  return collect_tool_call_events(events);
}

}  // namespace entropix
