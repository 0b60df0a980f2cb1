// JSON as text for files, pipes and the wire, safe for bytes that are not UTF-8.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace entropix {

// j.dump(indent) with every byte sequence that is not valid UTF-8 written as U+FFFD.
// Strings here come from token pieces (part of a character), GGUF metadata and
// file names, none of which are guaranteed UTF-8: a plain dump() would throw after
// the work is done and lose its output.
std::string json_text(const nlohmann::json& j, int indent = -1);

}  // namespace entropix
