// Model management: pull GGUF files from a Hugging Face style hub into the local
// cache, list and remove them, and resolve `-m NAME` to a file path.
//
// Cache layout (cache_dir() is $ENTROPIX_CACHE, else $XDG_CACHE_HOME/entropix,
// else ~/.cache/entropix):
//   models/<owner>/<repo>/<file>.gguf        the model, renamed into place once verified
//   models/<owner>/<repo>/<file>.gguf.json   sidecar: repo, file, revision, size, sha256, date
//   models/<owner>/<repo>/<file>.gguf.part   an unfinished download, resumed by the next pull
//
// Names accepted by resolve_model_path() and remove_cached_model():
//   owner/repo:Q4_K_M   owner/repo:file.gguf   owner/repo/file.gguf   file.gguf   owner/repo
// (the last two only when they pick out exactly one cached file).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/cache_dir.h"

namespace entropix {

struct PullOptions {
  // Hub base URL; nullopt: $HF_ENDPOINT, else https://huggingface.co.
  std::optional<std::string> endpoint;
  // Bearer token; nullopt: $HF_TOKEN (unset or empty: no Authorization header).
  std::optional<std::string> token;
  // Progress on stderr: a bar when stderr is a terminal, else occasional plain lines.
  bool progress = true;
  // Download again even when the cached copy already matches the hub's checksum.
  bool force = false;
  // Polled during transfers; once true the pull stops with an Error and keeps the
  // .part file for resuming. Meant to be set from a SIGINT handler.
  const std::atomic<bool>* cancel = nullptr;
  // Called as bytes arrive (often: keep it cheap) with the bytes present and the
  // total when known; for a progress display elsewhere than stderr.
  std::function<void(std::uint64_t done, std::optional<std::uint64_t> total)> on_bytes;
};

struct CachedModel {
  std::string name;            // owner/repo/file.gguf: unique, accepted by resolve and rm
  std::string repo;            // owner/repo
  std::string file;            // path of the file inside the repo
  std::string quant;           // quantization tag from the file name (Q4_K_M, F16, ...); "" if none
  std::uint64_t size = 0;      // bytes on disk
  std::string revision;        // hub commit sha at download time; "" without sidecar
  std::string sha256;          // hex; "" without sidecar
  std::string downloaded_at;   // ISO 8601 UTC; "" without sidecar
  std::filesystem::path path;  // the .gguf file
};

// Downloads `spec` = owner/repo[:FILE.gguf|:QUANT] (or owner/repo/FILE.gguf) into the
// cache, verifying size and SHA-256 against the hub's LFS metadata; returns the final
// path. Without FILE or QUANT picks Q4_K_M, then Q8_0, then the repo's only .gguf file.
std::filesystem::path pull_model(const std::string& spec, const PullOptions& options = {});

// Every cached .gguf file, sorted by name.
std::vector<CachedModel> list_cached_models();

// Removes a cached model (the file, its sidecar and any .part) named as in the header
// comment; throws Error for unknown or ambiguous names. Returns the removed file's path.
std::filesystem::path remove_cached_model(const std::string& name);

// An existing file path is returned unchanged; otherwise a cached model name is
// looked up; otherwise Error saying neither was found and suggesting `entropix pull`.
std::string resolve_model_path(const std::string& name_or_path);

}  // namespace entropix
