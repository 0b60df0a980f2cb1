#include "chat/jinja_builtins.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>

#include "chat/jinja_strings.h"
#include "core/error.h"
#include "core/html_escape.h"

namespace entropix::jinja {

namespace {

[[noreturn]] void undefined_error(const Value& v) {
  throw Error(v.undefined_hint().empty() ? std::string("value is undefined") : v.undefined_hint());
}

// Binds a call's arguments to named parameters, the way Python does.
class Params {
 public:
  Params(const std::string& fn, CallArgs& args, std::initializer_list<const char*> names)
      : names_(names.begin(), names.end()) {
    if (args.positional.size() > names_.size())
      throw Error(fn + "(): expected at most " + std::to_string(names_.size()) + " arguments, found " +
                  std::to_string(args.positional.size()));
    values_.resize(names_.size());
    for (size_t i = 0; i < args.positional.size(); ++i) values_[i] = &args.positional[i];
    for (auto& [k, v] : args.named) {
      auto it = std::find(names_.begin(), names_.end(), k);
      if (it == names_.end()) throw Error(fn + "(): unexpected keyword argument '" + k + "'");
      values_[static_cast<size_t>(it - names_.begin())] = &v;
    }
  }
  const Value* get(size_t i) const { return values_[i]; }
  Value get_or(size_t i, Value dflt) const { return values_[i] ? *values_[i] : std::move(dflt); }

 private:
  std::vector<std::string> names_;
  std::vector<const Value*> values_;
};

void check_size(size_t n) {
  if (n > Limits::kMaxStringBytes)
    throw Error("expected a result under " + std::to_string(Limits::kMaxStringBytes) + " bytes, found " +
                std::to_string(n));
}

int64_t to_int_arg(const Value& v, const std::string& what) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  throw Error(what + ": expected an integer, found '" + v.type_name() + "'");
}

std::optional<std::string> opt_string(const Value* v, const std::string& what) {
  if (!v || v->is_none() || v->is_undefined()) return std::nullopt;
  if (!v->is_string()) throw Error(what + ": expected a string, found '" + v->type_name() + "'");
  return v->as_string();
}

// Jinja's make_attrgetter: "a.b.0" looked up part by part with getitem.
Value attr_path(const Value& item, const std::string& path) {
  Value v = item;
  for (const std::string& part : py_split(path, std::string("."), -1)) {
    int64_t index = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), index);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    // Digits past 64 bits index nothing a template can hold: the lookup finds no item.
    if (digits && ec == std::errc::result_out_of_range) return Value::undefined("no item " + part);
    v = get_item(v, digits && end == part.data() + part.size() ? Value(index) : Value(part));
  }
  return v;
}

Value ignore_case(const Value& v) { return v.is_string() ? Value(py_lower(v.as_string())) : v; }

// Python's int(str): optional sign, digits with single underscores, surrounding whitespace.
std::optional<int64_t> parse_int(const std::string& text, int base) {
  std::string s = py_strip(text, StripSide::Both, std::nullopt);
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_' && i > 0 && i + 1 < s.size() && std::isalnum(static_cast<unsigned char>(s[i - 1])) &&
        std::isalnum(static_cast<unsigned char>(s[i + 1])))
      continue;
    clean += s[i];
  }
  if (clean.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(clean.c_str(), &end, base);
  if (errno == ERANGE || *end != '\0' || std::isspace(static_cast<unsigned char>(clean[0]))) return std::nullopt;
  return v;
}

std::optional<double> parse_float(const std::string& text) {
  std::string s = py_strip(text, StripSide::Both, std::nullopt);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (*end != '\0') return std::nullopt;
  return d;
}

std::vector<Value> sorted_values(std::vector<Value> items, bool reverse, bool case_sensitive,
                                 const std::optional<std::string>& attribute) {
  auto key = [&](const Value& v) {
    Value k = attribute ? attr_path(v, *attribute) : v;
    return case_sensitive ? k : ignore_case(k);
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    const int c = compare(key(a), key(b));
    return reverse ? c > 0 : c < 0;
  });
  return items;
}

// ---- filters ---------------------------------------------------------------------------

Value filter_select(const Value& operand, CallArgs& args, bool by_attr, bool keep_if) {
  std::vector<Value> rest = args.positional;
  std::optional<std::string> attr;
  if (by_attr) {
    if (rest.empty() || !rest[0].is_string()) throw Error("expected an attribute name as the first argument");
    attr = rest[0].as_string();
    rest.erase(rest.begin());
  }
  std::optional<std::string> test;
  if (!rest.empty()) {
    if (!rest[0].is_string()) throw Error("expected a test name, found '" + rest[0].type_name() + "'");
    test = rest[0].as_string();
    if (!has_test(*test)) throw Error("no test named '" + *test + "'");
    rest.erase(rest.begin());
  }
  std::vector<Value> out;
  for (const Value& item : iterate(operand)) {
    const Value v = attr ? attr_path(item, *attr) : item;
    bool ok;
    if (test) {
      CallArgs targs{rest, args.named};
      ok = apply_test(*test, v, targs);
    } else {
      ok = v.truthy();
    }
    if (ok == keep_if) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value filter_map(const Value& operand, CallArgs& args) {
  std::vector<Value> out;
  const Value* attribute = nullptr;
  const Value* dflt = nullptr;
  for (auto& [k, v] : args.named) {
    if (k == "attribute") attribute = &v;
    else if (k == "default") dflt = &v;
  }
  if (attribute) {
    if (!attribute->is_string()) throw Error("map(): expected attribute to be a string");
    for (const Value& item : iterate(operand)) {
      Value v = attr_path(item, attribute->as_string());
      if (v.is_undefined() && dflt) v = *dflt;
      out.push_back(std::move(v));
    }
    return Value::list(std::move(out));
  }
  if (args.positional.empty() || !args.positional[0].is_string())
    throw Error("map(): expected a filter name or attribute=");
  const std::string name = args.positional[0].as_string();
  if (!has_filter(name)) throw Error("map(): no filter named '" + name + "'");
  CallArgs rest{std::vector<Value>(args.positional.begin() + 1, args.positional.end()), args.named};
  for (const Value& item : iterate(operand)) {
    CallArgs a = rest;
    out.push_back(apply_filter(name, item, a));
  }
  return Value::list(std::move(out));
}

Value filter_tojson(const Value& operand, CallArgs& args) {
  Params p("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  if (p.get(0) && p.get(0)->truthy()) throw Error("tojson(): ensure_ascii=True is not supported");
  int indent = -1;
  if (const Value* v = p.get(1); v && !v->is_none()) indent = static_cast<int>(to_int_arg(*v, "tojson indent"));
  std::string item_sep, key_sep;
  const std::string *isep = nullptr, *ksep = nullptr;
  if (const Value* v = p.get(2); v && !v->is_none()) {
    if (!v->is_list() || v->as_list().items.size() != 2 || !v->as_list().items[0].is_string() ||
        !v->as_list().items[1].is_string())
      throw Error("tojson(): expected separators as a pair of strings");
    item_sep = v->as_list().items[0].as_string();
    key_sep = v->as_list().items[1].as_string();
    isep = &item_sep;
    ksep = &key_sep;
  }
  return Value(to_json_text(operand, indent, p.get_or(3, Value(false)).truthy(), isep, ksep));
}

Value filter_indent(const Value& operand, CallArgs& args) {
  Params p("indent", args, {"width", "first", "blank"});
  const Value w = p.get_or(0, Value(4));
  const std::string pad = w.is_string() ? w.as_string() : std::string(static_cast<size_t>(std::max<int64_t>(0, to_int_arg(w, "indent width"))), ' ');
  const bool first = p.get_or(1, Value(false)).truthy(), blank = p.get_or(2, Value(false)).truthy();
  std::string s = operand.str();
  std::vector<std::string> lines = py_split(s, std::string("\n"), -1);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    const bool empty = py_strip(lines[i], StripSide::Both, std::nullopt).empty();
    if ((i > 0 || first) && (blank || !empty)) out += pad;
    out += lines[i];
  }
  check_size(out.size());
  return Value(out);
}

Value filter_minmax(const Value& operand, CallArgs& args, bool want_max) {
  Params p(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  std::vector<Value> items = iterate(operand);
  if (items.empty()) return Value::undefined("no " + std::string(want_max ? "max" : "min") + " of an empty sequence");
  auto sorted = sorted_values(items, want_max, p.get_or(0, Value(false)).truthy(),
                              opt_string(p.get(1), "attribute"));
  return sorted.front();
}

Value filter_round(const Value& operand, CallArgs& args) {
  Params p("round", args, {"precision", "method"});
  const int64_t precision = to_int_arg(p.get_or(0, Value(0)), "round precision");
  const std::string method = p.get_or(1, Value("common")).str();
  if (!operand.is_number()) throw Error("round(): expected a number, found '" + operand.type_name() + "'");
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = operand.as_double() * scale;
  double r;
  if (method == "common") r = std::nearbyint(x);
  else if (method == "ceil") r = std::ceil(x);
  else if (method == "floor") r = std::floor(x);
  else throw Error("round(): expected method common, ceil or floor, found '" + method + "'");
  return Value(r / scale);
}

using FilterFn = Value (*)(const Value&, CallArgs&);

const std::map<std::string, FilterFn>& filters() {
  static const std::map<std::string, FilterFn> table = {
      {"abs", [](const Value& v, CallArgs&) -> Value {
         if (v.is_float()) return Value(std::fabs(v.as_double()));
         if (v.is_number()) return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
         throw Error("abs(): expected a number, found '" + v.type_name() + "'");
       }},
      {"capitalize", [](const Value& v, CallArgs&) { return Value(py_capitalize(v.str())); }},
      {"default", [](const Value& v, CallArgs& a) {
         Params p("default", a, {"default_value", "boolean"});
         const bool boolean = p.get_or(1, Value(false)).truthy();
         if (v.is_undefined() || (boolean && !v.truthy())) return p.get_or(0, Value(""));
         return v;
       }},
      {"dictsort", [](const Value& v, CallArgs& a) {
         Params p("dictsort", a, {"case_sensitive", "by", "reverse"});
         if (!v.is_dict()) throw Error("dictsort(): expected a mapping, found '" + v.type_name() + "'");
         const bool cs = p.get_or(0, Value(false)).truthy();
         const std::string by = p.get_or(1, Value("key")).str();
         const bool rev = p.get_or(2, Value(false)).truthy();
         std::vector<Value> pairs;
         for (const auto& [k, x] : v.as_dict().items) pairs.push_back(Value::list({Value(k), x}, true));
         const size_t pos = by == "value" ? 1 : 0;
         std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& l, const Value& r) {
           Value x = l.as_list().items[pos], y = r.as_list().items[pos];
           if (!cs) x = ignore_case(x), y = ignore_case(y);
           const int c = compare(x, y);
           return rev ? c > 0 : c < 0;
         });
         return Value::list(std::move(pairs));
       }},
      {"escape", [](const Value& v, CallArgs&) { return Value(html_escape(v.str())); }},
      {"first", [](const Value& v, CallArgs&) {
         if (v.is_undefined()) undefined_error(v);
         auto items = iterate(v);
         return items.empty() ? Value::undefined("no first item, sequence was empty") : items.front();
       }},
      {"float", [](const Value& v, CallArgs& a) -> Value {
         Params p("float", a, {"default"});
         if (v.is_number()) return Value(v.as_double());
         if (v.is_string())
           if (auto d = parse_float(v.as_string())) return Value(*d);
         return p.get_or(0, Value(0.0));
       }},
      {"indent", filter_indent},
      {"int", [](const Value& v, CallArgs& a) -> Value {
         Params p("int", a, {"default", "base"});
         const int base = static_cast<int>(to_int_arg(p.get_or(1, Value(10)), "int base"));
         if (v.is_float()) {
           if (!std::isfinite(v.as_double())) return p.get_or(0, Value(0));
           return Value(static_cast<int64_t>(std::trunc(v.as_double())));
         }
         if (v.is_number()) return Value(v.as_int());
         if (v.is_string()) {
           if (auto i = parse_int(v.as_string(), base)) return Value(*i);
           if (auto d = parse_float(v.as_string()); d && std::isfinite(*d)) return Value(static_cast<int64_t>(std::trunc(*d)));
         }
         return p.get_or(0, Value(0));
       }},
      {"items", [](const Value& v, CallArgs&) -> Value {
         if (v.is_undefined()) return Value::list({});
         if (!v.is_dict()) throw Error("items(): expected a mapping, found '" + v.type_name() + "'");
         std::vector<Value> pairs;
         for (const auto& [k, x] : v.as_dict().items) pairs.push_back(Value::list({Value(k), x}, true));
         return Value::list(std::move(pairs));
       }},
      {"join", [](const Value& v, CallArgs& a) {
         Params p("join", a, {"d", "attribute"});
         const std::string sep = p.get_or(0, Value("")).str();
         const auto attr = opt_string(p.get(1), "join attribute");
         std::string out;
         bool first = true;
         for (const Value& item : iterate(v)) {
           if (!first) out += sep;
           first = false;
           out += (attr ? attr_path(item, *attr) : item).str();
           check_size(out.size());
         }
         return Value(out);
       }},
      {"last", [](const Value& v, CallArgs&) {
         if (v.is_undefined()) undefined_error(v);
         auto items = iterate(v);
         return items.empty() ? Value::undefined("no last item, sequence was empty") : items.back();
       }},
      {"length", [](const Value& v, CallArgs&) -> Value {
         switch (v.kind()) {
           case Value::Kind::Undefined: return Value(0);
           case Value::Kind::String: return Value(static_cast<int64_t>(utf8_length(v.as_string())));
           case Value::Kind::List: return Value(static_cast<int64_t>(v.as_list().items.size()));
           case Value::Kind::Dict: return Value(static_cast<int64_t>(v.as_dict().items.size()));
           default: throw Error("length: expected a string, list or mapping, found '" + v.type_name() + "'");
         }
       }},
      {"list", [](const Value& v, CallArgs&) { return Value::list(iterate(v)); }},
      {"lower", [](const Value& v, CallArgs&) { return Value(py_lower(v.str())); }},
      {"map", filter_map},
      {"max", [](const Value& v, CallArgs& a) { return filter_minmax(v, a, true); }},
      {"min", [](const Value& v, CallArgs& a) { return filter_minmax(v, a, false); }},
      {"reject", [](const Value& v, CallArgs& a) { return filter_select(v, a, false, false); }},
      {"rejectattr", [](const Value& v, CallArgs& a) { return filter_select(v, a, true, false); }},
      {"replace", [](const Value& v, CallArgs& a) {
         Params p("replace", a, {"old", "new", "count"});
         if (!p.get(0) || !p.get(1)) throw Error("replace(): expected old and new strings");
         const Value c = p.get_or(2, Value::none());
         std::string out = py_replace(v.str(), p.get(0)->str(), p.get(1)->str(),
                                      c.is_none() ? -1 : to_int_arg(c, "replace count"));
         check_size(out.size());
         return Value(std::move(out));
       }},
      {"reverse", [](const Value& v, CallArgs&) -> Value {
         if (v.is_string()) {
           auto cps = decode_utf8(v.as_string());
           std::reverse(cps.begin(), cps.end());
           return Value(encode_utf8(cps));
         }
         auto items = iterate(v);
         std::reverse(items.begin(), items.end());
         return Value::list(std::move(items));
       }},
      {"round", filter_round},
      {"safe", [](const Value& v, CallArgs&) { return v; }},
      {"select", [](const Value& v, CallArgs& a) { return filter_select(v, a, false, true); }},
      {"selectattr", [](const Value& v, CallArgs& a) { return filter_select(v, a, true, true); }},
      {"sort", [](const Value& v, CallArgs& a) {
         Params p("sort", a, {"reverse", "case_sensitive", "attribute"});
         return Value::list(sorted_values(iterate(v), p.get_or(0, Value(false)).truthy(),
                                          p.get_or(1, Value(false)).truthy(), opt_string(p.get(2), "sort attribute")));
       }},
      {"string", [](const Value& v, CallArgs&) { return Value(v.str()); }},
      {"sum", [](const Value& v, CallArgs& a) {
         Params p("sum", a, {"attribute", "start"});
         const auto attr = opt_string(p.get(0), "sum attribute");
         Value total = p.get_or(1, Value(0));
         for (const Value& item : iterate(v)) total = binary_op("+", total, attr ? attr_path(item, *attr) : item);
         return total;
       }},
      {"title", [](const Value& v, CallArgs&) { return Value(py_title(v.str())); }},
      {"tojson", filter_tojson},
      {"trim", [](const Value& v, CallArgs& a) {
         Params p("trim", a, {"chars"});
         return Value(py_strip(v.str(), StripSide::Both, opt_string(p.get(0), "trim chars")));
       }},
      {"unique", [](const Value& v, CallArgs& a) {
         Params p("unique", a, {"case_sensitive", "attribute"});
         const bool cs = p.get_or(0, Value(false)).truthy();
         const auto attr = opt_string(p.get(1), "unique attribute");
         std::vector<Value> out, seen;
         for (const Value& item : iterate(v)) {
           Value key = attr ? attr_path(item, *attr) : item;
           if (!cs) key = ignore_case(key);
           if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) {
             seen.push_back(key);
             out.push_back(item);
           }
         }
         return Value::list(std::move(out));
       }},
      {"upper", [](const Value& v, CallArgs&) { return Value(py_upper(v.str())); }},
      {"wordcount", [](const Value& v, CallArgs&) {
         return Value(static_cast<int64_t>(py_split(v.str(), std::nullopt, -1).size()));
       }},
  };
  return table;
}

const std::map<std::string, std::string>& filter_aliases() {
  static const std::map<std::string, std::string> aliases = {
      {"d", "default"}, {"e", "escape"}, {"count", "length"}};
  return aliases;
}

// ---- tests -----------------------------------------------------------------------------

bool is_iterable(const Value& v) {
  return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}

using TestFn = bool (*)(const Value&, CallArgs&);

const Value& one_arg(CallArgs& a, const char* test) {
  if (a.positional.size() != 1 || !a.named.empty())
    throw Error(std::string("test '") + test + "': expected one argument, found " +
                std::to_string(a.positional.size() + a.named.size()));
  return a.positional[0];
}

const std::map<std::string, TestFn>& tests() {
  static const std::map<std::string, TestFn> table = {
      {"boolean", [](const Value& v, CallArgs&) { return v.is_bool(); }},
      {"callable", [](const Value& v, CallArgs&) { return v.is_function(); }},
      {"defined", [](const Value& v, CallArgs&) { return !v.is_undefined(); }},
      {"divisibleby", [](const Value& v, CallArgs& a) {
         const int64_t d = to_int_arg(one_arg(a, "divisibleby"), "divisibleby");
         if (d == 0) throw Error("divisibleby: expected a non-zero divisor, found 0");
         return to_int_arg(v, "divisibleby") % d == 0;
       }},
      {"eq", [](const Value& v, CallArgs& a) { return equals(v, one_arg(a, "eq")); }},
      {"escaped", [](const Value&, CallArgs&) { return false; }},
      {"even", [](const Value& v, CallArgs&) { return to_int_arg(v, "even") % 2 == 0; }},
      {"false", [](const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }},
      {"float", [](const Value& v, CallArgs&) { return v.is_float(); }},
      {"ge", [](const Value& v, CallArgs& a) { return compare(v, one_arg(a, "ge")) >= 0; }},
      {"gt", [](const Value& v, CallArgs& a) { return compare(v, one_arg(a, "gt")) > 0; }},
      {"in", [](const Value& v, CallArgs& a) { return contains(one_arg(a, "in"), v); }},
      {"integer", [](const Value& v, CallArgs&) { return v.is_int(); }},
      {"iterable", [](const Value& v, CallArgs&) { return is_iterable(v); }},
      {"le", [](const Value& v, CallArgs& a) { return compare(v, one_arg(a, "le")) <= 0; }},
      {"lower", [](const Value& v, CallArgs&) { return v.is_string() && py_lower(v.as_string()) == v.as_string(); }},
      {"lt", [](const Value& v, CallArgs& a) { return compare(v, one_arg(a, "lt")) < 0; }},
      {"mapping", [](const Value& v, CallArgs&) { return v.is_dict() && !v.as_dict().is_namespace; }},
      {"ne", [](const Value& v, CallArgs& a) { return !equals(v, one_arg(a, "ne")); }},
      {"none", [](const Value& v, CallArgs&) { return v.is_none(); }},
      {"number", [](const Value& v, CallArgs&) { return v.is_number(); }},
      {"odd", [](const Value& v, CallArgs&) { return to_int_arg(v, "odd") % 2 != 0; }},
      {"sameas", [](const Value& v, CallArgs& a) {
         const Value& o = one_arg(a, "sameas");
         if (v.kind() != o.kind()) return false;
         if (v.is_none() || v.is_undefined()) return true;
         if (v.is_bool()) return v.as_bool() == o.as_bool();
         if (v.is_list()) return &v.as_list() == &o.as_list();
         if (v.is_dict()) return &v.as_dict() == &o.as_dict();
         return equals(v, o);
       }},
      {"sequence", [](const Value& v, CallArgs&) { return is_iterable(v); }},
      {"string", [](const Value& v, CallArgs&) { return v.is_string(); }},
      {"true", [](const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }},
      {"undefined", [](const Value& v, CallArgs&) { return v.is_undefined(); }},
      {"upper", [](const Value& v, CallArgs&) { return v.is_string() && py_upper(v.as_string()) == v.as_string(); }},
  };
  return table;
}

const std::map<std::string, std::string>& test_aliases() {
  static const std::map<std::string, std::string> aliases = {
      {"==", "eq"}, {"equalto", "eq"}, {"!=", "ne"}, {"<", "lt"}, {"lessthan", "lt"}, {"<=", "le"},
      {">", "gt"}, {"greaterthan", "gt"}, {">=", "ge"}};
  return aliases;
}

std::string resolve(const std::string& name, const std::map<std::string, std::string>& aliases) {
  auto it = aliases.find(name);
  return it == aliases.end() ? name : it->second;
}

// ---- methods ---------------------------------------------------------------------------

bool prefix_match(const std::string& s, const Value& arg, bool suffix, const char* fn) {
  auto one = [&](const Value& p) {
    if (!p.is_string()) throw Error(std::string(fn) + "(): expected a string or tuple of strings, found '" + p.type_name() + "'");
    const std::string& x = p.as_string();
    if (x.size() > s.size()) return false;
    return suffix ? s.compare(s.size() - x.size(), x.size(), x) == 0 : s.compare(0, x.size(), x) == 0;
  };
  if (arg.is_list()) {
    for (const Value& p : arg.as_list().items)
      if (one(p)) return true;
    return false;
  }
  return one(arg);
}

// The methods hold the string's value, which shares its bytes: a method of a 60 MB string
// copies nothing.
Value string_method(const Value& self_value, const std::string& name) {
  using F = std::function<Value(CallArgs&)>;
  F fn;
  if (name == "startswith" || name == "endswith") {
    const bool suffix = name == "endswith";
    fn = [self_value, suffix, name](CallArgs& a) {
      const std::string& self = self_value.as_string();
      Params p(name, a, {"prefix"});
      if (!p.get(0)) throw Error(name + "(): expected one argument");
      return Value(prefix_match(self, *p.get(0), suffix, name.c_str()));
    };
  } else if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const StripSide side = name == "strip" ? StripSide::Both : name == "lstrip" ? StripSide::Left : StripSide::Right;
    fn = [self_value, side, name](CallArgs& a) {
      const std::string& self = self_value.as_string();
      Params p(name, a, {"chars"});
      return Value(py_strip(self, side, opt_string(p.get(0), name)));
    };
  } else if (name == "split") {
    fn = [self_value](CallArgs& a) {
      const std::string& self = self_value.as_string();
      Params p("split", a, {"sep", "maxsplit"});
      std::vector<Value> parts;
      for (auto& s : py_split(self, opt_string(p.get(0), "split"), to_int_arg(p.get_or(1, Value(-1)), "split maxsplit")))
        parts.emplace_back(std::move(s));
      return Value::list(std::move(parts));
    };
  } else if (name == "replace") {
    fn = [self_value](CallArgs& a) {
      const std::string& self = self_value.as_string();
      Params p("replace", a, {"old", "new", "count"});
      if (!p.get(0) || !p.get(1) || !p.get(0)->is_string() || !p.get(1)->is_string())
        throw Error("replace(): expected two strings");
      std::string out = py_replace(self, p.get(0)->as_string(), p.get(1)->as_string(),
                                   to_int_arg(p.get_or(2, Value(-1)), "replace count"));
      check_size(out.size());
      return Value(std::move(out));
    };
  } else if (name == "upper" || name == "lower" || name == "capitalize") {
    fn = [self_value, name](CallArgs& a) {
      const std::string& self = self_value.as_string();
      Params p(name, a, {});
      return Value(name == "upper" ? py_upper(self) : name == "lower" ? py_lower(self) : py_capitalize(self));
    };
  } else if (name == "find" || name == "count") {
    fn = [self_value, name](CallArgs& a) -> Value {
      const std::string& self = self_value.as_string();
      Params p(name, a, {"sub"});
      if (!p.get(0) || !p.get(0)->is_string()) throw Error(name + "(): expected a string");
      const std::string& sub = p.get(0)->as_string();
      const SubstringFinder finder(sub);
      if (name == "find") {
        const size_t at = finder.find(self);
        return Value(at == std::string::npos ? int64_t{-1} : static_cast<int64_t>(utf8_length(std::string_view(self).substr(0, at))));
      }
      if (sub.empty()) return Value(static_cast<int64_t>(utf8_length(self) + 1));
      int64_t n = 0;
      for (size_t at = finder.find(self); at != std::string::npos; at = finder.find(self, at + sub.size())) ++n;
      return Value(n);
    };
  } else if (name == "join") {
    fn = [self_value](CallArgs& a) {
      const std::string& self = self_value.as_string();
      Params p("join", a, {"iterable"});
      if (!p.get(0)) throw Error("join(): expected one argument");
      std::string out;
      bool first = true;
      for (const Value& item : iterate(*p.get(0))) {
        if (!item.is_string()) throw Error("join(): expected strings, found '" + item.type_name() + "'");
        if (!first) out += self;
        first = false;
        out += item.as_string();
        check_size(out.size());
      }
      return Value(out);
    };
  } else {
    return Value::undefined("'str object' has no attribute '" + name + "'");
  }
  return Value::function("str." + name, std::move(fn));
}

Value dict_method(const Value& self, const std::string& name) {
  if (name == "get") {
    return Value::function("dict.get", [self](CallArgs& a) {
      Params p("get", a, {"key", "default"});
      if (!p.get(0)) throw Error("get(): expected a key");
      if (p.get(0)->is_string())
        if (const Value* v = self.as_dict().find(p.get(0)->as_string())) return *v;
      return p.get_or(1, Value::none());
    });
  }
  if (name == "items" || name == "keys" || name == "values") {
    return Value::function("dict." + name, [self, name](CallArgs& a) {
      Params p(name, a, {});
      std::vector<Value> out;
      for (const auto& [k, v] : self.as_dict().items) {
        if (name == "items") out.push_back(Value::list({Value(k), v}, true));
        else out.push_back(name == "keys" ? Value(k) : v);
      }
      return Value::list(std::move(out));
    });
  }
  return Value();
}

// a op b on 64-bit integers, or an Error on overflow.
template <typename Op>
int64_t checked(Op op, int64_t a, int64_t b) {
  int64_t r = 0;
  if (op(a, b, &r)) throw Error("integer arithmetic: expected results within 64 bits, found an overflow");
  return r;
}

bool add_overflow(int64_t a, int64_t b, int64_t* r) { return __builtin_add_overflow(a, b, r); }
bool sub_overflow(int64_t a, int64_t b, int64_t* r) { return __builtin_sub_overflow(a, b, r); }
bool mul_overflow(int64_t a, int64_t b, int64_t* r) { return __builtin_mul_overflow(a, b, r); }

[[noreturn]] void bad_operands(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  throw Error("unsupported operand types for " + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
}

Value repeat(const Value& seq, int64_t n) {
  if (n <= 0) return seq.is_string() ? Value("") : Value::list({}, seq.as_list().is_tuple);
  const auto count = static_cast<uint64_t>(n);
  if (seq.is_string()) {
    const size_t unit = seq.as_string().size();
    check_size(unit != 0 && count > Limits::kMaxStringBytes / unit ? Limits::kMaxStringBytes + 1 : unit * count);
    // By doubling: 'x' * 60000000 takes 26 appends, not 60 million.
    const size_t total = unit * count;
    std::string out = seq.as_string();
    out.reserve(total);
    while (out.size() < total) out.append(out, 0, std::min(out.size(), total - out.size()));
    return Value(std::move(out));
  }
  const auto& items = seq.as_list().items;
  // The render's budget is checked before the items are copied, not after.
  const size_t max_items = Limits::kMaxRenderBytes / sizeof(Value);
  check_room(!items.empty() && count > max_items / items.size() ? Limits::kMaxRenderBytes + 1
                                                                 : items.size() * count * sizeof(Value));
  std::vector<Value> out;
  for (uint64_t i = 0; i < count && !items.empty(); ++i) out.insert(out.end(), items.begin(), items.end());
  return Value::list(std::move(out), seq.as_list().is_tuple);
}

std::string strftime_value(const std::tm& tm, const std::string& format) {
  if (format.empty()) return {};
  std::vector<char> buf(256 + format.size() * 8);
  while (true) {
    const size_t n = std::strftime(buf.data(), buf.size(), format.c_str(), &tm);
    if (n > 0) return std::string(buf.data(), n);
    if (buf.size() > (1u << 20)) return {};
    buf.resize(buf.size() * 4);
  }
}

}  // namespace

bool has_filter(const std::string& name) { return filters().count(resolve(name, filter_aliases())) > 0; }
bool has_test(const std::string& name) { return tests().count(resolve(name, test_aliases())) > 0; }

Value apply_filter(const std::string& name, const Value& operand, CallArgs& args) {
  auto it = filters().find(resolve(name, filter_aliases()));
  if (it == filters().end()) throw Error("no filter named '" + name + "'");
  return it->second(operand, args);
}

bool apply_test(const std::string& name, const Value& operand, CallArgs& args) {
  auto it = tests().find(resolve(name, test_aliases()));
  if (it == tests().end()) throw Error("no test named '" + name + "'");
  return it->second(operand, args);
}

Value get_attr(const Value& obj, const std::string& name) {
  switch (obj.kind()) {
    case Value::Kind::Undefined: undefined_error(obj);
    case Value::Kind::Dict: {
      if (!obj.as_dict().is_namespace) {
        Value m = dict_method(obj, name);
        if (!m.is_undefined()) return m;
      }
      if (const Value* v = obj.as_dict().find(name)) return *v;
      return Value::undefined("'" + obj.type_name() + " object' has no attribute '" + name + "'");
    }
    case Value::Kind::String: return string_method(obj, name);
    default:
      return Value::undefined("'" + obj.type_name() + " object' has no attribute '" + name + "'");
  }
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) undefined_error(obj);
  if (obj.is_dict()) {
    if (key.is_string()) {
      if (const Value* v = obj.as_dict().find(key.as_string())) return *v;
      return get_attr(obj, key.as_string());
    }
    return Value::undefined("'dict object' has no attribute " + key.repr());
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.as_int();
    if (obj.is_list()) {
      const auto& items = obj.as_list().items;
      const auto n = static_cast<int64_t>(items.size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::undefined("'" + obj.type_name() + " object' has no element " + key.repr());
      return items[static_cast<size_t>(i)];
    }
    const auto cps = decode_utf8(obj.as_string());
    const auto n = static_cast<int64_t>(cps.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::undefined("'str object' has no element " + key.repr());
    std::string out;
    append_utf8(out, cps[static_cast<size_t>(i)]);
    return Value(out);
  }
  if (key.is_string()) return get_attr(obj, key.as_string());
  return Value::undefined("'" + obj.type_name() + " object' has no element " + key.repr());
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) undefined_error(obj);
  auto part = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_none() || v.is_undefined()) return std::nullopt;
    return to_int_arg(v, std::string("slice ") + what);
  };
  const auto a = part(start, "start"), b = part(stop, "stop"), c = part(step, "step");
  if (obj.is_list()) {
    const auto& items = obj.as_list().items;
    std::vector<Value> out;
    for (int64_t i : slice_indices(static_cast<int64_t>(items.size()), a, b, c)) out.push_back(items[static_cast<size_t>(i)]);
    return Value::list(std::move(out), obj.as_list().is_tuple);
  }
  if (obj.is_string()) {
    const auto cps = decode_utf8(obj.as_string());
    std::vector<char32_t> out;
    for (int64_t i : slice_indices(static_cast<int64_t>(cps.size()), a, b, c)) out.push_back(cps[static_cast<size_t>(i)]);
    return Value(encode_utf8(out));
  }
  return Value::undefined("'" + obj.type_name() + " object' is not subscriptable");
}

Value binary_op(const std::string& op, const Value& a, const Value& b) {
  if (op == "~") {
    std::string s = a.str() + b.str();
    check_size(s.size());
    return Value(std::move(s));
  }
  const bool nums = a.is_number() && b.is_number();
  const bool ints = nums && !a.is_float() && !b.is_float();
  if (op == "+") {
    if (ints) return Value(checked(add_overflow, a.as_int(), b.as_int()));
    if (nums) return Value(a.as_double() + b.as_double());
    if (a.is_string() && b.is_string()) {
      check_size(a.as_string().size() + b.as_string().size());
      return Value(a.as_string() + b.as_string());
    }
    if (a.is_list() && b.is_list() && a.as_list().is_tuple == b.as_list().is_tuple) {
      check_room((a.as_list().items.size() + b.as_list().items.size()) * sizeof(Value));
      std::vector<Value> out = a.as_list().items;
      out.insert(out.end(), b.as_list().items.begin(), b.as_list().items.end());
      return Value::list(std::move(out), a.as_list().is_tuple);
    }
  } else if (op == "-") {
    if (ints) return Value(checked(sub_overflow, a.as_int(), b.as_int()));
    if (nums) return Value(a.as_double() - b.as_double());
  } else if (op == "*") {
    if (ints) return Value(checked(mul_overflow, a.as_int(), b.as_int()));
    if (nums) return Value(a.as_double() * b.as_double());
    if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(a, b.as_int());
    if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(b, a.as_int());
  } else if (op == "/") {
    if (nums) {
      if (b.as_double() == 0.0) throw Error("division by zero");
      return Value(a.as_double() / b.as_double());
    }
  } else if (op == "//" || op == "%") {
    if (nums) {
      if (b.as_double() == 0.0) throw Error(op == "//" ? "integer division by zero" : "modulo by zero");
      if (ints) {
        const int64_t x = a.as_int(), y = b.as_int();
        if (x == std::numeric_limits<int64_t>::min() && y == -1) throw Error("integer arithmetic: overflow");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) --q, m += y;
        return Value(op == "//" ? q : m);
      }
      const double x = a.as_double(), y = b.as_double();
      const double q = std::floor(x / y);
      if (op == "//") return Value(q);
      double m = std::fmod(x, y);
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      return Value(m);
    }
    if (op == "%" && a.is_string()) throw Error("string formatting with '%' is not supported in chat templates");
  } else if (op == "**") {
    if (ints && b.as_int() >= 0) {
      int64_t result = 1, base = a.as_int(), e = b.as_int();
      while (e > 0) {
        if (e & 1) result = checked(mul_overflow, result, base);
        e >>= 1;
        if (e) base = checked(mul_overflow, base, base);
      }
      return Value(result);
    }
    if (nums) return Value(std::pow(a.as_double(), b.as_double()));
  }
  bad_operands(op, a, b);
}

Value unary_minus(const Value& v) {
  if (v.is_float()) return Value(-v.as_double());
  if (v.is_number()) {
    if (v.as_int() == std::numeric_limits<int64_t>::min()) throw Error("integer arithmetic: overflow");
    return Value(-v.as_int());
  }
  if (v.is_undefined()) undefined_error(v);
  throw Error("unsupported operand type for unary -: '" + v.type_name() + "'");
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::Undefined: return false;
    case Value::Kind::String:
      if (!item.is_string())
        throw Error("'in <string>': expected a string on the left, found '" + item.type_name() + "'");
      return SubstringFinder(item.as_string()).find(container.as_string()) != std::string::npos;
    case Value::Kind::List:
      for (const Value& v : container.as_list().items)
        if (equals(v, item)) return true;
      return false;
    case Value::Kind::Dict:
      return item.is_string() && container.as_dict().find(item.as_string()) != nullptr;
    default:
      throw Error("'in': expected a string, list or mapping on the right, found '" + container.type_name() + "'");
  }
}

std::vector<Value> iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::List: return v.as_list().items;
    case Value::Kind::Dict: {
      std::vector<Value> keys;
      for (const auto& kv : v.as_dict().items) keys.emplace_back(kv.first);
      return keys;
    }
    case Value::Kind::String: {
      std::vector<Value> chars;
      for (char32_t cp : decode_utf8(v.as_string())) {
        std::string s;
        append_utf8(s, cp);
        chars.emplace_back(std::move(s));
      }
      return chars;
    }
    default:
      throw Error("expected something iterable (list, mapping, string), found '" + v.type_name() + "'");
  }
}

Dict make_globals(const std::optional<std::tm>& now) {
  Dict g;
  g.set("range", Value::function("range", [](CallArgs& a) {
          Params p("range", a, {"start", "stop", "step"});
          int64_t start = 0, stop, step = 1;
          if (!p.get(0)) throw Error("range(): expected at least one argument");
          if (p.get(1)) {
            start = to_int_arg(*p.get(0), "range");
            stop = to_int_arg(*p.get(1), "range");
            if (p.get(2)) step = to_int_arg(*p.get(2), "range");
          } else {
            stop = to_int_arg(*p.get(0), "range");
          }
          if (step == 0) throw Error("range(): expected a non-zero step, found 0");
          // Python's len(range(...)), in unsigned arithmetic that cannot overflow.
          uint64_t count = 0;
          if (step > 0 && start < stop)
            count = (static_cast<uint64_t>(stop) - static_cast<uint64_t>(start) - 1) / static_cast<uint64_t>(step) + 1;
          if (step < 0 && start > stop)
            count = (static_cast<uint64_t>(start) - static_cast<uint64_t>(stop) - 1) / (0 - static_cast<uint64_t>(step)) + 1;
          check_room(count > Limits::kMaxRenderBytes / sizeof(Value) ? Limits::kMaxRenderBytes + 1
                                                                     : count * sizeof(Value));
          std::vector<Value> out;
          out.reserve(count);
          for (uint64_t i = 0; i < count; ++i)
            out.emplace_back(static_cast<int64_t>(static_cast<uint64_t>(start) + i * static_cast<uint64_t>(step)));
          return Value::list(std::move(out));
        }));
  auto make_dict = [](CallArgs& a, bool ns) {
    Dict d;
    d.is_namespace = ns;
    if (a.positional.size() > 1) throw Error("expected at most one positional argument (a mapping)");
    if (!a.positional.empty()) {
      if (!a.positional[0].is_dict()) throw Error("expected a mapping, found '" + a.positional[0].type_name() + "'");
      for (const auto& [k, v] : a.positional[0].as_dict().items) d.set(k, v);
    }
    for (auto& [k, v] : a.named) d.set(k, v);
    return Value::dict(std::move(d));
  };
  g.set("namespace", Value::function("namespace", [make_dict](CallArgs& a) { return make_dict(a, true); }));
  g.set("dict", Value::function("dict", [make_dict](CallArgs& a) { return make_dict(a, false); }));
  g.set("raise_exception", Value::function("raise_exception", [](CallArgs& a) -> Value {
          const std::string msg = a.positional.empty() ? std::string() : a.positional[0].str();
          throw Error("the template raised an exception: " + msg);
        }));
  g.set("strftime_now", Value::function("strftime_now", [now](CallArgs& a) {
          Params p("strftime_now", a, {"format"});
          if (!p.get(0) || !p.get(0)->is_string()) throw Error("strftime_now(): expected a format string");
          std::tm tm{};
          if (now) {
            tm = *now;
          } else {
            const std::time_t t = std::time(nullptr);
            localtime_r(&t, &tm);
          }
          return Value(strftime_value(tm, p.get(0)->as_string()));
        }));
  return g;
}

}  // namespace entropix::jinja
