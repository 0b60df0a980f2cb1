#include "support.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

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
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace entropix::testing
