// The hub's model API: a repository's revision and its files with LFS size and SHA-256.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace entropix::hub {

struct RepoFile {
  std::string path;                   // path inside the repo
  std::optional<std::uint64_t> size;  // bytes, when the hub says
  std::string sha256;                 // LFS oid (hex); "" for files not stored in LFS
};

struct RepoInfo {
  std::string repo;      // owner/repo
  std::string revision;  // commit sha of main
  std::vector<RepoFile> files;
  const RepoFile* find(const std::string& path) const;
  std::vector<std::string> paths() const;
};

// GET {endpoint}/api/models/{repo} (revision, siblings) and
// {endpoint}/api/models/{repo}/tree/main?recursive=true (sizes, LFS oids).
// Throws Error: 404 names the repo, 401/403 mention HF_TOKEN, malformed JSON says where.
RepoInfo fetch_repo_info(const std::string& endpoint, const std::string& repo, const std::string& token,
                         const std::atomic<bool>* cancel = nullptr);

}  // namespace entropix::hub
