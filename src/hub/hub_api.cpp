#include "hub/hub_api.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "hub/http.h"

namespace entropix::hub {
namespace {

// A bound on followed tree pages, against a hub whose links loop.
constexpr int kMaxTreePages = 1000;

// The JSON document at `url`; `next` (if given) receives the next page's URL or "".
nlohmann::json get_json(const std::string& url, const std::string& what, const std::string& token,
                        const std::atomic<bool>* cancel, std::string* next = nullptr) {
  const auto response = http_get(url, token, cancel);
  if (next) *next = response.next;
  if (response.status != 200) throw_http_error(response.status, what, url, !token.empty());
  auto j = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    throw Error(
        fmt::format("expected JSON from {}, found {} bytes that do not parse", url, response.body.size()));
  return j;
}

std::string string_field(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

const RepoFile* RepoInfo::find(const std::string& path) const {
  for (const auto& f : files)
    if (f.path == path) return &f;
  return nullptr;
}

std::vector<std::string> RepoInfo::paths() const {
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.path);
  return out;
}

RepoInfo fetch_repo_info(const std::string& endpoint, const std::string& repo, const std::string& token,
                         const std::atomic<bool>* cancel) {
  const std::string what = "repository " + repo;
  RepoInfo info;
  info.repo = repo;
  const std::string model_url = endpoint + "/api/models/" + repo;
  const auto model = get_json(model_url, what, token, cancel);
  if (!model.is_object())
    throw Error(fmt::format("expected a JSON object from {}, found {}", model_url, model.type_name()));
  info.revision = string_field(model, "sha");

  // The tree comes in pages linked by `Link: <...>; rel="next"` headers.
  std::string tree_url = model_url + "/tree/main?recursive=true";
  for (int page = 0; !tree_url.empty(); ++page) {
    if (page == kMaxTreePages)
      throw Error(
          fmt::format("expected the file tree of {} within {} pages, found more", repo, kMaxTreePages));
    std::string next;
    const auto tree = get_json(tree_url, what + " (file tree)", token, cancel, &next);
    if (!tree.is_array())
      throw Error(fmt::format("expected a JSON array from {}, found {}", tree_url, tree.type_name()));
    for (const auto& entry : tree) {
      if (!entry.is_object() || string_field(entry, "type") == "directory") continue;
      RepoFile file;
      file.path = string_field(entry, "path");
      if (file.path.empty())
        throw Error(
            fmt::format("expected a \"path\" string in every entry of {}, found {}", tree_url, entry.dump()));
      if (const auto size = entry.find("size"); size != entry.end() && size->is_number_unsigned())
        file.size = size->get<std::uint64_t>();
      if (const auto lfs = entry.find("lfs"); lfs != entry.end() && lfs->is_object()) {
        file.sha256 = string_field(*lfs, "oid");
        if (const auto size = lfs->find("size"); size != lfs->end() && size->is_number_unsigned())
          file.size = size->get<std::uint64_t>();
      }
      if (!info.find(file.path)) info.files.push_back(std::move(file));
    }
    tree_url = next.starts_with("/") ? endpoint + next : next;
  }
  // Siblings the tree did not list (a hub without recursive trees) are still downloadable.
  if (const auto siblings = model.find("siblings"); siblings != model.end() && siblings->is_array())
    for (const auto& sibling : *siblings) {
      const auto path = sibling.is_object() ? string_field(sibling, "rfilename") : "";
      if (!path.empty() && !info.find(path)) info.files.push_back({path, std::nullopt, ""});
    }
  return info;
}

}  // namespace entropix::hub
