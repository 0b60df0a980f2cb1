// Parses the tokens of a chat template into a syntax tree, following jinja2's grammar and
// operator precedence for the subset chat templates use.
#pragma once

#include <string_view>

#include "chat/jinja_ast.h"

namespace entropix::jinja {

// Throws Error with the line and column of the first construct it cannot handle
// (unsupported tags such as include/extends/import, unbalanced blocks, nesting deeper than
// Limits::kMaxParseDepth).
Body parse_template(std::string_view source);

}  // namespace entropix::jinja
