// Cached model names -> files: resolve_model_path() and remove_cached_model().
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <system_error>

#include "core/error.h"
#include "hub/cache.h"
#include "hub/hub.h"
#include "hub/model_spec.h"

namespace entropix {
namespace {

// The cached models that `name` designates (see hub.h for the accepted forms).
std::vector<CachedModel> find_cached(const std::string& name) {
  const auto all = list_cached_models();
  std::vector<CachedModel> out;
  const auto keep = [&](auto&& pred) { std::copy_if(all.begin(), all.end(), std::back_inserter(out), pred); };
  if (const auto colon = name.find(':'); colon != std::string::npos) {
    const std::string repo = name.substr(0, colon), tail = name.substr(colon + 1);
    std::vector<std::string> files;
    for (const auto& m : all)
      if (m.repo == repo) files.push_back(m.file);
    const auto chosen =
        tail.ends_with(".gguf") ? std::vector<std::string>{tail} : hub::match_quant(files, tail);
    keep([&](const CachedModel& m) {
      return m.repo == repo && std::find(chosen.begin(), chosen.end(), m.file) != chosen.end();
    });
  } else if (name.find('/') == std::string::npos) {
    keep([&](const CachedModel& m) { return m.path.filename() == name; });
  } else {
    keep([&](const CachedModel& m) { return m.name == name; });
    if (out.empty()) keep([&](const CachedModel& m) { return m.repo == name; });
  }
  return out;
}

std::string names_for_error(const std::vector<CachedModel>& models) {
  std::vector<std::string> names;
  for (const auto& m : models) names.push_back(m.name);
  return fmt::format("\n  {}", fmt::join(names, "\n  "));
}

// The one cached model `name` designates; Error if none (`missing` explains) or several.
CachedModel find_one(const std::string& name, const std::string& missing) {
  const auto found = find_cached(name);
  if (found.size() == 1) return found.front();
  if (found.empty()) throw Error(missing);
  throw Error(fmt::format("model name '{}' is ambiguous in the cache {}; use one of: {}", name,
                          hub::models_dir().string(), names_for_error(found)));
}

}  // namespace

std::string resolve_model_path(const std::string& name_or_path) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(name_or_path, ec)) return name_or_path;
  return find_one(name_or_path,
                  fmt::format("'{}' is neither a model file nor a model in the cache {}; download it with "
                              "`entropix pull owner/repo[:QUANT]`, or see `entropix list`",
                              name_or_path, hub::models_dir().string()))
      .path.string();
}

std::filesystem::path remove_cached_model(const std::string& name) {
  const auto model = find_one(name, fmt::format("no cached model named '{}' in {}; see `entropix list`", name,
                                                hub::models_dir().string()));
  std::error_code ec;
  std::filesystem::remove(model.path, ec);
  if (ec) throw Error(fmt::format("cannot remove {}: {}", model.path.string(), ec.message()));
  std::filesystem::remove(hub::sidecar_path(model.path), ec);
  std::filesystem::remove(std::filesystem::path(model.path.string() + ".part"), ec);
  // Drop the repo and owner folders once they are empty.
  auto dir = model.path.parent_path();
  const auto root = hub::models_dir();
  while (dir != root && dir.string().starts_with(root.string()) && std::filesystem::is_empty(dir, ec) &&
         !ec) {
    std::filesystem::remove(dir, ec);
    dir = dir.parent_path();
  }
  return model.path;
}

}  // namespace entropix
