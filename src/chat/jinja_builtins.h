// What a chat template can call: jinja2's filters and tests, attribute and item access the
// way jinja2's sandboxed environment resolves them (dict keys, str/dict methods), the
// operators, and the globals Hugging Face provides (raise_exception, strftime_now, plus
// jinja2's namespace, range, dict). Functions here throw Error without a position; the
// interpreter adds the template line and column.
#pragma once

#include <ctime>
#include <optional>
#include <string>

#include "chat/jinja_value.h"

namespace entropix::jinja {

bool has_filter(const std::string& name);
bool has_test(const std::string& name);

Value apply_filter(const std::string& name, const Value& operand, CallArgs& args);
bool apply_test(const std::string& name, const Value& operand, CallArgs& args);

// obj.name: dict methods (get, items, keys, values) first, then the key; str methods.
// Throws only when obj is undefined; a missing attribute gives an undefined value.
Value get_attr(const Value& obj, const std::string& name);
// obj[key]: the key or index first, then (for string keys) the attribute.
Value get_item(const Value& obj, const Value& key);
// obj[start:stop:step]; parts may be none/undefined.
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

// + - * / // % ** ~ with Python's semantics.
Value binary_op(const std::string& op, const Value& a, const Value& b);
Value unary_minus(const Value& v);
// Python's `item in container`.
bool contains(const Value& container, const Value& item);
// The items a for loop visits: list items, dict keys, string characters; none for undefined.
std::vector<Value> iterate(const Value& v);

// The globals: range, namespace, dict, raise_exception, strftime_now (formatting `now`,
// or the current local time when absent).
Dict make_globals(const std::optional<std::tm>& now);

}  // namespace entropix::jinja
