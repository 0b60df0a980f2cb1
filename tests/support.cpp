#include "support.h"

#include <cstdlib>
#include <stdexcept>
#include <system_error>

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

TempDir::TempDir() {
  char pattern[] = "/tmp/entropix-test-XXXXXX";
  if (!mkdtemp(pattern)) throw std::runtime_error("cannot make a folder under /tmp");
  path = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

}  // namespace entropix::testing
