// Where a JSON object or array ends in text that is still arriving: a left-to-right
// check that rejects a prefix as soon as no continuation could make it JSON (so a
// streaming reader stops holding text back early) and finds the closing bracket.
// Number forms are checked loosely; parse the complete extent to be sure.
#pragma once

#include <cstddef>
#include <string_view>

namespace entropix {

struct JsonExtent {
  enum Kind {
    Complete,    // the value ends at end (one past its closing bracket)
    Incomplete,  // the text ends first, and more text could still complete it
    Invalid,     // no continuation makes it JSON, or it nests deeper than kMaxDepth
  };
  Kind kind = Invalid;
  size_t end = 0;
};

// text[pos] opens the value ('{' or '['; anything else is Invalid).
JsonExtent json_extent(std::string_view text, size_t pos);

constexpr int kJsonMaxDepth = 128;  // deeper is Invalid: tool arguments are never so deep

}  // namespace entropix
