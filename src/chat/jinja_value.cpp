#include "chat/jinja_value.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "chat/jinja_strings.h"
#include "core/error.h"

namespace entropix::jinja {

namespace {

// What a value holds beyond its characters and items, roughly, for the render's budget.
constexpr size_t kStringOverhead = sizeof(StringData) + 16;  // the shared block's counts
constexpr size_t kEntryOverhead = sizeof(std::pair<std::string, Value>) + 48;  // item and index node

void check_depth(int depth) {
  if (depth > Limits::kMaxValueDepth)
    throw Error("template value: expected lists/dicts nested at most " +
                std::to_string(Limits::kMaxValueDepth) + " deep, found deeper nesting");
}

void check_length(size_t bytes, const char* what) {
  if (bytes > Limits::kMaxStringBytes)
    throw Error(std::string(what) + ": expected output under " + std::to_string(Limits::kMaxStringBytes) +
                " bytes, found more");
}

bool py_isprintable(char32_t cp) {
  if (cp == ' ') return true;
  switch (u_charType(static_cast<UChar32>(cp))) {
    case U_CONTROL_CHAR: case U_FORMAT_CHAR: case U_SURROGATE: case U_PRIVATE_USE_CHAR:
    case U_UNASSIGNED: case U_LINE_SEPARATOR: case U_PARAGRAPH_SEPARATOR: case U_SPACE_SEPARATOR:
      return false;
    default:
      return true;
  }
}

std::string hex(uint32_t v, int width) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*x", width, v);
  return buf;
}

std::string string_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t cp : decode_utf8(s)) {
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x20 || cp == 0x7F) {
      out += "\\x" + hex(cp, 2);
    } else if (cp < 0x7F || py_isprintable(cp)) {
      append_utf8(out, cp);
    } else if (cp < 0x100) {
      out += "\\x" + hex(cp, 2);
    } else if (cp < 0x10000) {
      out += "\\u" + hex(cp, 4);
    } else {
      out += "\\U" + hex(cp, 8);
    }
  }
  out += quote;
  return out;
}

void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u" + hex(static_cast<unsigned char>(c), 4);
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

struct JsonWriter {
  int indent;
  bool sort_keys;
  std::string item_sep, key_sep;
  std::string out;

  void newline(int level) {
    out += '\n';
    out.append(static_cast<size_t>(indent * level), ' ');
  }

  void write(const Value& v, int level) {
    // A namespace may hold itself: its walk ends at the depth limit.
    check_depth(level + 1);
    tick();
    switch (v.kind()) {
      case Value::Kind::None: out += "null"; break;
      case Value::Kind::Bool: out += v.as_bool() ? "true" : "false"; break;
      case Value::Kind::Int: out += std::to_string(v.as_int()); break;
      case Value::Kind::Float: {
        const double d = v.as_double();
        out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity")
                                                      : python_float_repr(d);
        break;
      }
      case Value::Kind::String: json_string(out, v.as_string()); break;
      case Value::Kind::List: {
        const auto& items = v.as_list().items;
        if (items.empty()) {
          out += "[]";
          break;
        }
        out += '[';
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) out += item_sep;
          if (indent >= 0) newline(level + 1);
          write(items[i], level + 1);
        }
        if (indent >= 0) newline(level);
        out += ']';
        break;
      }
      case Value::Kind::Dict: {
        std::vector<const std::pair<std::string, Value>*> items;
        for (const auto& kv : v.as_dict().items) items.push_back(&kv);
        if (sort_keys)
          std::stable_sort(items.begin(), items.end(),
                           [](auto* a, auto* b) { return a->first < b->first; });
        if (items.empty()) {
          out += "{}";
          break;
        }
        out += '{';
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) out += item_sep;
          if (indent >= 0) newline(level + 1);
          json_string(out, items[i]->first);
          out += key_sep;
          write(items[i]->second, level + 1);
        }
        if (indent >= 0) newline(level);
        out += '}';
        break;
      }
      case Value::Kind::Undefined:
      case Value::Kind::Function:
        throw Error("tojson: expected JSON data, found a value of type '" + v.type_name() +
                    "' (not JSON serializable)");
    }
    check_length(out.size(), "tojson");
  }
};

// Python's repr(), appended to one string so that the limit on its length is checked as it
// grows (a list holding one list twice, 60 levels deep, would print 2^60 bytes).
struct ReprWriter {
  std::string out;
  std::vector<const void*> open;  // the lists and dicts being printed, outermost first

  void write(const Value& v) {
    tick();
    switch (v.kind()) {
      case Value::Kind::String: out += string_repr(v.as_string()); break;
      case Value::Kind::List: write_list(v.as_list()); break;
      case Value::Kind::Dict: write_dict(v.as_dict()); break;
      default: out += v.repr(); break;
    }
    check_length(out.size(), "repr");
  }

  // Python prints a container it meets inside itself as [...] or {...}.
  bool enter(const void* container) {
    if (std::find(open.begin(), open.end(), container) != open.end()) return false;
    check_depth(static_cast<int>(open.size()) + 1);
    open.push_back(container);
    return true;
  }

  void write_list(const List& l) {
    if (!enter(&l)) {
      out += l.is_tuple ? "(...)" : "[...]";
      return;
    }
    out += l.is_tuple ? '(' : '[';
    for (size_t i = 0; i < l.items.size(); ++i) {
      if (i) out += ", ";
      write(l.items[i]);
    }
    if (l.is_tuple && l.items.size() == 1) out += ',';
    out += l.is_tuple ? ')' : ']';
    open.pop_back();
  }

  void write_dict(const Dict& d) {
    if (d.is_namespace) out += "<Namespace ";
    if (!enter(&d)) {
      out += d.is_namespace ? "{...}>" : "{...}";
      return;
    }
    out += '{';
    for (size_t i = 0; i < d.items.size(); ++i) {
      if (i) out += ", ";
      out += string_repr(d.items[i].first);
      out += ": ";
      write(d.items[i].second);
    }
    out += d.is_namespace ? "}>" : "}";
    open.pop_back();
  }
};

}  // namespace

const Value* Dict::find(const std::string& key) const {
  auto it = index.find(key);
  return it == index.end() ? nullptr : &items[it->second].second;
}

void Dict::set(const std::string& key, Value value) {
  depth = std::max(depth, value.depth() + 1);
  check_depth(depth);
  auto it = index.find(key);
  if (it != index.end()) {
    items[it->second].second = std::move(value);
  } else {
    charge.add(key.size() + kEntryOverhead);
    index.emplace(key, items.size());
    items.emplace_back(key, std::move(value));
  }
}

Value::Value(std::string s) {
  auto data = std::make_shared<StringData>();
  data->charge.add(kStringOverhead + s.size());
  data->text = std::move(s);
  v_ = std::shared_ptr<const StringData>(std::move(data));
}

Value Value::list(std::vector<Value> items, bool is_tuple) {
  auto l = std::make_shared<List>();
  int d = 0;
  for (const auto& v : items) d = std::max(d, v.depth());
  l->depth = d + 1;
  check_depth(l->depth);
  l->charge.add(sizeof(List) + items.size() * sizeof(Value));
  l->items = std::move(items);
  l->is_tuple = is_tuple;
  Value v;
  v.v_ = std::move(l);
  return v;
}

Value Value::dict(Dict d) {
  int depth = 0;
  for (const auto& kv : d.items) depth = std::max(depth, kv.second.depth());
  d.depth = depth + 1;
  check_depth(d.depth);
  d.charge.add(sizeof(Dict));
  auto shared = std::make_shared<Dict>(std::move(d));
  if (RenderBudget* budget = RenderBudget::active(); budget && shared->is_namespace) {
    budget->at_end([weak = std::weak_ptr<Dict>(shared)] {
      if (const std::shared_ptr<Dict> ns = weak.lock()) {
        // Moved out first: freeing the items may free what holds ns.
        const auto items = std::move(ns->items);
        ns->items.clear();
        ns->index.clear();
      }
    });
  }
  Value v;
  v.v_ = std::move(shared);
  return v;
}

Value Value::function(std::string name, std::function<Value(CallArgs&)> fn) {
  Value v;
  v.v_ = std::make_shared<Function>(Function{std::move(name), std::move(fn)});
  return v;
}

namespace {

Value from_json_at(const nlohmann::ordered_json& j, int depth) {
  check_depth(depth);
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX))
        throw Error("template value: expected an integer below 2^63, found " + std::to_string(u));
      return Value(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      if (!valid_utf8(s)) throw Error("template value: expected UTF-8 text, found invalid UTF-8");
      return Value(s);
    }
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json_at(e, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict d;
      for (const auto& [k, e] : j.items()) {
        if (!valid_utf8(k)) throw Error("template value: expected UTF-8 keys, found invalid UTF-8");
        d.set(k, from_json_at(e, depth + 1));
      }
      return Value::dict(std::move(d));
    }
    default:
      throw Error("template value: expected JSON data, found binary or discarded JSON");
  }
}

}  // namespace

Value Value::from_json(const nlohmann::ordered_json& j) { return from_json_at(j, 0); }

int64_t Value::as_int() const {
  if (is_bool()) return as_bool() ? 1 : 0;
  return std::get<int64_t>(v_);
}

double Value::as_double() const {
  if (is_float()) return std::get<double>(v_);
  return static_cast<double>(as_int());
}

int Value::depth() const {
  if (is_list()) return as_list().depth;
  if (is_dict()) return as_dict().depth;
  return 0;
}

bool Value::truthy() const {
  switch (kind()) {
    case Kind::Undefined: case Kind::None: return false;
    case Kind::Bool: return as_bool();
    case Kind::Int: return as_int() != 0;
    case Kind::Float: return as_double() != 0.0;
    case Kind::String: return !as_string().empty();
    case Kind::List: return !as_list().items.empty();
    case Kind::Dict: return !as_dict().items.empty();
    case Kind::Function: return true;
  }
  return false;
}

std::string Value::type_name() const {
  switch (kind()) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return as_list().is_tuple ? "tuple" : "list";
    case Kind::Dict: return as_dict().is_namespace ? "Namespace" : "dict";
    case Kind::Function: return "function";
  }
  return "?";
}

std::string Value::str() const {
  switch (kind()) {
    case Kind::Undefined: return "";
    case Kind::String: return as_string();
    default: return repr();
  }
}

std::string Value::repr() const {
  switch (kind()) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "None";
    case Kind::Bool: return as_bool() ? "True" : "False";
    case Kind::Int: return std::to_string(as_int());
    case Kind::Float: return python_float_repr(as_double());
    case Kind::String: return string_repr(as_string());
    case Kind::List:
    case Kind::Dict: {
      ReprWriter w;
      w.write(*this);
      return std::move(w.out);
    }
    case Kind::Function: return "<function " + as_function().name + ">";
  }
  return "";
}

namespace {

bool equals_at(const Value& a, const Value& b, int depth) {
  using K = Value::Kind;
  // Lists holding one list twice, 60 deep, take 2^60 steps: the clock stops them.
  tick();
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::Undefined: case K::None: return true;
    case K::String: return a.as_string() == b.as_string();
    case K::List: {
      const auto &x = a.as_list(), &y = b.as_list();
      if (x.is_tuple != y.is_tuple || x.items.size() != y.items.size()) return false;
      check_depth(depth + 1);
      for (size_t i = 0; i < x.items.size(); ++i)
        if (!equals_at(x.items[i], y.items[i], depth + 1)) return false;
      return true;
    }
    case K::Dict: {
      const auto &x = a.as_dict(), &y = b.as_dict();
      if (&x == &y) return true;
      if (x.is_namespace || y.is_namespace || x.items.size() != y.items.size()) return false;
      check_depth(depth + 1);
      for (const auto& [k, v] : x.items) {
        const Value* o = y.find(k);
        if (!o || !equals_at(v, *o, depth + 1)) return false;
      }
      return true;
    }
    case K::Function: return &a.as_function() == &b.as_function();
    default: return false;
  }
}

int compare_at(const Value& a, const Value& b, int depth) {
  tick();
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      const double x = a.as_double(), y = b.as_double();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    const int64_t x = a.as_int(), y = b.as_int();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_list() && b.is_list() && a.as_list().is_tuple == b.as_list().is_tuple) {
    const auto &x = a.as_list().items, &y = b.as_list().items;
    check_depth(depth + 1);
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals_at(x[i], y[i], depth + 1)) return compare_at(x[i], y[i], depth + 1);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  throw Error("comparison: expected two numbers, two strings or two lists, found '" +
              a.type_name() + "' and '" + b.type_name() + "'");
}

}  // namespace

bool equals(const Value& a, const Value& b) { return equals_at(a, b, 0); }

int compare(const Value& a, const Value& b) { return compare_at(a, b, 0); }

std::string to_json_text(const Value& v, int indent, bool sort_keys,
                         const std::string* item_separator, const std::string* key_separator) {
  JsonWriter w{indent, sort_keys, indent >= 0 ? "," : ", ", ": ", {}};
  if (item_separator) w.item_sep = *item_separator;
  if (key_separator) w.key_sep = *key_separator;
  w.write(v, 0);
  return std::move(w.out);
}

std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') sign = "-", sci.erase(0, 1);
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp10 = std::stoi(sci.substr(e + 1));
  const int decpt = exp10 + 1;  // digits d1 d2 ... times 10^(decpt - 1) with the point after d1
  const int nd = static_cast<int>(digits.size());
  std::string out;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out = "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
    } else if (decpt >= nd) {
      out = digits + std::string(static_cast<size_t>(decpt - nd), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(decpt)) + "." + digits.substr(static_cast<size_t>(decpt));
    }
  } else {
    out = digits.substr(0, 1);
    if (nd > 1) out += "." + digits.substr(1);
    const int x = decpt - 1;
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    out += eb;
  }
  return sign + out;
}

}  // namespace entropix::jinja
