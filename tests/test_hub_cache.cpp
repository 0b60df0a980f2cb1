// The model cache on a temporary ENTROPIX_CACHE: its location, list, rm and name resolution.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>

#include "core/error.h"
#include "hub/cache.h"
#include "hub/hub.h"

namespace fs = std::filesystem;

namespace {

// Sets (or unsets, for nullopt) an environment variable for the scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    value ? ::setenv(name, value->c_str(), 1) : ::unsetenv(name);
  }
  ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const entropix::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an entropix::Error";
  return "";
}

class HubCache : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("entropix_cache_test_" + std::to_string(::getpid()) + "_" +
                                         std::to_string(std::random_device{}()));
    fs::create_directories(root_);
    env_.emplace("ENTROPIX_CACHE", root_.string());
  }
  void TearDown() override {
    env_.reset();
    fs::remove_all(root_);
  }
  // Puts `bytes` at models/repo/file, with a sidecar unless `sidecar` is false.
  fs::path add(const std::string& repo, const std::string& file, const std::string& bytes,
               bool sidecar = true) {
    const auto path = root_ / "models" / repo / file;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << bytes;
    if (sidecar) {
      entropix::CachedModel m;
      m.repo = repo;
      m.file = file;
      m.size = bytes.size();
      m.revision = "rev-" + file;
      m.sha256 = "sha-" + file;
      m.downloaded_at = "2026-01-02T03:04:05Z";
      m.path = path;
      entropix::hub::write_sidecar(m);
    }
    return path;
  }

  fs::path root_;
  std::optional<ScopedEnv> env_;
};

}  // namespace

TEST(HubCacheDir, FollowsEntropixCacheThenXdgThenHome) {
  ScopedEnv home("HOME", "/home/someone");
  {
    ScopedEnv a("ENTROPIX_CACHE", "/tmp/ec");
    ScopedEnv b("XDG_CACHE_HOME", "/tmp/xdg");
    EXPECT_EQ(entropix::cache_dir(), fs::path("/tmp/ec"));
  }
  {
    ScopedEnv a("ENTROPIX_CACHE", std::nullopt);
    ScopedEnv b("XDG_CACHE_HOME", "/tmp/xdg");
    EXPECT_EQ(entropix::cache_dir(), fs::path("/tmp/xdg/entropix"));
  }
  {
    ScopedEnv a("ENTROPIX_CACHE", "");
    ScopedEnv b("XDG_CACHE_HOME", "relative/ignored");
    EXPECT_EQ(entropix::cache_dir(), fs::path("/home/someone/.cache/entropix"));
  }
  {
    ScopedEnv a("ENTROPIX_CACHE", std::nullopt);
    ScopedEnv b("XDG_CACHE_HOME", std::nullopt);
    ScopedEnv c("HOME", std::nullopt);
    EXPECT_NE(error_of([] { entropix::cache_dir(); }).find("HOME"), std::string::npos);
  }
}

TEST_F(HubCache, EmptyOrMissingCacheListsNothing) {
  EXPECT_TRUE(entropix::list_cached_models().empty());
  fs::remove_all(root_);
  EXPECT_TRUE(entropix::list_cached_models().empty());
}

TEST_F(HubCache, ListShowsFilesWithSidecarFieldsSortedByName) {
  const auto b = add("zed/m-GGUF", "m-Q8_0.gguf", std::string(300, 'b'));
  const auto a = add("acme/tiny-GGUF", "tiny-Q4_K_M.gguf", "aaaa");
  add("acme/tiny-GGUF", "sub/bare.gguf", "cc", /*sidecar=*/false);
  std::ofstream(root_ / "models" / "acme" / "tiny-GGUF" / "partial-Q4_0.gguf.part") << "x";  // not listed
  const auto models = entropix::list_cached_models();
  ASSERT_EQ(models.size(), 3u);
  EXPECT_EQ(models[0].name, "acme/tiny-GGUF/sub/bare.gguf");
  EXPECT_EQ(models[0].repo, "acme/tiny-GGUF");
  EXPECT_EQ(models[0].file, "sub/bare.gguf");
  EXPECT_EQ(models[0].size, 2u);
  EXPECT_EQ(models[0].sha256, "");
  EXPECT_EQ(models[1].name, "acme/tiny-GGUF/tiny-Q4_K_M.gguf");
  EXPECT_EQ(models[1].quant, "Q4_K_M");
  EXPECT_EQ(models[1].size, 4u);
  EXPECT_EQ(models[1].revision, "rev-tiny-Q4_K_M.gguf");
  EXPECT_EQ(models[1].sha256, "sha-tiny-Q4_K_M.gguf");
  EXPECT_EQ(models[1].downloaded_at, "2026-01-02T03:04:05Z");
  EXPECT_EQ(models[1].path, a);
  EXPECT_EQ(models[2].name, "zed/m-GGUF/m-Q8_0.gguf");
  EXPECT_EQ(models[2].quant, "Q8_0");
  EXPECT_EQ(models[2].size, 300u);
  EXPECT_EQ(models[2].path, b);
}

TEST_F(HubCache, CorruptSidecarStillListsTheFile) {
  const auto path = add("o/r", "x-Q4_0.gguf", "abc", false);
  std::ofstream(path.string() + ".json") << "{ not json";
  const auto models = entropix::list_cached_models();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].name, "o/r/x-Q4_0.gguf");
  EXPECT_EQ(models[0].sha256, "");
  std::ofstream(path.string() + ".json") << R"({"sha256": 12, "revision": ["x"]})";
  EXPECT_EQ(entropix::list_cached_models().at(0).sha256, "");
}

TEST_F(HubCache, ResolvesPathsAndEveryNameForm) {
  const auto q4 = add("acme/tiny-GGUF", "tiny-Q4_K_M.gguf", "a").string();
  const auto q8 = add("acme/tiny-GGUF", "tiny-Q8_0.gguf", "b").string();
  const auto other = add("zed/solo-GGUF", "solo.gguf", "c").string();
  EXPECT_EQ(entropix::resolve_model_path(q4), q4);  // an existing path, as is
  EXPECT_EQ(entropix::resolve_model_path("acme/tiny-GGUF:Q4_K_M"), q4);
  EXPECT_EQ(entropix::resolve_model_path("acme/tiny-GGUF:q8_0"), q8);
  EXPECT_EQ(entropix::resolve_model_path("acme/tiny-GGUF:tiny-Q8_0.gguf"), q8);
  EXPECT_EQ(entropix::resolve_model_path("acme/tiny-GGUF/tiny-Q8_0.gguf"), q8);
  EXPECT_EQ(entropix::resolve_model_path("tiny-Q4_K_M.gguf"), q4);
  EXPECT_EQ(entropix::resolve_model_path("zed/solo-GGUF"), other);  // the repo's only file

  auto message = error_of([] { entropix::resolve_model_path("acme/tiny-GGUF"); });
  EXPECT_NE(message.find("ambiguous"), std::string::npos) << message;
  EXPECT_NE(message.find("acme/tiny-GGUF/tiny-Q4_K_M.gguf"), std::string::npos) << message;
  EXPECT_NE(message.find("acme/tiny-GGUF/tiny-Q8_0.gguf"), std::string::npos) << message;

  message = error_of([] { entropix::resolve_model_path("acme/tiny-GGUF:Q6_K"); });
  EXPECT_NE(message.find("neither a model file nor a model in the cache"), std::string::npos) << message;
  EXPECT_NE(message.find("entropix pull"), std::string::npos) << message;
  message = error_of([] { entropix::resolve_model_path("/no/such/file.gguf"); });
  EXPECT_NE(message.find("'/no/such/file.gguf' is neither a model file"), std::string::npos) << message;
}

TEST_F(HubCache, SameFileNameInTwoReposIsAmbiguous) {
  add("a/r", "m-Q4_0.gguf", "1");
  add("b/r", "m-Q4_0.gguf", "2");
  const auto message = error_of([] { entropix::resolve_model_path("m-Q4_0.gguf"); });
  EXPECT_NE(message.find("a/r/m-Q4_0.gguf"), std::string::npos) << message;
  EXPECT_NE(message.find("b/r/m-Q4_0.gguf"), std::string::npos) << message;
  EXPECT_EQ(entropix::resolve_model_path("b/r:Q4_0"), (root_ / "models/b/r/m-Q4_0.gguf").string());
}

TEST_F(HubCache, RemoveDeletesFileSidecarPartAndEmptyFolders) {
  const auto q4 = add("acme/tiny-GGUF", "tiny-Q4_K_M.gguf", "a");
  const auto q8 = add("acme/tiny-GGUF", "tiny-Q8_0.gguf", "b");
  std::ofstream(q4.string() + ".part") << "partial";
  EXPECT_EQ(entropix::remove_cached_model("acme/tiny-GGUF:Q4_K_M"), q4);
  EXPECT_FALSE(fs::exists(q4));
  EXPECT_FALSE(fs::exists(q4.string() + ".json"));
  EXPECT_FALSE(fs::exists(q4.string() + ".part"));
  EXPECT_TRUE(fs::exists(q8));
  ASSERT_EQ(entropix::list_cached_models().size(), 1u);

  const auto message = error_of([] { entropix::remove_cached_model("acme/tiny-GGUF:Q4_K_M"); });
  EXPECT_NE(message.find("no cached model named 'acme/tiny-GGUF:Q4_K_M'"), std::string::npos) << message;

  EXPECT_EQ(entropix::remove_cached_model("tiny-Q8_0.gguf"), q8);
  EXPECT_TRUE(entropix::list_cached_models().empty());
  EXPECT_FALSE(fs::exists(root_ / "models" / "acme"));  // empty owner and repo folders are gone
  EXPECT_TRUE(fs::exists(root_ / "models"));
}

TEST_F(HubCache, RemoveRefusesAmbiguousNames) {
  const auto a = add("a/r", "m-Q4_0.gguf", "1");
  const auto b = add("b/r", "m-Q4_0.gguf", "2");
  EXPECT_THROW(entropix::remove_cached_model("m-Q4_0.gguf"), entropix::Error);
  EXPECT_TRUE(fs::exists(a));
  EXPECT_TRUE(fs::exists(b));
}
