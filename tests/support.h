// Helpers shared by the tests: where the external test assets and the project live,
// chat templates against jinja2, the leaves of a JSON value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace entropix {
class ChatTemplate;
}

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

// A tiny random model of an architecture (gen-model's "tiny" shape) in a file under /tmp,
// removed at the end of the scope.
struct TinyModelFile {
  std::filesystem::path path;
  TinyModelFile(const std::string& arch, const std::string& type, uint64_t seed);
  ~TinyModelFile();
  TinyModelFile(const TinyModelFile&) = delete;
  TinyModelFile& operator=(const TinyModelFile&) = delete;
};

// Chat templates rendered by Debian's python3-jinja2 set up as transformers sets it up
// (tests/py/render_jinja.py --cases): the reference our interpreter is compared with.
struct Jinja2Reference {
  bool available = false;
  std::string why_not;             // when not available (no python3, no jinja2)
  nlohmann::ordered_json results;  // [{"name", "ok", "output" | "error"}], one per case
};
// cases: a JSON file [{"name", "context"}]. Throws when the renderer itself fails.
Jinja2Reference render_with_jinja2(const std::filesystem::path& template_path, const std::filesystem::path& cases);

// Renders each case ([{"name", "context"}], as given to render_with_jinja2) with chat and
// expects what jinja2 did with it: the same text, or a refusal. Failures name the case.
struct RenderTally {
  int rendered = 0;  // by both, identically or not
  int refused = 0;   // by jinja2
};
RenderTally expect_renders_like_jinja2(const ChatTemplate& chat, const nlohmann::ordered_json& cases,
                                       const Jinja2Reference& ref);

// The RFC 6901 pointers of a parsed value's leaves (strings, numbers, booleans, null),
// in the value's own order: "" for a scalar, "/a~1b/0" for {"a/b": [1]}.
std::vector<std::string> json_leaf_pointers(const nlohmann::json& value);

}  // namespace entropix::testing

// Skips the current test, by name, when ../shared/testdata is absent.
#define ENTROPIX_REQUIRE_TESTDATA()                                                        \
  do {                                                                                     \
    if (!entropix::testing::have_testdata())                                               \
      GTEST_SKIP() << "external test data not found at " << entropix::testing::testdata_dir() \
                   << " (set ENTROPIX_TESTDATA)";                                          \
  } while (0)
