// What tells clients which model answered: the time its file was made (the
// "created" of /v1/models) and a fingerprint of the file and of this build (the
// responses' system_fingerprint: as OpenAI's, a change in it means that the same
// request and seed may now give another answer).
#pragma once

#include <cstdint>
#include <string>

namespace entropix::server {

struct ModelIdentity {
  int64_t created = 0;      // unix seconds: the file's modification time (the load time when it has no file)
  std::string fingerprint;  // "entropix-<version>-<10 hex digits>"
};

// The identity of the GGUF file at `path` (its path, size and modification time);
// `name` stands for the file when `path` is empty or cannot be read (an engine
// loaded by the caller).
ModelIdentity model_identity(const std::string& path, const std::string& name);

}  // namespace entropix::server
