// pull_model(): pick the file on the hub, download, verify, move into the cache.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "hub/cache.h"
#include "hub/download.h"
#include "hub/http.h"
#include "hub/hub.h"
#include "hub/hub_api.h"
#include "hub/model_spec.h"

namespace entropix {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

}  // namespace

std::filesystem::path pull_model(const std::string& spec_text, const PullOptions& options) {
  const auto spec = hub::parse_model_spec(spec_text);
  std::string endpoint = options.endpoint.value_or(env_or("HF_ENDPOINT", "https://huggingface.co"));
  while (endpoint.ends_with('/')) endpoint.pop_back();
  const std::string token = options.token.value_or(env_or("HF_TOKEN", ""));

  const auto info = hub::fetch_repo_info(endpoint, spec.repo, token, options.cancel);
  const std::string file = hub::select_file(info.paths(), spec);
  hub::check_repo_file(file);
  const hub::RepoFile& remote = *info.find(file);
  const auto target = hub::model_path(spec.repo, file);

  if (!options.force && !remote.sha256.empty()) {
    const auto cached = hub::read_cached_model(target);
    if (cached && cached->sha256 == remote.sha256 && (!remote.size || cached->size == *remote.size)) {
      if (options.progress)
        std::fprintf(stderr, "%s/%s is already in the cache: %s\n", spec.repo.c_str(), file.c_str(),
                     target.string().c_str());
      return target;
    }
  }
  if (remote.sha256.empty() && options.progress)
    std::fprintf(stderr, "warning: the hub gives no SHA-256 for %s; only its size is checked\n",
                 file.c_str());

  hub::DownloadRequest request;
  request.url = fmt::format("{}/{}/resolve/main/{}", endpoint, spec.repo, hub::url_encode_path(file));
  request.token = token;
  request.part = std::filesystem::path(target.string() + ".part");
  request.size = remote.size;
  request.label = file;
  request.progress = options.progress;
  request.cancel = options.cancel;
  request.on_bytes = options.on_bytes;
  const auto result = hub::download_resumable(request);

  if (!remote.sha256.empty() && result.sha256 != remote.sha256) {
    std::error_code ec;
    std::filesystem::remove(request.part, ec);
    throw Error(
        fmt::format("checksum mismatch for {} from {}: expected SHA-256 {}, found {}; the download was "
                    "removed, run the pull again",
                    file, spec.repo, remote.sha256, result.sha256));
  }
  std::error_code ec;
  std::filesystem::rename(request.part, target, ec);
  if (ec)
    throw Error(
        fmt::format("cannot move {} to {}: {}", request.part.string(), target.string(), ec.message()));

  CachedModel model;
  model.name = spec.repo + "/" + file;
  model.repo = spec.repo;
  model.file = file;
  model.quant = hub::quant_of(file);
  model.size = result.size;
  model.revision = info.revision;
  model.sha256 = result.sha256;
  model.downloaded_at = hub::utc_now_iso8601();
  model.path = target;
  hub::write_sidecar(model);
  return target;
}

}  // namespace entropix
