// Turns the -m argument (a path or a cached model name) into a file path.
#pragma once

#include <string>

namespace entropix {

std::string resolve_model_argument(const std::string& name_or_path);

}  // namespace entropix
