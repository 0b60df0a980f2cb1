// Helpers shared by the tests: where the external test assets and the project live.
#pragma once

#include <filesystem>
#include <string>

namespace entropix::testing {

// ../shared/testdata unless ENTROPIX_TESTDATA says otherwise.
std::filesystem::path testdata_dir();
// Whether the external assets are present; tests that need them GTEST_SKIP with the reason.
bool have_testdata();
std::filesystem::path source_dir();
std::string entropix_binary();
std::string read_file(const std::filesystem::path& path);

// A new empty folder under /tmp, removed with everything in it at the end of the scope.
struct TempDir {
  std::filesystem::path path;
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace entropix::testing

// Skips the current test, by name, when ../shared/testdata is absent.
#define ENTROPIX_REQUIRE_TESTDATA()                                                        \
  do {                                                                                     \
    if (!entropix::testing::have_testdata())                                               \
      GTEST_SKIP() << "external test data not found at " << entropix::testing::testdata_dir() \
                   << " (set ENTROPIX_TESTDATA)";                                          \
  } while (0)
