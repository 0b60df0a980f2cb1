#include "support.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <system_error>

#include "chat/chat_template.h"
#include "core/error.h"
#include "core/file_text.h"
#include "model/random_model.h"

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

TinyModelFile::TinyModelFile(const std::string& arch, const std::string& type, uint64_t seed) {
  static int serial = 0;  // models of one test program never share a name
  path = std::filesystem::temp_directory_path() / ("entropix_tiny_" + arch + "_" + type + "_" +
                                                   std::to_string(::getpid()) + "_" + std::to_string(serial++) + ".gguf");
  RandomModelOptions o;
  o.arch = arch;
  o.type = type;
  o.seed = seed;
  o.n_threads = 2;
  write_random_model(o, path.string());
}

TinyModelFile::~TinyModelFile() {
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

Jinja2Reference render_with_jinja2(const std::filesystem::path& template_path, const std::filesystem::path& cases) {
  const std::string python = "/usr/bin/python3";  // Debian's, with python3-jinja2 from apt
  Jinja2Reference ref;
  if (!std::filesystem::exists(python)) {
    ref.why_not = python + " not found";
    return ref;
  }
  const std::string cmd = python + " '" + (source_dir() / "tests" / "py" / "render_jinja.py").string() +
                          "' --cases '" + template_path.string() + "' '" + cases.string() + "' 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) {
    ref.why_not = "cannot start " + cmd;
    return ref;
  }
  std::string out;
  std::array<char, 65536> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = pclose(pipe);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 77) {
    ref.why_not = "python3-jinja2 is not importable by " + python;
    return ref;
  }
  if (code != 0) throw std::runtime_error("reference renderer failed (exit " + std::to_string(code) + "): " + cmd);
  ref.results = nlohmann::ordered_json::parse(out);
  ref.available = true;
  return ref;
}

namespace {

// Where two renderings part, with some text around it from each, for a failure message.
std::string first_difference(const std::string& a, const std::string& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  const size_t from = i < 40 ? 0 : i - 40;
  return "first difference at byte " + std::to_string(i) + "\n  ours:   ..." +
         nlohmann::json(a.substr(from, 100)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n  jinja2: ..." +
         nlohmann::json(b.substr(from, 100)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

RenderTally expect_renders_like_jinja2(const ChatTemplate& chat, const nlohmann::ordered_json& cases,
                                       const Jinja2Reference& ref) {
  RenderTally tally;
  EXPECT_EQ(cases.size(), ref.results.size());
  for (size_t i = 0; i < cases.size() && i < ref.results.size(); ++i) {
    const std::string name = cases[i]["name"];
    const nlohmann::ordered_json& r = ref.results[i];
    EXPECT_EQ(r["name"], name);
    std::string ours, our_error;
    bool ok = true;
    try {
      ours = chat.render(cases[i]["context"]);
    } catch (const Error& e) {
      ok = false;
      our_error = e.what();
    }
    if (r["ok"].get<bool>()) {
      ++tally.rendered;
      const std::string expected = r["output"];
      EXPECT_TRUE(ok) << name << ": jinja2 rendered it, we failed: " << our_error;
      if (ok) {
        EXPECT_TRUE(ours == expected) << name << ": " << first_difference(ours, expected);
      }
    } else {
      ++tally.refused;
      EXPECT_FALSE(ok) << name << ": jinja2 failed (" << r["error"].get<std::string>() << ") but we rendered:\n"
                       << ours;
    }
  }
  return tally;
}

namespace {

void collect_leaf_pointers(const nlohmann::json& v, const std::string& at, std::vector<std::string>& out) {
  if (v.is_object()) {
    for (const auto& [key, child] : v.items()) {
      std::string p = at + "/";
      for (char c : key) p += c == '~' ? std::string("~0") : c == '/' ? std::string("~1") : std::string(1, c);
      collect_leaf_pointers(child, p, out);
    }
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) collect_leaf_pointers(v[i], at + "/" + std::to_string(i), out);
  } else {
    out.push_back(at);
  }
}

}  // namespace

std::vector<std::string> json_leaf_pointers(const nlohmann::json& value) {
  std::vector<std::string> out;
  collect_leaf_pointers(value, "", out);
  return out;
}

}  // namespace entropix::testing
