// Parsing `owner/repo[:FILE|:QUANT]` and choosing a GGUF file among a repo's files.
#pragma once

#include <string>
#include <vector>

namespace entropix::hub {

struct ModelSpec {
  std::string repo;   // owner/repo
  std::string file;   // a file path inside the repo, or ""
  std::string quant;  // a quantization tag such as Q4_K_M, or ""
};

// Accepts owner/repo, owner/repo:TAG, owner/repo:path/file.gguf, owner/repo/path/file.gguf.
// Throws Error saying what form was expected.
ModelSpec parse_model_spec(const std::string& spec);

// Throw Error unless `repo` is owner/name made of [A-Za-z0-9._-] (no "." or "..").
void check_repo_id(const std::string& repo);
// Throw Error unless `file` is a relative path without empty, "." or ".." parts, so that
// it cannot leave the cache directory.
void check_repo_file(const std::string& file);

// The quantization tag of a GGUF file name, upper-cased (Q4_K_M, IQ4_XS, BF16, ...); "".
std::string quant_of(const std::string& file);

// The .gguf files among `files` that carry `tag` (case-insensitive): those whose tag is
// exactly `tag`, or, if none, those whose base name contains it.
std::vector<std::string> match_quant(const std::vector<std::string>& files, const std::string& tag);

// The file `spec` asks for among `files` (paths inside spec.repo): its file, the one
// file matching its quant, or with neither Q4_K_M, then Q8_0, then the only .gguf file.
// Throws Error listing the candidates when none or several match.
std::string select_file(const std::vector<std::string>& files, const ModelSpec& spec);

}  // namespace entropix::hub
