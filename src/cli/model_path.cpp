#include "cli/model_path.h"

#include <filesystem>
#include <vector>

#include "core/error.h"
#include "hub/hub.h"

namespace entropix {

std::string resolve_model_argument(const std::string& name_or_path) { return resolve_model_path(name_or_path); }

std::string demo_model_path() {
  namespace fs = std::filesystem;
  const fs::path demo = fs::path("models") / "demo" / "demo-q8_0.gguf";
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path().parent_path() / demo);  // build/entropix -> the checkout
#ifdef ENTROPIX_SOURCE_DIR
  candidates.push_back(fs::path(ENTROPIX_SOURCE_DIR) / demo);
#endif
  for (const fs::path& p : candidates)
    if (fs::is_regular_file(p, ec)) return p.string();
  throw Error("the demo model (" + demo.string() + ") is not beside this binary: give a model with -m");
}

}  // namespace entropix
