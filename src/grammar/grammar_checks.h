// What makes a parsed grammar unusable even when its syntax is fine: left recursion
// (a rule that can reach itself without reading a character would send the matcher
// round in circles).
#pragma once

#include <string_view>
#include <vector>

#include "grammar/grammar.h"

namespace entropix::grammar {

// Throws GrammarError naming a left-recursive rule; `origin` starts the message.
void check_grammar(const Grammar& g, std::string_view origin);

// nullable[rule]: the rule can match the empty string.
std::vector<bool> nullable_rules(const Grammar& g);

}  // namespace entropix::grammar
