#include "support.h"

#include <cstdlib>

#include "core/file_text.h"

namespace entropix::testing {

std::filesystem::path testdata_dir() {
  const char* env = std::getenv("ENTROPIX_TESTDATA");
  if (env && *env) return env;
  return ENTROPIX_DEFAULT_TESTDATA;
}

bool have_testdata() { return std::filesystem::is_directory(testdata_dir() / "models"); }

std::filesystem::path source_dir() { return ENTROPIX_SOURCE_DIR; }

std::string entropix_binary() { return ENTROPIX_BINARY; }

std::string read_file(const std::filesystem::path& path) {
  return entropix::read_file(path, "test file");
}

}  // namespace entropix::testing
