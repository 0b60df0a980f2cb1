#include "grammar/gbnf_writer.h"

#include <algorithm>
#include <cmath>
#include <fmt/core.h>
#include <stdexcept>

#include "tokenizer/utf8.h"

namespace entropix {

namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// Index just past the quoted literal or class that opens at `i` (`close` is '"' or ']').
size_t skip_quoted(const std::string& s, size_t i, char close) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') ++i;
    else if (s[i] == close) return i + 1;
  }
  return s.size();
}

// Index just past the one item that starts at `i`, or `i` when none starts there.
size_t skip_item(const std::string& s, size_t i) {
  if (i >= s.size()) return i;
  if (s[i] == '"') return skip_quoted(s, i, '"');
  if (s[i] == '[') return skip_quoted(s, i, ']');
  if (s[i] == '(') {
    int depth = 0;
    while (i < s.size()) {
      if (s[i] == '"') { i = skip_quoted(s, i, '"'); continue; }
      if (s[i] == '[') { i = skip_quoted(s, i, ']'); continue; }
      if (s[i] == '(') ++depth;
      if (s[i] == ')' && --depth == 0) return i + 1;
      ++i;
    }
    return i;
  }
  while (i < s.size() && is_name_char(s[i])) ++i;
  return i;
}

std::string repeat_exactly(const std::string& item, uint64_t count);

// `item` 0..count times, count above the direct limit: blocks of `block` items, then
// the remainder, in two alternatives that cover [0, q*block) and [q*block, count].
std::string repeat_up_to(const std::string& item, uint64_t count) {
  if (count <= kGbnfDirectRepeatLimit) return count == 1 ? item + "?" : fmt::format("{}{{0,{}}}", item, count);
  const auto block = static_cast<uint64_t>(std::ceil(std::sqrt(static_cast<double>(count))));
  const uint64_t blocks = count / block;
  const std::string block_item = gbnf_group(repeat_exactly(item, block));
  std::string below = repeat_up_to(item, block - 1);
  if (blocks > 1) below = repeat_up_to(block_item, blocks - 1) + " " + below;
  std::string at_top = repeat_exactly(block_item, blocks);
  if (count % block) at_top.append(" ").append(repeat_up_to(item, count % block));
  return "(" + below + " | " + at_top + ")";
}

std::string repeat_exactly(const std::string& item, uint64_t count) {
  if (count == 0) return "";
  if (count == 1) return item;
  if (count <= kGbnfDirectRepeatLimit) return fmt::format("{}{{{}}}", item, count);
  const auto block = static_cast<uint64_t>(std::ceil(std::sqrt(static_cast<double>(count))));
  std::string out = repeat_exactly(gbnf_group(repeat_exactly(item, block)), count / block);
  if (count % block) out.append(" ").append(repeat_exactly(item, count % block));
  return out;
}

}  // namespace

std::string GbnfWriter::unique_name(std::string_view name) {
  std::string base;
  for (char c : name) base += is_name_char(c) ? c : '-';
  if (base.empty()) base = "rule";
  std::string candidate = base;
  for (int n = 2; index_of_name_.count(candidate); ++n) candidate = base + "-" + std::to_string(n);
  index_of_name_[candidate] = rules_.size();
  rules_.emplace_back(candidate, "");
  text_bytes_ += candidate.size() + 5;
  return candidate;
}

std::string GbnfWriter::add_rule(std::string_view name, const std::string& body) {
  if (auto it = name_of_body_.find(body); it != name_of_body_.end()) return it->second;
  std::string got = unique_name(name);
  define(got, body);
  name_of_body_[body] = got;
  return got;
}

std::string GbnfWriter::reserve(std::string_view name) { return unique_name(name); }

void GbnfWriter::define(const std::string& reserved_name, const std::string& body) {
  auto& rule = rules_.at(index_of_name_.at(reserved_name));
  text_bytes_ += body.size() - rule.second.size();
  rule.second = body;
}

std::string GbnfWriter::text() const {
  std::string out;
  out.reserve(text_bytes_);
  const auto write = [&](const std::pair<std::string, std::string>& rule) {
    out += rule.first + " ::= " + rule.second + "\n";
  };
  for (const auto& rule : rules_) if (rule.first == "root") write(rule);
  for (const auto& rule : rules_) if (rule.first != "root") write(rule);
  return out;
}

std::string gbnf_with_prefix(const std::string& text, const std::string& prefix) {
  std::string out;
  out.reserve(text.size() * 2);
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    size_t end = i + 1;
    if (c == '"') end = skip_quoted(text, i, '"');
    else if (c == '[') end = skip_quoted(text, i, ']');
    else if (c == '{') end = std::min(text.find('}', i), text.size() - 1) + 1;  // a repetition count, not a name
    else if (is_name_char(c)) {
      end = skip_item(text, i);
      out += prefix;
    }
    out.append(text, i, end - i);
    i = end;
  }
  return out;
}

std::string gbnf_literal(std::string_view text) {
  std::string out = "\"";
  for (uint32_t cpt : unicode::decode_utf8(text)) {
    switch (cpt) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (cpt < 0x20 || cpt == 0x7F) out += fmt::format("\\x{:02X}", cpt);
        else if (cpt < 0x80) out += static_cast<char>(cpt);
        else if (cpt <= 0xFFFF) out += fmt::format("\\u{:04X}", cpt);
        else out += fmt::format("\\U{:08X}", cpt);
    }
  }
  return out + "\"";
}

std::string gbnf_class_char(uint32_t cpt) {
  const bool plain = (cpt >= 'a' && cpt <= 'z') || (cpt >= 'A' && cpt <= 'Z') || (cpt >= '0' && cpt <= '9') ||
                     (cpt > 0x20 && cpt < 0x7F && std::string_view("!#$%&'*+,./:;<=>?@_`{|}~").find(static_cast<char>(cpt)) != std::string_view::npos);
  if (plain) return std::string(1, static_cast<char>(cpt));
  if (cpt < 0x80) return fmt::format("\\x{:02X}", cpt);
  if (cpt <= 0xFFFF) return fmt::format("\\u{:04X}", cpt);
  return fmt::format("\\U{:08X}", cpt);
}

std::string gbnf_group(const std::string& expr) {
  if (!expr.empty() && skip_item(expr, 0) == expr.size()) return expr;
  return "(" + expr + ")";
}

std::string gbnf_repeat(const std::string& item, uint64_t min, std::optional<uint64_t> max) {
  const std::string g = gbnf_group(item);
  if (!max) {
    if (min == 0) return g + "*";
    if (min == 1) return g + "+";
    if (min <= kGbnfDirectRepeatLimit) return fmt::format("{}{{{},}}", g, min);
    return repeat_exactly(g, min) + " " + g + "*";
  }
  if (*max < min) throw std::invalid_argument("gbnf_repeat: max < min");
  if (min == *max) return repeat_exactly(g, min);
  if (*max <= kGbnfDirectRepeatLimit) {
    if (min == 0 && *max == 1) return g + "?";
    return fmt::format("{}{{{},{}}}", g, min, *max);
  }
  const std::string head = repeat_exactly(g, min);
  const std::string tail = repeat_up_to(g, *max - min);
  return head.empty() ? tail : head + " " + tail;
}

}  // namespace entropix
