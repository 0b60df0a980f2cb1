#include "server/model_identity.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>

#include "core/version.h"
#include "hub/sha256.h"

namespace entropix::server {

ModelIdentity model_identity(const std::string& path, const std::string& name) {
  constexpr size_t kFingerprintDigits = 10;  // as OpenAI's fp_ values: short, and plenty to tell builds apart
  ModelIdentity id;
  // The file as the file system knows it: a model replaced in place (a new download,
  // another quantization under the same name) changes size or time, and so the fingerprint.
  std::string file = "name:" + name;
  struct stat st {};
  if (!path.empty() && ::stat(path.c_str(), &st) == 0) {
    std::error_code ec;
    const std::filesystem::path canonical = std::filesystem::weakly_canonical(path, ec);
    file = "file:" + (ec ? path : canonical.string()) + "\n" + std::to_string(st.st_size) + "\n" +
           std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
    id.created = st.st_mtim.tv_sec;
  } else {
    id.created = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch()).count();
  }
  id.fingerprint = std::string("entropix-") + kVersion + "-" +
                   hub::sha256_hex(std::string(kVersion) + "\n" + file).substr(0, kFingerprintDigits);
  return id;
}

}  // namespace entropix::server
