#include "core/cache_dir.h"

#include <cstdlib>
#include <string>

#include "core/error.h"

namespace entropix {

std::filesystem::path cache_dir() {
  const auto env = [](const char* name) -> std::string {
    const char* value = std::getenv(name);
    return value ? value : "";
  };
  if (const auto dir = env("ENTROPIX_CACHE"); !dir.empty()) return dir;
  // The XDG base directory spec says relative values are to be ignored.
  if (const auto xdg = env("XDG_CACHE_HOME"); !xdg.empty() && std::filesystem::path(xdg).is_absolute())
    return std::filesystem::path(xdg) / "entropix";
  if (const auto home = env("HOME"); !home.empty())
    return std::filesystem::path(home) / ".cache" / "entropix";
  throw Error(
      "cannot place the cache: expected ENTROPIX_CACHE, XDG_CACHE_HOME or HOME to be set, "
      "found none");
}

}  // namespace entropix
