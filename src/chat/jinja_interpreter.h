// Evaluates a parsed chat template over a context, with jinja2's scoping (a for loop's body
// gets a fresh scope each iteration; if does not open one), undefined semantics and loop
// variables, bounded by Limits.
#pragma once

#include <ctime>
#include <optional>
#include <string>

#include "chat/jinja_ast.h"

namespace entropix::jinja {

// Checks, before any rendering, that every filter and test the template names exists
// (jinja2 fails at compile time for unknown ones). Throws Error with the position.
void check_names(const Body& body);

// context: a dict of variables. now: what strftime_now() formats (current local time when
// absent). Throws Error with the template line and column on any failure, including the
// template's own raise_exception().
std::string render(const Body& body, const Value& context, const std::optional<std::tm>& now);

}  // namespace entropix::jinja
