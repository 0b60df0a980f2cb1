// Values of the chat-template interpreter: the data of a JSON document (kept in insertion
// order, as Python dicts are) plus Jinja's undefined and callables, with Python's semantics
// for truth, equality, ordering, str(), repr() and json.dumps().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "chat/jinja_budget.h"

namespace entropix::jinja {

// AddressSanitizer builds run several times slower: the wall-clock limit stretches with them.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr int kInstrumentedSlowdown = 10;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr int kInstrumentedSlowdown = 10;
#else
inline constexpr int kInstrumentedSlowdown = 1;
#endif
#else
inline constexpr int kInstrumentedSlowdown = 1;
#endif

// Named limits that keep a hostile template or input from exhausting the stack, memory or
// time. Real chat templates stay far inside each.
struct Limits {
  static constexpr int kMaxValueDepth = 256;   // nesting of lists/dicts, also when printed or compared
  static constexpr int kMaxParseDepth = 128;   // nesting of expressions and blocks; each link of a
                                               // chain (a + b + c, a.b.c, a|f|g) nests one deeper
  static constexpr int kMaxRenderDepth = 1024;  // evaluation nested within evaluation, through macros
  static constexpr int kMaxCallDepth = 64;     // nested macro calls
  static constexpr size_t kMaxStringBytes = 64u << 20;  // any string, the output included
  static constexpr size_t kMaxRenderBytes = 64u << 20;  // all values one render holds at once
  static constexpr int kMaxRenderMilliseconds = 1000 * kInstrumentedSlowdown;  // wall clock of one render: a chat request waits on it
  static constexpr uint64_t kMaxSteps = 50'000'000;     // loop iterations and calls, all together
};

class Value;

struct List {
  std::vector<Value> items;
  bool is_tuple = false;  // only changes repr(): (a, b) instead of [a, b]
  int depth = 1;          // 1 + the deepest item's depth
  Charge charge;          // the items, against the render's budget
};

struct Dict {
  std::vector<std::pair<std::string, Value>> items;  // in insertion order
  std::unordered_map<std::string, size_t> index;    // key -> position in items
  bool is_namespace = false;                         // a namespace() accepts `set ns.attr = ...`
  int depth = 1;                                     // 1 + the deepest value's depth (as stored:
                                                     // a namespace changed later may be deeper)
  Charge charge;                                     // the entries, against the render's budget

  const Value* find(const std::string& key) const;
  // Inserts or replaces; throws Error when the value would nest deeper than the limit.
  void set(const std::string& key, Value value);
};

// Arguments of a call: positional then keyword, as written.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;
};

struct Function {
  std::string name;
  std::function<Value(CallArgs&)> call;
};

// A string value's bytes, shared by its copies as Python's str objects are.
struct StringData {
  std::string text;
  Charge charge;  // text, against the render's budget
};

struct Undefined {
  std::string hint;  // what was looked up, for errors: "'x' is undefined"
};

class Value {
 public:
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Function };

  Value() : v_(Undefined{}) {}
  static Value undefined(std::string hint) { return Value(Undefined{std::move(hint)}); }
  static Value none() { return Value(nullptr); }
  Value(bool b) : v_(b) {}
  Value(int64_t i) : v_(i) {}
  Value(int i) : v_(int64_t{i}) {}
  Value(double d) : v_(d) {}
  Value(std::string s);  // charges the render's budget; throws Error past it
  Value(const char* s) : Value(std::string(s)) {}
  // Both charge the render's budget and throw Error past it or past Limits::kMaxValueDepth.
  static Value list(std::vector<Value> items, bool is_tuple = false);
  static Value dict(Dict d);
  static Value function(std::string name, std::function<Value(CallArgs&)> fn);

  // Converts a JSON document; throws Error on nesting deeper than Limits::kMaxValueDepth or
  // strings that are not valid UTF-8.
  static Value from_json(const nlohmann::ordered_json& j);

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_undefined() const { return kind() == Kind::Undefined; }
  bool is_none() const { return kind() == Kind::None; }
  bool is_bool() const { return kind() == Kind::Bool; }
  bool is_int() const { return kind() == Kind::Int; }
  bool is_float() const { return kind() == Kind::Float; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }  // bool is an int in Python
  bool is_string() const { return kind() == Kind::String; }
  bool is_list() const { return kind() == Kind::List; }
  bool is_dict() const { return kind() == Kind::Dict; }
  bool is_function() const { return kind() == Kind::Function; }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const;    // Int or Bool
  double as_double() const;  // Int, Bool or Float
  const std::string& as_string() const { return std::get<std::shared_ptr<const StringData>>(v_)->text; }
  const std::string& undefined_hint() const { return std::get<Undefined>(v_).hint; }
  const List& as_list() const { return *std::get<std::shared_ptr<List>>(v_); }
  const Dict& as_dict() const { return *std::get<std::shared_ptr<Dict>>(v_); }
  Dict& mutable_dict() const { return *std::get<std::shared_ptr<Dict>>(v_); }
  const Function& as_function() const { return *std::get<std::shared_ptr<Function>>(v_); }
  // Nesting depth of lists and dicts: 0 for scalars.
  int depth() const;

  bool truthy() const;
  std::string type_name() const;  // Python's name: 'str', 'dict', 'list', 'int', ...
  // Python str() and repr(); a value met again inside itself prints as [...] or {...}. Throw
  // Error past Limits::kMaxValueDepth or Limits::kMaxStringBytes.
  std::string str() const;
  std::string repr() const;

 private:
  using Storage = std::variant<Undefined, std::nullptr_t, bool, int64_t, double, std::shared_ptr<const StringData>,
                               std::shared_ptr<List>, std::shared_ptr<Dict>,
                               std::shared_ptr<Function>>;
  explicit Value(Undefined u) : v_(std::move(u)) {}
  explicit Value(std::nullptr_t) : v_(nullptr) {}
  Storage v_;
};

// Python ==, which never fails (undefined equals only undefined).
bool equals(const Value& a, const Value& b);
// Python ordering for <, >, <=, >=: -1, 0 or 1; throws Error (text only, no position) when
// the two cannot be ordered.
int compare(const Value& a, const Value& b);

// json.dumps(value, ensure_ascii=False, indent=indent, separators=..., sort_keys=...), the
// way Hugging Face's tojson filter calls it. indent < 0 means None. Throws Error for values
// that are not JSON (undefined, callables).
std::string to_json_text(const Value& v, int indent, bool sort_keys,
                         const std::string* item_separator = nullptr,
                         const std::string* key_separator = nullptr);

// Python's repr() of a float ("1.0", "1e+20", "0.0001", "nan", "inf").
std::string python_float_repr(double d);

}  // namespace entropix::jinja
