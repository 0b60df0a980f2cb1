#include "chat/tool_call_scanner.h"

#include <algorithm>
#include <optional>
#include <string>

#include "chat/json_prefix.h"

namespace entropix {

namespace {

using ordered_json = nlohmann::ordered_json;

// Whether a call is there, is not, or depends on text still to come.
enum class Scan { Ok, Incomplete, Invalid };

struct Block {
  Scan scan = Scan::Invalid;
  size_t end = 0;  // Ok: one past the block
  std::vector<ToolCall> calls;
};

Block invalid_block() { return {}; }
Block incomplete_block() { return {Scan::Incomplete, 0, {}}; }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A function name as OpenAI allows it (letters, digits, '_', '-'), and '.'.
bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}
constexpr size_t kMaxNameLength = 256;  // longer is not a name: stop holding the text back

// Reads a block left to right; every read says Ok, Incomplete (the text ends inside
// what was expected) or Invalid (something else is there).
struct Cursor {
  std::string_view text;
  size_t pos;

  bool at_end() const { return pos >= text.size(); }
  void skip_space() {
    while (pos < text.size() && is_space(text[pos])) ++pos;
  }
  Scan literal(std::string_view lit) {
    const size_t n = std::min(lit.size(), text.size() - pos);
    if (text.substr(pos, n) != lit.substr(0, n)) return Scan::Invalid;
    if (n < lit.size()) return Scan::Incomplete;
    pos += lit.size();
    return Scan::Ok;
  }
  // Reads a literal without moving on unless it is there.
  Scan peek_literal(std::string_view lit) const { return Cursor{text, pos}.literal(lit); }
  // A JSON object or array (as `open` says) parsed into value.
  Scan json(char open, ordered_json& value) {
    if (at_end()) return Scan::Incomplete;
    if (text[pos] != open) return Scan::Invalid;
    const JsonExtent extent = json_extent(text, pos);
    if (extent.kind == JsonExtent::Incomplete) return Scan::Incomplete;
    if (extent.kind == JsonExtent::Invalid) return Scan::Invalid;
    value = ordered_json::parse(text.substr(pos, extent.end - pos), nullptr, false);
    if (value.is_discarded()) return Scan::Invalid;
    pos = extent.end;
    return Scan::Ok;
  }
  // A run of name characters ended by stop (not consumed).
  Scan name(std::string& out, char stop) {
    const size_t start = pos;
    while (pos < text.size() && is_name_char(text[pos]) && pos - start <= kMaxNameLength) ++pos;
    if (pos - start > kMaxNameLength) return Scan::Invalid;
    if (at_end()) return Scan::Incomplete;
    if (text[pos] != stop || pos == start) return Scan::Invalid;
    out.assign(text.substr(start, pos - start));
    return Scan::Ok;
  }
};

// A JSON object as compact text; a string holding one is read as the object it holds.
std::optional<std::string> arguments_text(const ordered_json& args) {
  if (args.is_object()) return args.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  if (args.is_string()) {
    const ordered_json inner = ordered_json::parse(args.get<std::string>(), nullptr, false);
    if (inner.is_object()) return inner.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  }
  return std::nullopt;
}

// {"name": NAME, "arguments" | "parameters": ARGS, "id"?}. Inside explicit call markers a
// call without arguments is a call with none; a bare JSON answer (Llama) must name them,
// or any JSON answer with a "name" would be a call.
std::optional<ToolCall> call_from_json(const ordered_json& j, bool arguments_required) {
  if (!j.is_object()) return std::nullopt;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get<std::string>().empty()) return std::nullopt;
  ToolCall call;
  call.name = name->get<std::string>();
  auto args = j.find("arguments");
  if (args == j.end()) args = j.find("parameters");
  if (args == j.end()) {
    if (arguments_required) return std::nullopt;
    call.arguments = "{}";
  } else {
    std::optional<std::string> text = arguments_text(*args);
    if (!text) return std::nullopt;
    call.arguments = std::move(*text);
  }
  if (auto id = j.find("id"); id != j.end() && id->is_string()) call.id = id->get<std::string>();
  return call;
}

// A JSON array of calls (Mistral's older form, Granite).
Scan calls_from_array(Cursor& c, std::vector<ToolCall>& calls) {
  ordered_json array;
  if (Scan s = c.json('[', array); s != Scan::Ok) return s;
  for (const ordered_json& item : array) {
    std::optional<ToolCall> call = call_from_json(item, false);
    if (!call) return Scan::Invalid;
    calls.push_back(std::move(*call));
  }
  return calls.empty() ? Scan::Invalid : Scan::Ok;
}

Block ok_block(const Cursor& c, std::vector<ToolCall> calls) { return {Scan::Ok, c.pos, std::move(calls)}; }

// <tool_call> {"name": .., "arguments": {..}} </tool_call>; at the end of the answer the
// closing tag may be missing.
Block hermes_block(std::string_view text, size_t at, bool final) {
  Cursor c{text, at};
  if (c.literal("<tool_call>") != Scan::Ok) return invalid_block();
  c.skip_space();
  ordered_json j;
  if (Scan s = c.json('{', j); s != Scan::Ok) return {s, 0, {}};
  std::optional<ToolCall> call = call_from_json(j, false);
  if (!call) return invalid_block();
  c.skip_space();
  if (c.at_end() && final) return ok_block(c, {std::move(*call)});
  if (Scan s = c.literal("</tool_call>"); s != Scan::Ok) return {s, 0, {}};
  return ok_block(c, {std::move(*call)});
}

// {"name": .., "parameters": {..}} at `at`, or <|python_tag|> and then that.
Block llama_block(std::string_view text, size_t at) {
  Cursor c{text, at};
  if (c.peek_literal("<|python_tag|>") == Scan::Ok) {
    c.literal("<|python_tag|>");
    c.skip_space();
  }
  ordered_json j;
  if (Scan s = c.json('{', j); s != Scan::Ok) return {s, 0, {}};
  std::optional<ToolCall> call = call_from_json(j, true);
  if (!call) return invalid_block();
  return ok_block(c, {std::move(*call)});
}

// [TOOL_CALLS]NAME[ARGS]{..}, [TOOL_CALLS]NAME[CALL_ID]ID[ARGS]{..} or [TOOL_CALLS][{..}, ..].
Block mistral_block(std::string_view text, size_t at) {
  Cursor c{text, at};
  if (c.literal("[TOOL_CALLS]") != Scan::Ok) return invalid_block();
  std::vector<ToolCall> calls;
  Cursor array = c;
  array.skip_space();
  if (array.at_end()) return incomplete_block();
  if (text[array.pos] == '[') {
    if (Scan s = calls_from_array(array, calls); s != Scan::Ok) return {s, 0, {}};
    return ok_block(array, std::move(calls));
  }
  ToolCall call;
  if (Scan s = c.name(call.name, '['); s != Scan::Ok) return {s, 0, {}};
  const Scan args = c.peek_literal("[ARGS]");
  const Scan id = c.peek_literal("[CALL_ID]");
  if (id == Scan::Ok) {
    c.literal("[CALL_ID]");
    if (Scan s = c.name(call.id, '['); s != Scan::Ok) return {s, 0, {}};
    if (Scan s = c.literal("[ARGS]"); s != Scan::Ok) return {s, 0, {}};
  } else if (args == Scan::Ok) {
    c.literal("[ARGS]");
  } else {
    return args == Scan::Incomplete || id == Scan::Incomplete ? incomplete_block() : invalid_block();
  }
  c.skip_space();
  ordered_json j;
  if (Scan s = c.json('{', j); s != Scan::Ok) return {s, 0, {}};
  call.arguments = j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  calls.push_back(std::move(call));
  return ok_block(c, std::move(calls));
}

// <|tool_call|>[{"name": .., "arguments": {..}}, ..]
Block granite_block(std::string_view text, size_t at) {
  Cursor c{text, at};
  if (c.literal("<|tool_call|>") != Scan::Ok) return invalid_block();
  c.skip_space();
  std::vector<ToolCall> calls;
  if (Scan s = calls_from_array(c, calls); s != Scan::Ok) return {s, 0, {}};
  return ok_block(c, std::move(calls));
}

// One <｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{..}\n```<｜tool▁call▁end｜>.
Scan deepseek_call(Cursor& c, ToolCall& call) {
  for (std::string_view lit : {"<｜tool▁call▁begin｜>", "function", "<｜tool▁sep｜>"})
    if (Scan s = c.literal(lit); s != Scan::Ok) return s;
  if (Scan s = c.name(call.name, '\n'); s != Scan::Ok) return s;
  if (Scan s = c.literal("\n```json"); s != Scan::Ok) return s;
  c.skip_space();
  ordered_json j;
  if (Scan s = c.json('{', j); s != Scan::Ok) return s;
  call.arguments = j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  c.skip_space();
  if (Scan s = c.literal("```"); s != Scan::Ok) return s;
  c.skip_space();
  return c.literal("<｜tool▁call▁end｜>");
}

// <｜tool▁calls▁begin｜> calls <｜tool▁calls▁end｜>; the block may end without its closing
// marker, after its last complete call.
Block deepseek_block(std::string_view text, size_t at, bool final) {
  Cursor c{text, at};
  if (c.literal("<｜tool▁calls▁begin｜>") != Scan::Ok) return invalid_block();
  std::vector<ToolCall> calls;
  for (;;) {
    const size_t after_last = c.pos;
    c.skip_space();
    const Scan end = c.peek_literal("<｜tool▁calls▁end｜>");
    const Scan next = c.peek_literal("<｜tool▁call▁begin｜>");
    if (end == Scan::Ok) {
      if (calls.empty()) return invalid_block();
      c.literal("<｜tool▁calls▁end｜>");
      return ok_block(c, std::move(calls));
    }
    if (next != Scan::Ok) {
      const bool may_continue = !final && (end == Scan::Incomplete || next == Scan::Incomplete);
      if (may_continue) return incomplete_block();
      if (calls.empty()) return invalid_block();
      return ok_block(Cursor{text, after_last}, std::move(calls));
    }
    ToolCall call;
    if (Scan s = deepseek_call(c, call); s != Scan::Ok) return {s, 0, {}};
    calls.push_back(std::move(call));
  }
}

}  // namespace

ToolCallScanner::ToolCallScanner(ToolCallFormat format, uint64_t id_seed) : format_(format), ids_(id_seed) {
  if (format_ != ToolCallFormat::None) syntax_ = tool_call_syntax(format_);
}

ToolCallStep ToolCallScanner::calls_step(size_t length, std::vector<ToolCall> calls) {
  for (ToolCall& call : calls)
    if (call.id.empty()) call.id = new_tool_call_id(format_, ids_);
  at_start_ = false;
  after_call_ = true;
  return {ToolCallStep::Calls, length, std::move(calls)};
}

ToolCallStep ToolCallScanner::step(std::string_view text, size_t pos, bool final) {
  const size_t n = text.size();
  if (format_ == ToolCallFormat::None) return {ToolCallStep::Content, n - pos, {}};

  // Calls at `at` (a start marker there, or Llama's bare JSON where it may open the answer).
  auto block_at = [&](size_t at) -> Block {
    Block b;
    switch (format_) {
      case ToolCallFormat::Llama3Json:
        b = llama_block(text, at);
        break;
      case ToolCallFormat::Hermes:
        b = hermes_block(text, at, final);
        break;
      case ToolCallFormat::Mistral:
        b = mistral_block(text, at);
        break;
      case ToolCallFormat::Granite:
        b = granite_block(text, at);
        break;
      case ToolCallFormat::DeepSeekR1:
        b = deepseek_block(text, at, final);
        break;
      case ToolCallFormat::None:
        break;
    }
    if (b.scan == Scan::Incomplete && final) return invalid_block();
    return b;
  };
  auto marker_at = [&](size_t at) -> size_t {  // length of the start marker at `at`, or 0
    for (const std::string& m : syntax_.start_markers)
      if (text.substr(at, m.size()) == m) return m.size();
    return 0;
  };
  auto marker_prefix_at = [&](size_t at) {  // text[at, n) is a proper prefix of a start marker
    for (const std::string& m : syntax_.start_markers)
      if (n - at < m.size() && std::string_view(m).substr(0, n - at) == text.substr(at)) return true;
    return false;
  };

  if (at_start_ || after_call_) {
    // Whitespace (and, between Llama's calls, ';') before what may be a call.
    const bool semicolons = after_call_ && format_ == ToolCallFormat::Llama3Json;
    size_t w = pos;
    while (w < n && (is_space(text[w]) || (semicolons && text[w] == ';'))) ++w;
    if (w == n) {
      if (!final) return {ToolCallStep::Wait, 0, {}};
      return {after_call_ ? ToolCallStep::Drop : ToolCallStep::Content, n - pos, {}};
    }
    const bool bare_json = syntax_.json_at_start && text[w] == '{';
    if (bare_json || marker_at(w) > 0) {
      Block b = block_at(w);
      if (b.scan == Scan::Incomplete) return {ToolCallStep::Wait, 0, {}};
      if (b.scan == Scan::Ok) return calls_step(b.end - pos, std::move(b.calls));
    } else if (!final && marker_prefix_at(w)) {
      return {ToolCallStep::Wait, 0, {}};
    }
    // No call follows: the whitespace is content, and so is what comes next, up to a marker.
    at_start_ = after_call_ = false;
  }

  size_t first = std::string_view::npos;  // the first start marker at or after pos
  for (const std::string& m : syntax_.start_markers) first = std::min(first, text.find(m, pos));
  if (first == pos) {
    Block b = block_at(pos);
    if (b.scan == Scan::Incomplete) return {ToolCallStep::Wait, 0, {}};
    if (b.scan == Scan::Ok) return calls_step(b.end - pos, std::move(b.calls));
    return {ToolCallStep::Content, marker_at(pos), {}};  // not a call after all: the marker is text
  }
  if (first != std::string_view::npos) return {ToolCallStep::Content, first - pos, {}};
  if (final) return {ToolCallStep::Content, n - pos, {}};
  // Hold back only the longest tail that may be the start of a marker.
  size_t longest = 0;
  for (const std::string& m : syntax_.start_markers) longest = std::max(longest, m.size());
  size_t keep = n;
  for (size_t at = std::max(pos, n + 1 - std::min(n + 1, longest)); at < n && keep == n; ++at)
    if (marker_prefix_at(at)) keep = at;
  if (keep == pos) return {ToolCallStep::Wait, 0, {}};
  return {ToolCallStep::Content, keep - pos, {}};
}

}  // namespace entropix
