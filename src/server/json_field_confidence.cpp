#include "server/json_field_confidence.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "tokenizer/utf8.h"

namespace entropix::server {

namespace {

constexpr size_t kNoToken = static_cast<size_t>(-1);

// One leaf value and the figures of the tokens that cover its bytes.
struct Leaf {
  std::string pointer;
  bool complete = false;
  size_t last_token = kNoToken;  // the last token counted (a token counts once)
  int32_t tokens = 0;
  double min_logprob = std::numeric_limits<double>::infinity();  // natural log
  double entropy_sum = 0;                                          // bits
  std::vector<State> states;                                       // each once, first seen first
  int32_t constrained = 0;                                         // tokens drawn under a grammar
  double min_constrained_logprob = std::numeric_limits<double>::infinity();
  int32_t forced = 0;                                              // of them, the only token allowed
};

// An array or object the reader is inside.
struct Frame {
  bool object = false;
  size_t base = 0;             // length of the container's own pointer
  int64_t index = 0;           // array: the element being read
  std::set<std::string> keys;  // object: the keys read so far (decoded)
};

// A key as a pointer segment (RFC 6901): '~' as ~0, '/' as ~1.
void append_segment(std::string& pointer, const std::string& key) {
  pointer += '/';
  for (char c : key) {
    if (c == '~') pointer += "~0";
    else if (c == '/') pointer += "~1";
    else pointer += c;
  }
}

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// RFC 8259 read one byte at a time, with the leaf each byte belongs to.
class FieldReader {
 public:
  explicit FieldReader(std::span<const TokenInfo> tokens) : tokens_(tokens) {}

  void read() {
    for (size_t t = 0; t < tokens_.size() && expect_ != Expect::Failed; ++t)
      for (unsigned char c : tokens_[t].piece) {
        byte(c, t);
        if (expect_ == Expect::Failed) break;
      }
    // A number ends with the text only when it is the whole value.
    if (lexeme_ == Lexeme::Number && stack_.empty() && number_can_end()) leaves_[leaf_].complete = true;
  }

  nlohmann::ordered_json result() const {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const Leaf& leaf : leaves_) {
      nlohmann::ordered_json states = nlohmann::ordered_json::array();
      for (State s : leaf.states) states.push_back(state_name(s));
      nlohmann::ordered_json f;
      f["min_prob"] = std::exp(leaf.min_logprob);
      f["mean_entropy"] = leaf.tokens > 0 ? leaf.entropy_sum / leaf.tokens : 0.0;
      f["states"] = std::move(states);
      f["tokens"] = leaf.tokens;
      if (leaf.constrained > 0)
        f["constrained"] = {{"min_prob", std::exp(leaf.min_constrained_logprob)}, {"forced", leaf.forced}};
      if (!leaf.complete) f["complete"] = false;
      out[leaf.pointer] = std::move(f);
    }
    return out;
  }

 private:
  enum class Expect {
    Value,       // a value
    FirstValue,  // after '[': a value or ']'
    FirstKey,    // after '{': a key or '}'
    Key,         // after ',' in an object
    Colon,       // after a key
    Next,        // after a value in a container: ',' or its closing bracket
    End,         // after the root value: whitespace only
    Failed,      // not JSON from here on: nothing more is read
  };
  enum class Lexeme { None, String, Number, Literal };
  enum class Escape { None, Backslash, Hex, LowBackslash, LowU, LowHex };
  enum class Number { Minus, Zero, Int, Dot, Frac, E, ESign, Exp };

  void byte(unsigned char c, size_t t) {
    switch (lexeme_) {
      case Lexeme::String:
        if (!string_byte(c)) return fail();
        if (!key_) count(t);
        if (lexeme_ == Lexeme::None) {
          if (key_) key_done();
          else leaf_done();
        }
        return;
      case Lexeme::Literal:
        if (c != static_cast<unsigned char>(literal_[literal_at_])) return fail();
        count(t);
        if (literal_[++literal_at_] == '\0') leaf_done();
        return;
      case Lexeme::Number:
        if (number_byte(c)) {
          count(t);
          return;
        }
        if (!number_can_end()) return fail();
        leaf_done();
        break;  // the byte after the number is read as structure
      case Lexeme::None:
        break;
    }
    structure(c, t);
  }

  void structure(unsigned char c, size_t t) {
    if (is_space(c) || expect_ == Expect::Failed) return;
    switch (expect_) {
      case Expect::FirstValue:
        if (c == ']') return close();
        [[fallthrough]];
      case Expect::Value:
        return value(c, t);
      case Expect::FirstKey:
        if (c == '}') return close();
        [[fallthrough]];
      case Expect::Key:
        if (c != '"') return fail();
        return start_string(true);
      case Expect::Colon:
        if (c != ':') return fail();
        expect_ = Expect::Value;
        return;
      case Expect::Next: {
        Frame& f = stack_.back();
        if (c == ',') {
          if (f.object) {
            expect_ = Expect::Key;
          } else {
            ++f.index;
            expect_ = Expect::Value;
          }
        } else if (c == (f.object ? '}' : ']')) {
          close();
        } else {
          fail();
        }
        return;
      }
      case Expect::End:
      case Expect::Failed:
        return fail();
    }
  }

  // c opens a value: the pointer moves to it.
  void value(unsigned char c, size_t t) {
    if (!stack_.empty() && !stack_.back().object) {
      pointer_.resize(stack_.back().base);
      pointer_ += '/';
      pointer_ += std::to_string(stack_.back().index);
    }
    if (c == '{' || c == '[') {
      if (stack_.size() >= static_cast<size_t>(kFieldMaxDepth)) return fail();
      stack_.push_back(Frame{c == '{', pointer_.size(), 0, {}});
      expect_ = c == '{' ? Expect::FirstKey : Expect::FirstValue;
      return;
    }
    if (c == '"') {
      start_leaf(t);
      return start_string(false);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      start_leaf(t);
      lexeme_ = Lexeme::Number;
      number_ = c == '-' ? Number::Minus : c == '0' ? Number::Zero : Number::Int;
      return;
    }
    literal_ = c == 't' ? "true" : c == 'f' ? "false" : c == 'n' ? "null" : nullptr;
    if (!literal_) return fail();
    start_leaf(t);
    lexeme_ = Lexeme::Literal;
    literal_at_ = 1;
  }

  void close() {
    stack_.pop_back();
    after_value();
  }

  void after_value() { expect_ = stack_.empty() ? Expect::End : Expect::Next; }

  void fail() {
    expect_ = Expect::Failed;
    lexeme_ = Lexeme::None;
  }

  void start_leaf(size_t t) {
    leaf_ = leaves_.size();
    leaves_.emplace_back().pointer = pointer_;
    count(t);
  }

  void leaf_done() {
    leaves_[leaf_].complete = true;
    lexeme_ = Lexeme::None;
    after_value();
  }

  // The key is read: the pointer moves to its value. A key given again replaces
  // the value read before, leaves under it included.
  void key_done() {
    Frame& f = stack_.back();
    pointer_.resize(f.base);
    append_segment(pointer_, key_text_);
    if (!f.keys.insert(key_text_).second) {
      const std::string& p = pointer_;
      std::erase_if(leaves_, [&p](const Leaf& leaf) {
        return leaf.pointer.compare(0, p.size(), p) == 0 && (leaf.pointer.size() == p.size() || leaf.pointer[p.size()] == '/');
      });
    }
    expect_ = Expect::Colon;
  }

  // Token t covers a byte of the open leaf.
  void count(size_t t) {
    Leaf& leaf = leaves_[leaf_];
    if (leaf.last_token == t) return;
    leaf.last_token = t;
    const TokenInfo& info = tokens_[t];
    ++leaf.tokens;
    leaf.min_logprob = std::min(leaf.min_logprob, info.logprob);
    leaf.entropy_sum += info.entropy;
    if (std::find(leaf.states.begin(), leaf.states.end(), info.state) == leaf.states.end())
      leaf.states.push_back(info.state);
    if (info.constrained.active) {
      ++leaf.constrained;
      leaf.min_constrained_logprob = std::min(leaf.min_constrained_logprob, info.constrained.logprob);
      if (info.constrained.n_allowed == 1) ++leaf.forced;
    }
  }

  void start_string(bool key) {
    lexeme_ = Lexeme::String;
    key_ = key;
    key_text_.clear();
    escape_ = Escape::None;
    utf8_left_ = 0;
  }

  // A byte after a string's opening quote; false when no string continues so.
  // Sets lexeme_ None on the closing quote. A key's text is decoded into key_text_.
  bool string_byte(unsigned char c) {
    switch (escape_) {
      case Escape::None:
        break;
      case Escape::Backslash: {
        const char* from = "\"\\/bfnrt";
        const char* to = "\"\\/\b\f\n\r\t";
        if (c == 'u') {
          escape_ = Escape::Hex;
          hex_digits_ = 0;
          code_ = 0;
          return true;
        }
        for (int i = 0; from[i]; ++i)
          if (c == static_cast<unsigned char>(from[i])) {
            if (key_) key_text_ += to[i];
            escape_ = Escape::None;
            return true;
          }
        return false;
      }
      case Escape::LowBackslash:
        escape_ = Escape::LowU;
        return c == '\\';
      case Escape::LowU:
        escape_ = Escape::LowHex;
        hex_digits_ = 0;
        code_ = 0;
        return c == 'u';
      case Escape::Hex:
      case Escape::LowHex:
        return hex_byte(c);
    }
    if (utf8_left_ > 0) {
      if (c < utf8_lo_ || c > utf8_hi_) return false;
      --utf8_left_;
      utf8_lo_ = 0x80;
      utf8_hi_ = 0xBF;
      if (key_) key_text_ += static_cast<char>(c);
      return true;
    }
    if (c == '"') {
      lexeme_ = Lexeme::None;
      return true;
    }
    if (c == '\\') {
      escape_ = Escape::Backslash;
      return true;
    }
    if (c < 0x20) return false;
    // The first byte of a character: how many follow, and the range of the next
    // (no overlong forms, no surrogates, nothing above U+10FFFF).
    if (c >= 0x80) {
      utf8_lo_ = 0x80;
      utf8_hi_ = 0xBF;
      if (c >= 0xC2 && c <= 0xDF) utf8_left_ = 1;
      else if (c >= 0xE0 && c <= 0xEF) utf8_left_ = 2;
      else if (c >= 0xF0 && c <= 0xF4) utf8_left_ = 3;
      else return false;
      if (c == 0xE0) utf8_lo_ = 0xA0;
      if (c == 0xED) utf8_hi_ = 0x9F;
      if (c == 0xF0) utf8_lo_ = 0x90;
      if (c == 0xF4) utf8_hi_ = 0x8F;
    }
    if (key_) key_text_ += static_cast<char>(c);
    return true;
  }

  // A hex digit of \uXXXX; a high surrogate must be followed by an escaped low one.
  bool hex_byte(unsigned char c) {
    const int v = hex_value(c);
    if (v < 0) return false;
    code_ = code_ * 16 + static_cast<uint32_t>(v);
    if (++hex_digits_ < 4) return true;
    const bool low = code_ >= 0xDC00 && code_ <= 0xDFFF;
    if (escape_ == Escape::LowHex) {
      if (!low) return false;
      if (key_) unicode::append_utf8(key_text_, 0x10000 + ((high_ - 0xD800) << 10) + (code_ - 0xDC00));
      escape_ = Escape::None;
      return true;
    }
    if (low) return false;
    if (code_ >= 0xD800 && code_ <= 0xDBFF) {
      high_ = code_;
      escape_ = Escape::LowBackslash;
      return true;
    }
    if (key_) unicode::append_utf8(key_text_, code_);
    escape_ = Escape::None;
    return true;
  }

  // Whether c continues the number (then number_ moves on).
  bool number_byte(unsigned char c) {
    const bool digit = c >= '0' && c <= '9';
    switch (number_) {
      case Number::Minus:
        if (!digit) return false;
        number_ = c == '0' ? Number::Zero : Number::Int;
        return true;
      case Number::Int:
        if (digit) return true;
        [[fallthrough]];
      case Number::Zero:
        if (c == '.') number_ = Number::Dot;
        else if (c == 'e' || c == 'E') number_ = Number::E;
        else return false;
        return true;
      case Number::Dot:
        if (!digit) return false;
        number_ = Number::Frac;
        return true;
      case Number::Frac:
        if (digit) return true;
        if (c != 'e' && c != 'E') return false;
        number_ = Number::E;
        return true;
      case Number::E:
        if (c == '+' || c == '-') {
          number_ = Number::ESign;
          return true;
        }
        [[fallthrough]];
      case Number::ESign:
        if (!digit) return false;
        number_ = Number::Exp;
        return true;
      case Number::Exp:
        return digit;
    }
    return false;
  }

  bool number_can_end() const { return number_ == Number::Zero || number_ == Number::Int || number_ == Number::Frac || number_ == Number::Exp; }

  std::span<const TokenInfo> tokens_;
  std::vector<Leaf> leaves_;
  size_t leaf_ = 0;          // the leaf being read (with a lexeme other than a key)
  std::vector<Frame> stack_;
  std::string pointer_;      // of the value being read (or of the container just closed)
  Expect expect_ = Expect::Value;
  Lexeme lexeme_ = Lexeme::None;
  // String
  bool key_ = false;
  std::string key_text_;
  Escape escape_ = Escape::None;
  int hex_digits_ = 0;
  uint32_t code_ = 0, high_ = 0;
  int utf8_left_ = 0;
  unsigned char utf8_lo_ = 0x80, utf8_hi_ = 0xBF;
  // Number and literal
  Number number_ = Number::Int;
  const char* literal_ = nullptr;
  size_t literal_at_ = 0;
};

}  // namespace

nlohmann::ordered_json json_field_confidence(std::span<const TokenInfo> tokens) {
  FieldReader reader(tokens);
  reader.read();
  return reader.result();
}

}  // namespace entropix::server
