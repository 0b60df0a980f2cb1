#include "grammar/json_schema_grammar.h"

#include <algorithm>
#include <cmath>
#include <fmt/core.h>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "grammar/gbnf_writer.h"
#include "grammar/numeric_range_grammar.h"
#include "tokenizer/utf8.h"

namespace entropix {

namespace {

using Json = nlohmann::ordered_json;

// Keywords that describe a schema without constraining its values.
const std::set<std::string> kAnnotations = {"description", "title",    "default",   "examples",   "$schema",
                                            "$id",         "$comment", "deprecated", "readOnly", "writeOnly",
                                            "$defs",       "definitions"};

const std::set<std::string> kObjectKeywords = {"properties", "required", "additionalProperties"};
const std::set<std::string> kArrayKeywords = {"items", "prefixItems", "minItems", "maxItems", "uniqueItems"};
const std::set<std::string> kStringKeywords = {"minLength", "maxLength", "format"};
const std::set<std::string> kNumberKeywords = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
const std::set<std::string> kOtherKeywords = {"type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref"};

const std::vector<std::string> kTypeNames = {"string", "number", "integer", "boolean", "null", "object", "array"};

// Number bounds: integers up to 10^18 in magnitude; decimals below 10^15 (their
// integral part feeds kMaxBoundedDecimalDigits).
constexpr double kMaxIntegerBound = 1e18;
constexpr double kMaxDecimalBound = 1e15;

// Rules nested inline (a key's trie, a tuple's prefix) are cut into named rules this
// often, so no rule nests groups deeper than this.
constexpr size_t kMaxInlineNesting = 16;

// How deeply arrays and objects nest in `value`, counted without recursion (the
// check that keeps later recursive walks, dumps and copies off deep hostile input).
template <typename BasicJson>
size_t json_nesting(const BasicJson& value) {
  size_t deepest = 0;
  std::vector<std::pair<const BasicJson*, size_t>> pending = {{&value, 1}};
  while (!pending.empty()) {
    const auto [node, depth] = pending.back();
    pending.pop_back();
    if (!node->is_structured()) continue;
    deepest = std::max(deepest, depth);
    for (const auto& child : *node) pending.emplace_back(&child, depth + 1);
  }
  return deepest;
}

template <typename BasicJson>
void check_nesting(const BasicJson& schema, const JsonSchemaLimits& limits) {
  if (json_nesting(schema) > limits.max_json_nesting) {
    throw JsonSchemaError(fmt::format("the schema nests arrays and objects deeper than {} levels", limits.max_json_nesting), "", "");
  }
}

bool is_known_keyword(const std::string& k) {
  return kAnnotations.count(k) || kObjectKeywords.count(k) || kArrayKeywords.count(k) || kStringKeywords.count(k) ||
         kNumberKeywords.count(k) || kOtherKeywords.count(k);
}

std::string child_pointer(const std::string& pointer, std::string_view token) {
  std::string out = pointer + "/";
  for (char c : token) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::string where(const std::string& pointer) { return pointer.empty() ? "the root" : pointer; }

// A value quoted into a message, cut short.
std::string shown(const Json& value) {
  std::string text = value.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace);
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

[[noreturn]] void fail(const std::string& keyword, const std::string& pointer, const std::string& message) {
  throw JsonSchemaError(message, keyword, pointer);
}

[[noreturn]] void unsupported(const std::string& keyword, const std::string& pointer, const std::string& why = "") {
  fail(keyword, pointer, fmt::format("'{}' at {} is not supported{}", keyword, where(pointer), why));
}

bool is_plain_name(const std::string& expr) {
  return !expr.empty() && std::all_of(expr.begin(), expr.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; });
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    out += (out.empty() ? "" : separator) + p;
  }
  return out;
}

// Compact JSON text, UTF-8 checked.
std::string compact_json(const Json& value, const std::string& keyword, const std::string& pointer) {
  try {
    return value.dump(-1, ' ', false, nlohmann::detail::error_handler_t::strict);
  } catch (const nlohmann::json::type_error&) {
    fail(keyword, pointer, fmt::format("'{}' at {} holds text that is not valid UTF-8", keyword, where(pointer)));
  }
}

bool matches_type(const Json& value, const std::string& type) {
  if (type == "string") return value.is_string();
  if (type == "boolean") return value.is_boolean();
  if (type == "null") return value.is_null();
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "number") return value.is_number();
  if (type == "integer") {
    return value.is_number_integer() || (value.is_number_float() && std::isfinite(value.get<double>()) &&
                                         value.get<double>() == std::floor(value.get<double>()));
  }
  return false;
}

// Where a schema is converted: its pointer (for errors), a rule name hint, its
// nesting depth, and whether nothing has been written yet in the rule of the $ref
// target that holds it (so a $ref here can make that rule left-recursive).
struct At {
  std::string pointer;
  std::string name;
  int depth = 0;
  bool at_start = true;

  // A schema under this one's `keyword`, written after something else (not at the start).
  At child(std::string_view keyword, std::string_view name_suffix) const {
    return At{child_pointer(pointer, keyword), name + "-" + std::string(name_suffix), depth + 1, false};
  }
};

class Converter {
 public:
  Converter(const Json& root, const JsonSchemaOptions& options) : root_(root), options_(options) {
    if (options.space_after_separators) ws_ = fmt::format(" {}", writer_.add_rule("ws", "\" \"?"));
  }

  std::string run() {
    ref_rule("", "", At{"", "root", 0, true});
    check_left_recursion();
    if (writer_.text_bytes() > options_.limits.max_grammar_bytes) {
      fail("", "", fmt::format("the grammar for this schema would take {} bytes, over the limit of {}",
                               writer_.text_bytes(), options_.limits.max_grammar_bytes));
    }
    return writer_.text();
  }

 private:
  // ---- dispatch ---------------------------------------------------------------------

  // A grammar expression for the values `schema` allows.
  std::string visit(const Json& schema, const At& at) {
    if (at.depth > options_.limits.max_depth) {
      fail("", at.pointer, fmt::format("the schema nests deeper than {} levels at {}", options_.limits.max_depth, where(at.pointer)));
    }
    if (schema.is_boolean()) {
      if (schema.get<bool>()) return any_value();
      fail("", at.pointer, fmt::format("the schema at {} is false: no value satisfies it", where(at.pointer)));
    }
    if (!schema.is_object()) {
      fail("", at.pointer, fmt::format("the schema at {} must be an object or a boolean, found {}", where(at.pointer), shown(schema)));
    }
    for (const auto& [key, value] : schema.items()) {
      if (!is_known_keyword(key)) unsupported(key, at.pointer);
      if (key == "uniqueItems" && value != false) unsupported(key, at.pointer, " (only 'uniqueItems': false)");
    }
    if (schema.contains("$ref")) {
      only_alongside(schema, "$ref", at);
      return ref(schema["$ref"], at);
    }
    if (schema.contains("anyOf") || schema.contains("oneOf")) return any_of(schema, at);
    if (schema.contains("allOf")) return all_of(schema, at);
    if (schema.contains("enum") || schema.contains("const")) return enumeration(schema, at);

    std::vector<std::string> parts;
    for (const std::string& type : types_of(schema, at)) {
      if (type == "string") parts.push_back(string_value(schema, at));
      else if (type == "integer") parts.push_back(integer_value(schema, at));
      else if (type == "number") parts.push_back(number_value(schema, at));
      else if (type == "boolean") parts.push_back(primitive("boolean"));
      else if (type == "null") parts.push_back(primitive("null"));
      else if (type == "object") parts.push_back(object_value(schema, at));
      else if (type == "array") parts.push_back(array_value(schema, at));
      else parts.push_back(any_value());
    }
    return join(parts, " | ");
  }

  // A rule (or primitive) name for the values `schema` allows.
  std::string value_rule(const Json& schema, const At& at) {
    const std::string expr = visit(schema, at);
    return is_plain_name(expr) ? expr : writer_.add_rule(at.name, expr);
  }

  // `keyword` takes the whole schema: any other constraint beside it is refused.
  void only_alongside(const Json& schema, const std::string& keyword, const At& at,
                      const std::set<std::string>& also_allowed = {}) {
    for (const auto& [key, value] : schema.items()) {
      if (key == keyword || kAnnotations.count(key) || also_allowed.count(key)) continue;
      fail(key, at.pointer, fmt::format("'{}' alongside '{}' at {} is not supported", key, keyword, where(at.pointer)));
    }
  }

  // The types a schema's values may have: its `type`, else those its keywords constrain,
  // else "any".
  std::vector<std::string> types_of(const Json& schema, const At& at) {
    std::vector<std::string> types;
    if (schema.contains("type")) {
      const Json& t = schema["type"];
      const auto bad = [&] {
        fail("type", at.pointer, fmt::format("'type' at {} must be one of string, number, integer, boolean, null, object, "
                                             "array or a non-empty list of them, found {}", where(at.pointer), shown(t)));
      };
      const std::vector<Json> listed = t.is_array() ? std::vector<Json>(t.begin(), t.end()) : std::vector<Json>{t};
      if (listed.empty()) bad();
      for (const Json& name : listed) {
        if (!name.is_string() || std::find(kTypeNames.begin(), kTypeNames.end(), name.get<std::string>()) == kTypeNames.end()) bad();
        if (std::find(types.begin(), types.end(), name.get<std::string>()) == types.end()) types.push_back(name.get<std::string>());
      }
      // Every integer is a number: the number rule covers it.
      if (std::count(types.begin(), types.end(), "number")) std::erase(types, std::string("integer"));
      return types;
    }
    const auto has_any = [&](const std::set<std::string>& keywords) {
      return std::any_of(keywords.begin(), keywords.end(), [&](const std::string& k) { return schema.contains(k); });
    };
    // Without `type`, values of other types pass unchecked; writing only the types the
    // keywords speak of still gives valid values.
    if (has_any(kObjectKeywords)) types.push_back("object");
    if (has_any(kArrayKeywords)) types.push_back("array");
    if (has_any(kStringKeywords)) types.push_back("string");
    if (has_any(kNumberKeywords)) types.push_back("number");
    if (types.empty()) types.push_back("any");
    return types;
  }

  // ---- primitives ---------------------------------------------------------------------

  // The shared rules of JSON's primitive values; `name` is one of kTypeNames or
  // "value", "char", a format.
  std::string primitive(const std::string& name) {
    const std::string comma = "\",\"" + ws_;
    if (name == "null") return writer_.add_rule("null", "\"null\"");
    if (name == "boolean") return writer_.add_rule("boolean", "\"true\" | \"false\"");
    if (name == "integer") return writer_.add_rule("integer", *integer_range_gbnf(std::nullopt, std::nullopt));
    if (name == "number") {
      return writer_.add_rule("number", "\"-\"? (\"0\" | [1-9] [0-9]{0,18}) (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?");
    }
    if (name == "char") {
      // Any character but '"', '\' and controls (DEL too), or an escape; \u escapes of
      // surrogates are left out, so every \u writes one whole character.
      return writer_.add_rule("char", "[^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" "
                                      "([0-9a-cA-CeEfF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}))");
    }
    if (name == "string") return writer_.add_rule("string", "\"\\\"\" " + primitive("char") + "* \"\\\"\"");
    if (name == "value" || name == "object" || name == "array") {
      // Reserved first: value, object and array refer to each other.
      if (!any_value_.empty()) return name == "value" ? any_value_ : name == "object" ? any_object_ : any_array_;
      any_value_ = writer_.reserve("value");
      any_object_ = writer_.reserve("object");
      any_array_ = writer_.reserve("array");
      const std::string member = writer_.add_rule("member", primitive("string") + " \":\"" + ws_ + " " + any_value_);
      writer_.define(any_object_, "\"{\" (" + member + " (" + comma + " " + member + ")*)? \"}\"");
      writer_.define(any_array_, "\"[\" (" + any_value_ + " (" + comma + " " + any_value_ + ")*)? \"]\"");
      writer_.define(any_value_, any_object_ + " | " + any_array_ + " | " + primitive("string") + " | " +
                                     primitive("number") + " | " + primitive("boolean") + " | " + primitive("null"));
      return primitive(name);
    }
    return format_rule(name);
  }

  std::string any_value() { return primitive("value"); }

  // RFC 3339 dates (the days each month has, February 29 in leap years), times and
  // date-times, and UUIDs in their canonical lowercase form.
  std::string format_rule(const std::string& name) {
    if (name == "date") {
      const std::string year = writer_.add_rule("year", "[1-9] [0-9]{3} | \"0\" [1-9] [0-9]{2} | \"00\" [1-9] [0-9] | \"000\" [1-9]");
      const std::string leap_year = writer_.add_rule(
          "leap-year", "[0-9]{2} (\"0\" [48] | [2468] [048] | [13579] [26]) | (\"0\" [48] | [2468] [048] | [13579] [26]) \"00\"");
      return writer_.add_rule("date", year + " \"-\" ((\"0\" [13578] | \"1\" [02]) \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" [01]) | "
                                             "(\"0\" [469] | \"11\") \"-\" (\"0\" [1-9] | [12] [0-9] | \"30\") | "
                                             "\"02-\" (\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8])) | " + leap_year + " \"-02-29\"");
    }
    if (name == "time") {
      return writer_.add_rule("time", "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,9})? "
                                      "(\"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])");
    }
    if (name == "date-time") return writer_.add_rule("date-time", format_rule("date") + " \"T\" " + format_rule("time"));
    if (name == "uuid") {
      return writer_.add_rule("uuid", "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{12}");
    }
    throw std::logic_error("no primitive rule " + name);
  }

  // ---- $ref ---------------------------------------------------------------------------

  std::string ref(const Json& target, const At& at) {
    const std::string pointer = local_target(target, at.pointer);
    return ref_rule(pointer, target.get<std::string>(), at);
  }

  // The JSON pointer a `$ref` value names: only references inside the schema.
  std::string local_target(const Json& ref, const std::string& pointer) {
    if (!ref.is_string()) fail("$ref", pointer, fmt::format("'$ref' at {} must be a string, found {}", where(pointer), shown(ref)));
    const std::string text = ref.get<std::string>();
    if (text.empty() || text[0] != '#' || (text.size() > 1 && text[1] != '/')) {
      fail("$ref", pointer, fmt::format("'$ref' '{}' at {} is not supported: only references inside the schema ('#', '#/$defs/...')",
                                        text, where(pointer)));
    }
    return text.substr(1);
  }

  const Json& resolve(const std::string& target, const std::string& pointer) {
    try {
      return root_.at(Json::json_pointer(target));
    } catch (const nlohmann::json::exception&) {
      fail("$ref", pointer, fmt::format("'$ref' '#{}' at {} points to nothing in the schema", target, where(pointer)));
    }
  }

  // The rule of the schema at `target` (a JSON pointer into the root), converted once;
  // a reference that comes before anything is written is recorded for the left
  // recursion check.
  std::string ref_rule(const std::string& target, const std::string& ref_text, const At& at) {
    if (at.at_start && !ref_text.empty()) leading_refs_[current_target_].push_back({target, at.pointer});
    if (auto it = rule_of_target_.find(target); it != rule_of_target_.end()) return it->second;
    const Json* schema = &resolve(target, at.pointer);
    std::string hint = target.empty() ? "root" : target.substr(target.rfind('/') + 1);
    const std::string name = writer_.reserve(hint);
    rule_of_target_[target] = name;
    const std::string outer = current_target_;
    current_target_ = target;
    const std::string body = visit(*schema, At{target, name, at.depth + 1, true});
    current_target_ = outer;
    writer_.define(name, body);
    return name;
  }

  // A rule whose body can reach itself before writing a character would make the
  // grammar left-recursive (a matcher would loop): refused, naming the $ref.
  void check_left_recursion() {
    std::map<std::string, int> state;  // 1 on the path, 2 done
    std::function<void(const std::string&)> walk = [&](const std::string& target) {
      state[target] = 1;
      for (const auto& [next, pointer] : leading_refs_[target]) {
        if (state[next] == 1) {
          fail("$ref", pointer, fmt::format("'$ref' at {} makes the grammar left-recursive: '#{}' can refer to itself "
                                            "before any character is written", where(pointer), next));
        }
        if (state[next] == 0) walk(next);
      }
      state[target] = 2;
    };
    for (const auto& [target, name] : rule_of_target_) {
      if (state[target] == 0) walk(target);
    }
  }

  // ---- combinations -------------------------------------------------------------------

  std::string any_of(const Json& schema, const At& at) {
    if (schema.contains("anyOf") && schema.contains("oneOf")) unsupported("oneOf", at.pointer, " together with 'anyOf'");
    const std::string keyword = schema.contains("anyOf") ? "anyOf" : "oneOf";
    only_alongside(schema, keyword, at);
    const Json& branches = schema[keyword];
    if (!branches.is_array() || branches.empty()) {
      fail(keyword, at.pointer, fmt::format("'{}' at {} must be a non-empty list of schemas", keyword, where(at.pointer)));
    }
    // oneOf is written as anyOf: a value matching two branches is not excluded.
    std::vector<std::string> parts;
    for (size_t i = 0; i < branches.size(); ++i) {
      const At branch{child_pointer(child_pointer(at.pointer, keyword), std::to_string(i)), at.name + "-" + std::to_string(i),
                      at.depth + 1, at.at_start};
      parts.push_back(value_rule(branches[i], branch));
    }
    return join(parts, " | ");
  }

  // allOf of object schemas, merged into one object; a single part alone is that part.
  std::string all_of(const Json& schema, const At& at) {
    const Json& parts = schema["allOf"];
    if (!parts.is_array() || parts.empty()) {
      fail("allOf", at.pointer, fmt::format("'allOf' at {} must be a non-empty list of schemas", where(at.pointer)));
    }
    bool has_siblings = false;
    for (const auto& [key, value] : schema.items()) has_siblings |= key != "allOf" && !kAnnotations.count(key);
    const std::string all_of_pointer = child_pointer(at.pointer, "allOf");
    if (parts.size() == 1 && !has_siblings) {
      return visit(parts[0], At{child_pointer(all_of_pointer, "0"), at.name, at.depth + 1, at.at_start});
    }
    std::vector<std::pair<const Json*, std::string>> objects;  // (schema, pointer)
    if (has_siblings) objects.emplace_back(&schema, at.pointer);
    for (size_t i = 0; i < parts.size(); ++i) {
      std::string pointer = child_pointer(all_of_pointer, std::to_string(i));
      const Json* part = &parts[i];
      if (part->is_object() && part->contains("$ref")) {
        only_alongside(*part, "$ref", At{pointer, at.name, at.depth + 1, at.at_start});
        const std::string target = local_target((*part)["$ref"], pointer);
        part = &resolve(target, pointer);
        pointer = target;
      }
      objects.emplace_back(part, pointer);
    }
    Json merged = {{"type", "object"}, {"required", Json::array()}};
    std::vector<std::pair<const Json*, std::string>> closed;  // parts with additionalProperties false
    for (const auto& [part, pointer] : objects) {
      if (!part->is_object()) unsupported("allOf", at.pointer, fmt::format(": part {} is not an object schema", where(pointer)));
      for (const auto& [key, value] : part->items()) {
        if (key == "allOf" || kAnnotations.count(key) || key == "properties" || key == "required") continue;
        if (key == "type" && value == "object") continue;
        if (key == "additionalProperties" && value == false) {
          closed.emplace_back(part, pointer);
          continue;
        }
        fail(key, pointer, fmt::format("'{}' at {} is not supported in 'allOf' (allOf merges object schemas: type object, "
                                       "properties, required, additionalProperties false)", key, where(pointer)));
      }
      if (part->contains("properties")) {
        const Json& properties = (*part)["properties"];
        if (!properties.is_object()) fail("properties", pointer, fmt::format("'properties' at {} must be an object", where(pointer)));
        if (!merged.contains("properties")) merged["properties"] = Json::object();
        for (const auto& [name, property] : properties.items()) {
          if (merged["properties"].contains(name) && merged["properties"][name] != property) {
            fail("allOf", at.pointer, fmt::format("property '{}' has different schemas in the parts of 'allOf' at {}", name, where(at.pointer)));
          }
          merged["properties"][name] = property;
        }
      }
      for (const Json& name : required_names(*part, pointer)) {
        if (std::find(merged["required"].begin(), merged["required"].end(), name) == merged["required"].end()) merged["required"].push_back(name);
      }
    }
    const Json merged_properties = merged.value("properties", Json::object());
    for (const auto& [part, pointer] : closed) {
      for (const auto& [name, property] : merged_properties.items()) {
        if (!part->contains("properties") || !(*part)["properties"].contains(name)) {
          fail("additionalProperties", pointer, fmt::format("'additionalProperties': false at {} excludes property '{}' of another "
                                                            "part of 'allOf' at {}", where(pointer), name, where(at.pointer)));
        }
      }
    }
    if (!closed.empty()) merged["additionalProperties"] = false;
    return object_value(merged, at);
  }

  // ---- enum and const -----------------------------------------------------------------

  std::string enumeration(const Json& schema, const At& at) {
    only_alongside(schema, schema.contains("enum") ? "enum" : "const", at, {"type", "enum", "const"});
    std::vector<Json> values;
    if (schema.contains("enum")) {
      const Json& listed = schema["enum"];
      if (!listed.is_array()) fail("enum", at.pointer, fmt::format("'enum' at {} must be a list, found {}", where(at.pointer), shown(listed)));
      if (listed.size() > options_.limits.max_enum_values) {
        fail("enum", at.pointer, fmt::format("'enum' at {} lists {} values, over the limit of {}", where(at.pointer), listed.size(),
                                             options_.limits.max_enum_values));
      }
      values.assign(listed.begin(), listed.end());
    }
    if (schema.contains("const")) {
      if (!schema.contains("enum")) values = {schema["const"]};
      else std::erase_if(values, [&](const Json& v) { return v != schema["const"]; });
    }
    if (schema.contains("type")) {
      const std::vector<std::string> types = types_of(schema, at);
      std::erase_if(values, [&](const Json& v) {
        return std::none_of(types.begin(), types.end(), [&](const std::string& t) { return matches_type(v, t); });
      });
    }
    if (values.empty()) {
      fail(schema.contains("enum") ? "enum" : "const", at.pointer,
           fmt::format("no value satisfies 'enum'/'const' and 'type' at {}", where(at.pointer)));
    }
    std::vector<std::string> literals;
    const std::string keyword = schema.contains("enum") ? "enum" : "const";
    for (const Json& v : values) {
      const std::string literal = fixed_value(v, keyword, at.pointer);
      if (std::find(literals.begin(), literals.end(), literal) == literals.end()) literals.push_back(literal);
    }
    return join(literals, " | ");
  }

  // One JSON value as a sequence of literals, with the same optional space after ':'
  // and ',' as everywhere else (a model that writes `{"a": 1}` writes it here too).
  std::string fixed_value(const Json& value, const std::string& keyword, const std::string& pointer) {
    std::vector<std::string> pieces;  // JSON text, or "" where a space may go
    const std::function<void(const Json&)> write = [&](const Json& v) {
      if (v.is_object() || v.is_array()) {
        pieces.push_back(v.is_object() ? "{" : "[");
        bool first = true;
        for (const auto& [key, item] : v.items()) {
          if (!first) pieces.insert(pieces.end(), {",", ""});
          first = false;
          if (v.is_object()) pieces.insert(pieces.end(), {compact_json(Json(key), keyword, pointer) + ":", ""});
          write(item);
        }
        pieces.push_back(v.is_object() ? "}" : "]");
      } else {
        pieces.push_back(compact_json(v, keyword, pointer));
      }
    };
    write(value);
    std::vector<std::string> parts;
    std::string text;
    for (const std::string& piece : pieces) {
      if (!piece.empty()) {
        text += piece;
        continue;
      }
      if (ws_.empty()) continue;
      parts.push_back(gbnf_literal(text));
      parts.push_back(ws_.substr(1));
      text.clear();
    }
    parts.push_back(gbnf_literal(text));
    return join(parts, " ");
  }

  // ---- strings ------------------------------------------------------------------------

  // A count keyword's value: a non-negative integer within the limit.
  std::optional<uint64_t> count_of(const Json& schema, const std::string& keyword, const At& at) {
    if (!schema.contains(keyword)) return std::nullopt;
    const Json& v = schema[keyword];
    if (!matches_type(v, "integer") || v.get<double>() < 0) {
      fail(keyword, at.pointer, fmt::format("'{}' at {} must be a non-negative integer, found {}", keyword, where(at.pointer), shown(v)));
    }
    if (v.get<double>() > static_cast<double>(options_.limits.max_count)) {
      fail(keyword, at.pointer, fmt::format("'{}' {} at {} is over the limit of {}", keyword, shown(v), where(at.pointer), options_.limits.max_count));
    }
    return static_cast<uint64_t>(v.get<double>());
  }

  std::string string_value(const Json& schema, const At& at) {
    const std::optional<uint64_t> min = count_of(schema, "minLength", at), max = count_of(schema, "maxLength", at);
    if (schema.contains("format")) {
      const Json& format = schema["format"];
      if (min || max) unsupported(min ? "minLength" : "maxLength", at.pointer, " together with 'format'");
      static const std::set<std::string> kFormats = {"date", "time", "date-time", "uuid"};
      if (!format.is_string() || !kFormats.count(format.get<std::string>())) {
        fail("format", at.pointer, fmt::format("'format': {} at {} is not supported (supported: date, time, date-time, uuid)",
                                               shown(format), where(at.pointer)));
      }
      return "\"\\\"\" " + primitive(format.get<std::string>()) + " \"\\\"\"";
    }
    if (!min && !max) return primitive("string");
    if (max && min.value_or(0) > *max) {
      fail("minLength", at.pointer, fmt::format("'minLength' {} is above 'maxLength' {} at {}: no string satisfies both", *min, *max, where(at.pointer)));
    }
    const std::string chars = gbnf_repeat(primitive("char"), min.value_or(0), max);
    return chars.empty() ? "\"\\\"\\\"\"" : "\"\\\"\" " + chars + " \"\\\"\"";
  }

  // ---- numbers ------------------------------------------------------------------------

  struct Bound {
    double value;
    bool exclusive;
    std::string keyword;
  };

  // The tighter of `minimum` / `exclusiveMinimum` (or maximum), draft-4 boolean
  // exclusive flags included.
  std::optional<Bound> bound_of(const Json& schema, const At& at, bool lower) {
    const std::string inclusive_key = lower ? "minimum" : "maximum";
    const std::string exclusive_key = lower ? "exclusiveMinimum" : "exclusiveMaximum";
    std::optional<Bound> bound;
    const auto number = [&](const std::string& key) {
      const Json& v = schema[key];
      if (!v.is_number() || !std::isfinite(v.get<double>())) {
        fail(key, at.pointer, fmt::format("'{}' at {} must be a number, found {}", key, where(at.pointer), shown(v)));
      }
      return v.get<double>();
    };
    if (schema.contains(inclusive_key)) bound = Bound{number(inclusive_key), false, inclusive_key};
    if (schema.contains(exclusive_key)) {
      if (schema[exclusive_key].is_boolean()) {
        if (bound) bound->exclusive = schema[exclusive_key].get<bool>();
      } else {
        const Bound exclusive{number(exclusive_key), true, exclusive_key};
        const bool tighter = !bound || (lower ? exclusive.value >= bound->value : exclusive.value <= bound->value);
        if (tighter) bound = exclusive;
      }
    }
    return bound;
  }

  std::string integer_value(const Json& schema, const At& at) {
    const std::optional<Bound> lower = bound_of(schema, at, true), upper = bound_of(schema, at, false);
    if (!lower && !upper) return primitive("integer");
    const auto integer_bound = [&](const Bound& b, bool is_lower) -> int64_t {
      if (std::fabs(b.value) > kMaxIntegerBound) {
        fail(b.keyword, at.pointer, fmt::format("'{}' {} at {} is out of the supported range for integers (magnitude up to 1e18)",
                                                b.keyword, b.value, where(at.pointer)));
      }
      // The nearest integer inside the bound.
      if (is_lower) return static_cast<int64_t>(b.exclusive ? std::floor(b.value) + 1 : std::ceil(b.value));
      return static_cast<int64_t>(b.exclusive ? std::ceil(b.value) - 1 : std::floor(b.value));
    };
    std::optional<int64_t> lo, hi;
    if (lower) lo = integer_bound(*lower, true);
    if (upper) hi = integer_bound(*upper, false);
    const std::optional<std::string> expr = integer_range_gbnf(lo, hi);
    if (!expr) fail((lower ? lower : upper)->keyword, at.pointer, fmt::format("no integer lies within the bounds at {}", where(at.pointer)));
    return *expr;
  }

  std::string number_value(const Json& schema, const At& at) {
    const std::optional<Bound> lower = bound_of(schema, at, true), upper = bound_of(schema, at, false);
    if (!lower && !upper) return primitive("number");
    const auto decimal_bound = [&](const Bound& b) {
      const std::optional<Decimal> d = parse_decimal(Json(b.value).dump());
      if (!d || std::fabs(b.value) >= kMaxDecimalBound || d->significant_digits() > kMaxBoundedDecimalDigits) {
        fail(b.keyword, at.pointer, fmt::format("'{}' {} at {} is not supported for numbers: bounds must be below 1e15 in "
                                                "magnitude with at most {} significant digits", b.keyword, shown(Json(b.value)),
                                                where(at.pointer), kMaxBoundedDecimalDigits));
      }
      return DecimalBound{*d, b.exclusive};
    };
    std::optional<DecimalBound> lo, hi;
    if (lower) lo = decimal_bound(*lower);
    if (upper) hi = decimal_bound(*upper);
    const std::optional<std::string> expr = decimal_range_gbnf(lo, hi);
    if (!expr) fail((lower ? lower : upper)->keyword, at.pointer, fmt::format("no number lies within the bounds at {}", where(at.pointer)));
    return *expr;
  }

  // ---- arrays -------------------------------------------------------------------------

  std::string array_value(const Json& schema, const At& at) {
    std::vector<const Json*> prefix;
    if (schema.contains("prefixItems")) {
      const Json& listed = schema["prefixItems"];
      if (!listed.is_array()) fail("prefixItems", at.pointer, fmt::format("'prefixItems' at {} must be a list of schemas", where(at.pointer)));
      if (listed.size() > options_.limits.max_properties) {
        fail("prefixItems", at.pointer, fmt::format("'prefixItems' at {} lists {} schemas, over the limit of {}", where(at.pointer),
                                                    listed.size(), options_.limits.max_properties));
      }
      for (const Json& item : listed) prefix.push_back(&item);
    }
    static const Json kAnything = true;
    const Json* items = &kAnything;
    if (schema.contains("items")) {
      items = &schema["items"];
      if (items->is_array()) unsupported("items", at.pointer, " as a list (tuple form): use 'prefixItems'");
      if (*items == false) items = nullptr;
    }
    uint64_t min = count_of(schema, "minItems", at).value_or(0);
    std::optional<uint64_t> max = count_of(schema, "maxItems", at);
    if (!items) max = std::min<uint64_t>(max.value_or(prefix.size()), prefix.size());
    if (max && min > *max) {
      fail("minItems", at.pointer, fmt::format("'minItems' {} at {} leaves no array: at most {} items are allowed", min, where(at.pointer), *max));
    }
    if (max && *max < prefix.size()) prefix.resize(*max);
    const std::string comma = "\",\"" + ws_;
    const auto element = [&](const Json& s, const std::string& keyword, const std::string& suffix) {
      return value_rule(s, at.child(keyword, suffix));
    };
    std::string rest_item;  // the rule of items after the prefix
    if (items && (!max || *max > prefix.size())) rest_item = element(*items, "items", "item");

    std::string body;
    if (prefix.empty()) {
      if (!rest_item.empty()) {
        const std::optional<uint64_t> more = max ? std::optional<uint64_t>(*max - 1) : std::nullopt;
        const std::string tail = gbnf_repeat(comma + " " + rest_item, min ? min - 1 : 0, more);
        body = rest_item + (tail.empty() ? "" : " " + tail);
        if (min == 0) body = "(" + body + ")?";
      }
    } else {
      // e0 ("," e1 ("," e2 ... extra items)?)?: the first minItems elements are required.
      const uint64_t p = prefix.size();
      std::string seg;
      if (!rest_item.empty()) {
        const std::optional<uint64_t> more = max ? std::optional<uint64_t>(*max - p) : std::nullopt;
        seg = gbnf_repeat(comma + " " + rest_item, min > p ? min - p : 0, more);
      }
      for (uint64_t k = p; k-- > 0;) {
        const std::string e = value_rule(*prefix[k], At{child_pointer(child_pointer(at.pointer, "prefixItems"), std::to_string(k)),
                                                        at.name + "-" + std::to_string(k), at.depth + 1, false});
        if (k + 1 < p) seg = k + 1 < min ? comma + " " + seg : "(" + comma + " " + seg + ")?";
        seg = e + (seg.empty() ? "" : " " + seg);
        if (k % kMaxInlineNesting == 0 && k > 0) seg = writer_.add_rule(at.name + "-from-" + std::to_string(k), seg);
      }
      body = min == 0 ? "(" + seg + ")?" : seg;
    }
    return body.empty() ? "\"[]\"" : "\"[\" " + body + " \"]\"";
  }

  // ---- objects ------------------------------------------------------------------------

  std::vector<Json> required_names(const Json& schema, const std::string& pointer) {
    if (!schema.contains("required")) return {};
    const Json& listed = schema["required"];
    if (!listed.is_array() || !std::all_of(listed.begin(), listed.end(), [](const Json& n) { return n.is_string(); })) {
      fail("required", pointer, fmt::format("'required' at {} must be a list of property names, found {}", where(pointer), shown(listed)));
    }
    return {listed.begin(), listed.end()};
  }

  struct Property {
    std::string name;
    const Json* schema;
    std::string pointer;
    bool required;
  };

  std::string object_value(const Json& schema, const At& at) {
    static const Json kAnything = true;
    if (schema.contains("properties") && !schema["properties"].is_object()) {
      fail("properties", at.pointer, fmt::format("'properties' at {} must be an object, found {}", where(at.pointer), shown(schema["properties"])));
    }
    const std::vector<Json> required = required_names(schema, at.pointer);
    const auto is_required = [&](const std::string& name) { return std::find(required.begin(), required.end(), name) != required.end(); };
    const Json* additional = schema.contains("additionalProperties") ? &schema["additionalProperties"] : nullptr;
    if (additional && !additional->is_boolean() && !additional->is_object()) {
      fail("additionalProperties", at.pointer, fmt::format("'additionalProperties' at {} must be a boolean or a schema, found {}",
                                                           where(at.pointer), shown(*additional)));
    }
    if (options_.strict && (!additional || *additional != false)) {
      fail("additionalProperties", at.pointer, fmt::format("strict mode: 'additionalProperties' at {} must be false", where(at.pointer)));
    }
    // Absent: none beside declared properties, any when none are declared.
    if (!additional) additional = schema.contains("properties") ? nullptr : &kAnything;
    else if (*additional == false) additional = nullptr;

    std::vector<Property> declared;
    if (schema.contains("properties")) {
      const std::string properties_pointer = child_pointer(at.pointer, "properties");
      for (const auto& [name, property] : schema["properties"].items()) {
        if (options_.strict && !is_required(name)) {
          fail("required", at.pointer, fmt::format("strict mode: property '{}' at {} must be listed in 'required'", name, where(at.pointer)));
        }
        declared.push_back({name, &property, child_pointer(properties_pointer, name), is_required(name)});
      }
    }
    for (const Json& name : required) {
      const std::string n = name.get<std::string>();
      if (std::any_of(declared.begin(), declared.end(), [&](const Property& p) { return p.name == n; })) continue;
      if (!additional) {
        fail("required", at.pointer, fmt::format("required property '{}' at {} is not in 'properties' and no other properties "
                                                 "are allowed: no object satisfies", n, where(at.pointer)));
      }
      declared.push_back({n, additional, child_pointer(at.pointer, "required"), true});
    }
    if (declared.size() > options_.limits.max_properties) {
      fail("properties", at.pointer, fmt::format("the object at {} has {} properties, over the limit of {}", where(at.pointer),
                                                 declared.size(), options_.limits.max_properties));
    }

    std::vector<std::string> members;  // one rule per declared property: "key": value
    for (const Property& p : declared) {
      const std::string value = value_rule(*p.schema, At{p.pointer, at.name + "-" + p.name, at.depth + 1, false});
      const std::string key = gbnf_literal(compact_json(Json(p.name), "properties", at.pointer) + ":");
      members.push_back(writer_.add_rule(at.name + "-" + p.name + "-kv", key + ws_ + " " + value));
    }
    std::string extra;  // the rule of one additional member
    if (additional) {
      std::vector<std::string> names;
      for (const Property& p : declared) names.push_back(p.name);
      const std::string key = names.empty() ? primitive("string") : key_other_than(names, at.name + "-additional-key");
      const std::string value = value_rule(*additional, At{child_pointer(at.pointer, "additionalProperties"), at.name + "-additional", at.depth + 1, false});
      extra = writer_.add_rule(at.name + "-additional-kv", key + " \":\"" + ws_ + " " + value);
    }
    return "\"{\" " + members_in_order(declared, members, extra, at.name) + (declared.empty() && extra.empty() ? "" : " ") + "\"}\"";
  }

  // The members of an object in declaration order, the required ones always there, the
  // optional ones perhaps, the additional ones (`extra`) after them, with commas only
  // between. Linear in size: "tail j" (members j.. after something was written) is one
  // rule referring to "tail j+1", and the object starts with one of the members up to
  // the first required one.
  std::string members_in_order(const std::vector<Property>& declared, const std::vector<std::string>& members,
                               const std::string& extra, const std::string& name) {
    const std::string comma = "\",\"" + ws_ + " ";
    const size_t n = declared.size();
    size_t first_required = n;
    for (size_t i = 0; i < n; ++i) {
      if (declared[i].required) {
        first_required = i;
        break;
      }
    }
    const std::string extras_tail = extra.empty() ? "" : "(" + comma + extra + ")*";
    const auto member_after_others = [&](size_t j) {
      return declared[j].required ? comma + members[j] : "(" + comma + members[j] + ")?";
    };
    // tail[j] for j in 1..n: the expression (a rule name, or inline) for members j.. .
    std::vector<std::string> tail(n + 1);
    tail[n] = extras_tail;
    for (size_t j = n; j-- > 1;) {
      std::string body = member_after_others(j) + (tail[j + 1].empty() ? "" : " " + tail[j + 1]);
      // Past the first required member nothing alternates: inline, unless two places use it.
      const bool shared = j <= first_required + 1 && first_required > 0;
      tail[j] = shared ? writer_.add_rule(name + "-tail-" + std::to_string(j), body) : body;
    }
    std::vector<std::string> starts;
    for (size_t i = 0; i < n && i <= first_required; ++i) {
      starts.push_back(members[i] + (i + 1 <= n && !tail[i + 1].empty() ? " " + tail[i + 1] : ""));
    }
    if (first_required == n && !extra.empty()) starts.push_back(extra + " " + extras_tail);
    if (starts.empty()) return "";
    const std::string content = join(starts, " | ");
    if (first_required < n) return starts.size() == 1 ? content : "(" + content + ")";
    return "(" + content + ")?";
  }

  // A JSON string key other than every one of `names`: a trie over the names' characters,
  // where the key may leave the trie at any character (then anything follows) or end
  // anywhere but at the end of a name. Until it leaves the trie a key writes each
  // character in its one canonical form (no \u escapes, no "\/"), so no spelling of a
  // name slips through.
  std::string key_other_than(const std::vector<std::string>& names, const std::string& rule_name) {
    struct Node {
      std::map<uint32_t, size_t> children;
      bool ends_name = false;
      size_t depth = 0;
    };
    std::vector<Node> trie(1);
    for (const std::string& name : names) {
      size_t node = 0;
      for (uint32_t cpt : unicode::decode_utf8(name)) {
        auto it = trie[node].children.find(cpt);
        if (it == trie[node].children.end()) {
          trie.push_back(Node{{}, false, trie[node].depth + 1});
          it = trie[node].children.emplace(cpt, trie.size() - 1).first;
        }
        node = it->second;
      }
      trie[node].ends_name = true;
    }
    const std::string rest = writer_.add_rule("key-rest", primitive("char") + "* \"\\\"\"");
    // Children have higher indexes than their parents: build from the last node up.
    std::vector<std::string> expr(trie.size());
    for (size_t i = trie.size(); i-- > 0;) {
      const Node& node = trie[i];
      std::vector<std::string> parts;
      std::string excluded, escapes;
      for (const auto& [cpt, child] : node.children) {
        std::string encoded = compact_json(Json(unicode::encode_utf8(cpt)), "properties", "");
        parts.push_back(gbnf_literal(encoded.substr(1, encoded.size() - 2)) + " " + expr[child]);
        excluded += gbnf_class_char(cpt);
      }
      for (const auto& [letter, decoded] : std::vector<std::pair<char, uint32_t>>{
               {'"', '"'}, {'\\', '\\'}, {'/', '/'}, {'b', '\b'}, {'f', '\f'}, {'n', '\n'}, {'r', '\r'}, {'t', '\t'}}) {
        if (!node.children.count(decoded)) escapes += letter == '"' || letter == '\\' ? std::string("\\") + letter : std::string(1, letter);
      }
      parts.push_back("[^\"\\\\\\x7F\\x00-\\x1F" + excluded + "] " + rest);
      if (!escapes.empty()) parts.push_back("\"\\\\\" [" + escapes + "] " + rest);
      if (!node.ends_name) parts.push_back("\"\\\"\"");
      expr[i] = fmt::format("({})", join(parts, " | "));
      if (node.depth % kMaxInlineNesting == 0 && node.depth > 0) expr[i] = writer_.add_rule(rule_name, expr[i]);
    }
    return writer_.add_rule(rule_name, "\"\\\"\" " + expr[0]);
  }

  const Json& root_;
  const JsonSchemaOptions& options_;
  GbnfWriter writer_;
  std::string ws_;  // " ws" where one space may follow ':' and ',', else ""
  std::string any_value_, any_object_, any_array_;
  std::map<std::string, std::string> rule_of_target_;  // $ref target pointer -> its rule
  std::string current_target_;                         // the $ref target being converted
  // $refs written before any character in a target's rule: target -> (target, $ref's pointer)
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> leading_refs_;
};

}  // namespace

std::string JsonSchemaError::param() const { return keyword.empty() ? pointer : child_pointer(pointer, keyword); }

std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema, const JsonSchemaOptions& options) {
  check_nesting(schema, options.limits);
  return Converter(schema, options).run();
}

std::string json_schema_to_gbnf(const nlohmann::json& schema, const JsonSchemaOptions& options) {
  check_nesting(schema, options.limits);
  return json_schema_to_gbnf(nlohmann::ordered_json(schema), options);
}

std::string json_object_gbnf(const JsonSchemaOptions& options) {
  return json_schema_to_gbnf(nlohmann::ordered_json{{"type", "object"}}, options);
}

}  // namespace entropix
