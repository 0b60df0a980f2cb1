#include "cli/model_path.h"

#include "hub/hub.h"

namespace entropix {

std::string resolve_model_argument(const std::string& name_or_path) { return resolve_model_path(name_or_path); }

}  // namespace entropix
