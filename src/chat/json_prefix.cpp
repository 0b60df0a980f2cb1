#include "chat/json_prefix.h"

#include <cctype>
#include <cstring>
#include <string>

namespace entropix {

namespace {

bool json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// What the next token outside a string may be.
enum class Expect { Value, ValueOrClose, Key, KeyOrClose, Colon, CommaOrClose };

}  // namespace

JsonExtent json_extent(std::string_view text, size_t pos) {
  const JsonExtent invalid{JsonExtent::Invalid, 0};
  if (pos >= text.size() || (text[pos] != '{' && text[pos] != '[')) return invalid;
  std::string open = {text[pos]};  // the brackets still open, innermost last
  Expect expect = text[pos] == '{' ? Expect::KeyOrClose : Expect::ValueOrClose;
  bool in_string = false, string_is_key = false, escaped = false;
  int hex_left = 0;               // digits still due in a \uXXXX escape
  bool in_number = false;         // number characters are checked by the final parse
  const char* literal = nullptr;  // true/false/null being read, and how far
  size_t literal_at = 0;

  for (size_t i = pos + 1; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (hex_left > 0) {
        if (!std::isxdigit(static_cast<unsigned char>(c))) return invalid;
        --hex_left;
      } else if (escaped) {
        escaped = false;
        if (c == 'u')
          hex_left = 4;
        else if (!std::strchr("\"\\/bfnrt", c) || c == '\0')
          return invalid;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
        expect = string_is_key ? Expect::Colon : Expect::CommaOrClose;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        return invalid;
      }
      continue;
    }
    if (literal) {
      if (c != literal[literal_at]) return invalid;
      if (literal[++literal_at] == '\0') {
        literal = nullptr;
        expect = Expect::CommaOrClose;
      }
      continue;
    }
    if (in_number) {
      if (std::isdigit(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E')
        continue;
      in_number = false;
      expect = Expect::CommaOrClose;  // and c is read below
    }
    if (json_space(c)) continue;

    bool closes = false;
    switch (expect) {
      case Expect::Value:
      case Expect::ValueOrClose:
        if (c == ']' && expect == Expect::ValueOrClose) {
          closes = true;
        } else if (c == '"') {
          in_string = true;
          string_is_key = false;
        } else if (c == '{' || c == '[') {
          open.push_back(c);
          if (static_cast<int>(open.size()) > kJsonMaxDepth) return invalid;
          expect = c == '{' ? Expect::KeyOrClose : Expect::ValueOrClose;
        } else if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
          in_number = true;
        } else if (c == 't' || c == 'f' || c == 'n') {
          literal = c == 't' ? "true" : c == 'f' ? "false" : "null";
          literal_at = 1;
        } else {
          return invalid;
        }
        break;
      case Expect::Key:
      case Expect::KeyOrClose:
        if (c == '}' && expect == Expect::KeyOrClose) {
          closes = true;
        } else if (c == '"') {
          in_string = true;
          string_is_key = true;
        } else {
          return invalid;
        }
        break;
      case Expect::Colon:
        if (c != ':') return invalid;
        expect = Expect::Value;
        break;
      case Expect::CommaOrClose:
        if (c == ',')
          expect = open.back() == '{' ? Expect::Key : Expect::Value;
        else if (c == (open.back() == '{' ? '}' : ']'))
          closes = true;
        else
          return invalid;
        break;
    }
    if (closes) {
      open.pop_back();
      if (open.empty()) return {JsonExtent::Complete, i + 1};
      expect = Expect::CommaOrClose;
    }
  }
  return {JsonExtent::Incomplete, 0};
}

}  // namespace entropix
