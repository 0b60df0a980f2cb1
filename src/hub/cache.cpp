#include "hub/cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/cache_dir.h"
#include "core/error.h"
#include "core/json_text.h"
#include "hub/model_spec.h"

namespace entropix {

std::vector<CachedModel> list_cached_models() {
  std::vector<CachedModel> out;
  const auto root = hub::models_dir();
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec)) return out;
  for (auto it = std::filesystem::recursive_directory_iterator(
           root, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->path().extension() != ".gguf") continue;
    if (auto model = hub::read_cached_model(it->path())) out.push_back(std::move(*model));
  }
  if (ec) throw Error(fmt::format("cannot list the model cache {}: {}", root.string(), ec.message()));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

}  // namespace entropix

namespace entropix::hub {

std::filesystem::path models_dir() { return cache_dir() / "models"; }

std::filesystem::path model_path(const std::string& repo, const std::string& file) {
  return models_dir() / repo / file;
}

std::filesystem::path sidecar_path(const std::filesystem::path& model) {
  return std::filesystem::path(model.string() + ".json");
}

void write_sidecar(const CachedModel& model) {
  const nlohmann::json j = {{"repo", model.repo},         {"file", model.file},
                            {"revision", model.revision}, {"size", model.size},
                            {"sha256", model.sha256},     {"downloaded_at", model.downloaded_at}};
  const auto target = sidecar_path(model.path);
  const auto temp = std::filesystem::path(target.string() + ".tmp");
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << json_text(j, 2) << '\n';
    if (!out.flush()) throw Error("cannot write the model sidecar " + temp.string());
  }
  std::error_code ec;
  std::filesystem::rename(temp, target, ec);
  if (ec)
    throw Error(fmt::format("cannot rename {} to {}: {}", temp.string(), target.string(), ec.message()));
}

std::optional<CachedModel> read_cached_model(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return std::nullopt;
  CachedModel model;
  model.path = path;
  model.size = size;
  // Name and repo come from the layout, so they hold even without a sidecar.
  const auto relative = std::filesystem::relative(path, models_dir(), ec).generic_string();
  const auto first = relative.find('/');
  const auto second = first == std::string::npos ? std::string::npos : relative.find('/', first + 1);
  if (ec || second == std::string::npos) {
    model.name = model.file = path.filename().string();
  } else {
    model.name = relative;
    model.repo = relative.substr(0, second);
    model.file = relative.substr(second + 1);
  }
  model.quant = quant_of(model.file);
  std::ifstream in(sidecar_path(path), std::ios::binary);
  if (in) {
    const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    const auto text = [&](const char* key) -> std::string {
      const auto it = j.is_object() ? j.find(key) : j.end();
      return it != j.end() && it->is_string() ? it->get<std::string>() : "";
    };
    model.revision = text("revision");
    model.sha256 = text("sha256");
    model.downloaded_at = text("downloaded_at");
  }
  return model;
}

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

}  // namespace entropix::hub
