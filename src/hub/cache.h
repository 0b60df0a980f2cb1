// The on-disk model cache: where a repo file lives and its JSON sidecar.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "hub/hub.h"

namespace entropix::hub {

// cache_dir()/models
std::filesystem::path models_dir();
// models_dir()/owner/repo/file (repo and file already checked).
std::filesystem::path model_path(const std::string& repo, const std::string& file);
// `model` + ".json"
std::filesystem::path sidecar_path(const std::filesystem::path& model);

// Writes the sidecar of `model` atomically (temporary file, then rename).
void write_sidecar(const CachedModel& model);
// The cached model at `path` (a .gguf under models_dir()), with its sidecar's fields
// when a readable sidecar exists; nullopt if the file does not exist.
std::optional<CachedModel> read_cached_model(const std::filesystem::path& path);

// Current time as ISO 8601 UTC, e.g. 2026-11-29T04:11:26Z.
std::string utc_now_iso8601();

}  // namespace entropix::hub
