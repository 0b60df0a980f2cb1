#include "chat/jinja_lexer.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "chat/jinja_strings.h"
#include "core/error.h"

namespace entropix::jinja {

std::string describe(const SourcePos& pos) {
  return "line " + std::to_string(pos.line) + ", column " + std::to_string(pos.column);
}

namespace {

// jinja2 splits the source on \r\n, \r and \n, rejoins with \n and drops one trailing newline.
std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(std::move(src)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < src_.size()) {
      const size_t tag = find_tag(pos_);
      if (tag == std::string::npos) {
        emit(TokenType::Data, src_.substr(pos_), pos_);
        break;
      }
      const char kind = src_[tag + 1];
      const char sign = tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+')
                            ? src_[tag + 2] : '\0';
      std::string text = src_.substr(pos_, tag - pos_);
      apply_strip(text, sign, kind != '{', line_starting);
      if (!text.empty()) emit(TokenType::Data, std::move(text), pos_);
      const size_t after_begin = tag + 2 + (sign ? 1 : 0);
      size_t raw_body;
      if (kind == '%' && match_raw_begin(after_begin, raw_body)) {
        pos_ = raw_body;
        lex_raw(tag, line_starting);
      } else if (kind == '#') {
        pos_ = after_begin;
        lex_comment(tag);
      } else {
        emit(kind == '%' ? TokenType::BlockBegin : TokenType::VarBegin, "", tag);
        pos_ = after_begin;
        lex_tag(kind == '%', tag);
      }
      line_starting = pos_ > 0 && src_[pos_ - 1] == '\n';
    }
    emit(TokenType::End, "", src_.size());
    return std::move(tokens_);
  }

 private:
  std::string src_;
  size_t pos_ = 0;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
  size_t cursor_offset_ = 0;
  SourcePos cursor_;

  // Position of an offset, computed from scratch (for errors).
  SourcePos position(size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const size_t line = static_cast<size_t>(it - line_starts_.begin());
    const size_t start = line_starts_[line - 1];
    return {static_cast<int>(line),
            static_cast<int>(utf8_length(std::string_view(src_).substr(start, offset - start))) + 1};
  }

  // Position of a token: offsets only grow, so advance a cursor (linear in the source).
  SourcePos token_position(size_t offset) {
    if (offset < cursor_offset_) return position(offset);
    for (; cursor_offset_ < offset; ++cursor_offset_) {
      const char c = src_[cursor_offset_];
      if (c == '\n') {
        ++cursor_.line;
        cursor_.column = 1;
      } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
        ++cursor_.column;
      }
    }
    return cursor_;
  }

  [[noreturn]] void fail(const std::string& what, size_t offset) const {
    throw Error("chat template " + describe(position(offset)) + ": " + what);
  }

  Token& emit(TokenType type, std::string text, size_t offset) {
    tokens_.push_back(Token{type, std::move(text), token_position(offset)});
    return tokens_.back();
  }

  bool starts(size_t at, const char* s) const {
    return src_.compare(at, std::strlen(s), s) == 0;
  }

  size_t find_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#'))
        return i;
    }
    return std::string::npos;
  }

  // Python's \s at one position: the length of the whitespace code point there, or 0.
  size_t space_at(size_t at) const {
    if (at >= src_.size()) return 0;
    const auto c = static_cast<unsigned char>(src_[at]);
    if (c < 0x80) return py_isspace(c) ? 1 : 0;
    size_t n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    if (at + n > src_.size()) return 0;
    const auto cps = decode_utf8(std::string_view(src_).substr(at, n));
    return cps.size() == 1 && py_isspace(cps[0]) ? n : 0;
  }

  size_t skip_spaces(size_t at) const {
    while (size_t n = space_at(at)) at += n;
    return at;
  }

  // "-" strips all whitespace before a tag; otherwise lstrip_blocks removes the spaces
  // between the start of the line and a block or comment tag.
  static void apply_strip(std::string& text, char sign, bool lstrip_applies, bool line_starting) {
    if (sign == '-') {
      text = py_strip(text, StripSide::Right, std::nullopt);
    } else if (sign != '+' && lstrip_applies) {
      const size_t nl = text.rfind('\n');
      const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting) && l_pos < text.size()) {
        const auto tail = decode_utf8(std::string_view(text).substr(l_pos));
        if (std::all_of(tail.begin(), tail.end(), py_isspace)) text.resize(l_pos);
      }
    }
  }

  bool match_raw_begin(size_t at, size_t& body) const {
    at = skip_spaces(at);
    if (!starts(at, "raw")) return false;
    at = skip_spaces(at + 3);
    if (starts(at, "-%}")) {
      body = skip_spaces(at + 3);
      return true;
    }
    if (starts(at, "%}")) {
      body = at + 2;
      return true;
    }
    return false;
  }

  void lex_raw(size_t begin, bool& line_starting) {
    line_starting = pos_ > 0 && src_[pos_ - 1] == '\n';
    for (size_t q = src_.find("{%", pos_); q != std::string::npos; q = src_.find("{%", q + 1)) {
      const char sign = q + 2 < src_.size() && (src_[q + 2] == '-' || src_[q + 2] == '+') ? src_[q + 2] : '\0';
      size_t at = skip_spaces(q + 2 + (sign ? 1 : 0));
      if (!starts(at, "endraw")) continue;
      at = skip_spaces(at + 6);
      size_t end;
      if (starts(at, "+%}")) {
        end = at + 3;
      } else if (starts(at, "-%}")) {
        end = skip_spaces(at + 3);
      } else if (starts(at, "%}")) {
        end = at + 2 + (at + 2 < src_.size() && src_[at + 2] == '\n');
      } else {
        continue;
      }
      std::string text = src_.substr(pos_, q - pos_);
      apply_strip(text, sign, true, line_starting);
      if (!text.empty()) emit(TokenType::Data, std::move(text), pos_);
      pos_ = end;
      return;
    }
    fail("expected {% endraw %} to close {% raw %}, found the end of the template", begin);
  }

  void lex_comment(size_t begin) {
    const size_t q = src_.find("#}", pos_);
    if (q == std::string::npos) fail("expected '#}' to close the comment, found the end of the template", begin);
    const char sign = q > pos_ && (src_[q - 1] == '-' || src_[q - 1] == '+') ? src_[q - 1] : '\0';
    pos_ = q + 2;
    if (sign == '-') {
      pos_ = skip_spaces(pos_);
    } else if (sign != '+' && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;  // trim_blocks
    }
  }

  void lex_tag(bool block, size_t begin) {
    std::vector<char> balance;
    while (true) {
      pos_ = skip_spaces(pos_);
      if (pos_ >= src_.size())
        fail(std::string("expected '") + (block ? "%}" : "}}") + "' to close the tag, found the end of the template", begin);
      if (balance.empty()) {
        if (block) {
          if (starts(pos_, "+%}")) {
            emit(TokenType::BlockEnd, "", pos_);
            pos_ += 3;
            return;
          }
          if (starts(pos_, "-%}")) {
            emit(TokenType::BlockEnd, "", pos_);
            pos_ = skip_spaces(pos_ + 3);
            return;
          }
          if (starts(pos_, "%}")) {
            emit(TokenType::BlockEnd, "", pos_);
            pos_ += 2;
            if (pos_ < src_.size() && src_[pos_] == '\n') ++pos_;  // trim_blocks
            return;
          }
        } else {
          if (starts(pos_, "-}}")) {
            emit(TokenType::VarEnd, "", pos_);
            pos_ = skip_spaces(pos_ + 3);
            return;
          }
          if (starts(pos_, "}}")) {
            emit(TokenType::VarEnd, "", pos_);
            pos_ += 2;
            return;
          }
        }
      }
      lex_one(balance);
    }
  }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

  // Digits with single underscores between them: "1_000".
  size_t digits_at(size_t at) const {
    size_t i = at;
    if (i >= src_.size() || !is_digit(src_[i])) return 0;
    while (i < src_.size()) {
      if (is_digit(src_[i])) {
        ++i;
      } else if (src_[i] == '_' && i + 1 < src_.size() && is_digit(src_[i + 1])) {
        ++i;
      } else {
        break;
      }
    }
    return i - at;
  }

  void lex_number() {
    const size_t start = pos_;
    size_t i = start + digits_at(start);
    bool is_float = false;
    const bool after_dot = start > 0 && src_[start - 1] == '.';
    if (!after_dot) {
      if (i + 1 < src_.size() && src_[i] == '.' && digits_at(i + 1)) {
        is_float = true;
        i += 1 + digits_at(i + 1);
      }
      if (i < src_.size() && src_[i] == 'e') {
        size_t j = i + 1;
        if (j < src_.size() && (src_[j] == '+' || src_[j] == '-')) ++j;
        if (size_t d = digits_at(j)) {
          is_float = true;
          i = j + d;
        }
      }
    }
    std::string text = src_.substr(start, i - start);
    std::string clean;
    for (char c : text)
      if (c != '_') clean += c;
    Token& t = emit(is_float ? TokenType::Float : TokenType::Integer, text, start);
    if (is_float) {
      t.float_value = std::strtod(clean.c_str(), nullptr);
    } else {
      errno = 0;
      const long long v = std::strtoll(clean.c_str(), nullptr, 10);
      if (errno == ERANGE) fail("expected an integer below 2^63, found " + text, start);
      t.int_value = v;
    }
    pos_ = i;
  }

  void lex_string() {
    const size_t start = pos_;
    const char quote = src_[pos_++];
    std::string value;
    while (true) {
      if (pos_ >= src_.size()) fail(std::string("expected ") + quote + " to close the string, found the end of the template", start);
      const char c = src_[pos_];
      if (c == quote) {
        ++pos_;
        break;
      }
      if (c != '\\') {
        value += c;
        ++pos_;
        continue;
      }
      if (pos_ + 1 >= src_.size()) fail("expected an escape after '\\', found the end of the template", pos_);
      const char e = src_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case '\n': break;  // line continuation
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case 'a': value += '\a'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'n': value += '\n'; break;
        case 'r': value += '\r'; break;
        case 't': value += '\t'; break;
        case 'v': value += '\v'; break;
        case 'x': case 'u': case 'U': {
          const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          char32_t cp = 0;
          for (size_t k = 0; k < n; ++k) {
            const char h = pos_ + k < src_.size() ? src_[pos_ + k] : '\0';
            const int d = is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                        : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
            if (d < 0) fail(std::string("expected ") + std::to_string(n) + " hex digits after '\\" + e + "'", pos_);
            cp = cp * 16 + static_cast<char32_t>(d);
          }
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            fail("expected a Unicode scalar value in the escape, found a surrogate or out-of-range code point", pos_);
          append_utf8(value, cp);
          pos_ += n;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t cp = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7'; ++k)
              cp = cp * 8 + static_cast<char32_t>(src_[pos_++] - '0');
            append_utf8(value, cp);
          } else {
            value += '\\';  // Python keeps unknown escapes as written
            value += e;
          }
      }
    }
    emit(TokenType::String, std::move(value), start);
  }

  void lex_one(std::vector<char>& balance) {
    const char c = src_[pos_];
    if (is_digit(c)) return lex_number();
    if (is_name_start(c)) {
      const size_t start = pos_;
      while (pos_ < src_.size() && (is_name_start(src_[pos_]) || is_digit(src_[pos_]))) ++pos_;
      emit(TokenType::Name, src_.substr(start, pos_ - start), start);
      return;
    }
    if (c == '\'' || c == '"') return lex_string();
    static const char* const kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : kTwo) {
      if (starts(pos_, op)) {
        emit(TokenType::Operator, op, pos_);
        pos_ += 2;
        return;
      }
    }
    if (std::strchr("+-/*%~[](){}><=.,:|;", c) && c != '\0') {
      if (c == '(' || c == '[' || c == '{') {
        balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
      } else if (c == ')' || c == ']' || c == '}') {
        if (balance.empty()) fail(std::string("unexpected '") + c + "'", pos_);
        if (balance.back() != c)
          fail(std::string("expected '") + balance.back() + "', found '" + c + "'", pos_);
        balance.pop_back();
      }
      emit(TokenType::Operator, std::string(1, c), pos_);
      ++pos_;
      return;
    }
    const auto cps = decode_utf8(std::string_view(src_).substr(pos_, std::min<size_t>(4, src_.size() - pos_)));
    std::string shown;
    if (!cps.empty()) append_utf8(shown, cps[0]);
    fail("expected an expression token, found unexpected character '" + shown + "'", pos_);
  }
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) {
  if (!valid_utf8(source)) throw Error("chat template: expected UTF-8 source, found invalid UTF-8");
  return Lexer(normalize_newlines(source)).run();
}

}  // namespace entropix::jinja
