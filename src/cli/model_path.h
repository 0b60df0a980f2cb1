// Turns the -m argument (a path or a cached model name) into a file path.
#pragma once

#include <string>

namespace entropix {

std::string resolve_model_argument(const std::string& name_or_path);
// The project's demo model (models/demo/demo-q8_0.gguf) beside the binary's build
// folder or in the source tree it was built from; throws Error when neither has it.
std::string demo_model_path();

}  // namespace entropix
