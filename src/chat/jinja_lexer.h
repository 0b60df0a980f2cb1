// Splits a Jinja template into text and tag tokens, applying whitespace control the way
// jinja2 does with the settings of Hugging Face's apply_chat_template: trim_blocks=True,
// lstrip_blocks=True, keep_trailing_newline=False, newlines normalized to "\n".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace entropix::jinja {

struct SourcePos {
  int line = 1;    // 1-based
  int column = 1;  // 1-based, in code points
};

// "line 3, column 7"
std::string describe(const SourcePos& pos);

enum class TokenType {
  Data,        // literal text between tags
  VarBegin,    // {{
  VarEnd,      // }}
  BlockBegin,  // {%
  BlockEnd,    // %}
  Name,
  String,      // text holds the unescaped value
  Integer,
  Float,
  Operator,    // text holds the operator: + - * / // % ** ~ == != < > <= >= = . , : | ( ) [ ] { }
  End,
};

struct Token {
  TokenType type;
  std::string text;
  SourcePos pos;
  int64_t int_value = 0;
  double float_value = 0.0;
};

// Throws Error (with line and column) on an unterminated tag, comment or string, an
// unknown character inside a tag, or source that is not UTF-8.
std::vector<Token> tokenize(std::string_view source);

}  // namespace entropix::jinja
