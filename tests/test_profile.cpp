// Profiles: defaults, JSON round trip, errors for bad files, lookup beside the
// model and in the XDG cache, and the shipped default profile.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "entropix/profile.h"
#include "support.h"

using namespace entropix;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("entropix-test-profile-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string error_of(const nlohmann::json& j) {
  try {
    profile_from_json(j, "test.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Profile, DefaultsAreTheMethodConstants) {
  const Profile p;
  EXPECT_EQ(p.base.temperature, 0.666);
  EXPECT_EQ(p.base.top_p, 0.90);
  EXPECT_EQ(p.base.top_k, 27);
  EXPECT_EQ(p.base.min_p, 0.03);
  EXPECT_EQ(p.adaptive.n_candidates, 5);
  EXPECT_EQ(p.helv.thinking_text, " Wait,");
  EXPECT_EQ(p.helv.temp_max, 1.5);
  EXPECT_EQ(p.hehv.temp_min, 2.0);
  EXPECT_EQ(p.lehv.top_k_min, 5);
  EXPECT_EQ(p.adaptive.top_k_max, 100);
  EXPECT_NO_THROW(validate_profile(p));
}

TEST(Profile, JsonRoundTripKeepsEveryField) {
  Profile p;
  p.model = "m.gguf";
  p.policy = PolicyVariant::V2;
  p.thresholds = {0.2, 2.5, 0.3, 4.5};
  p.v2.agreement_high = 0.5;
  p.helv.thinking_text = " Hmm,";
  p.helv.thinking_budget = 7;
  p.adaptive.n_candidates = 9;
  p.branching = true;
  const fs::path dir = temp_dir("roundtrip");
  save_profile(p, dir / "sub" / "x.profile.json");
  const Profile q = load_profile(dir / "sub" / "x.profile.json");
  EXPECT_EQ(profile_to_json(q), profile_to_json(p));
  EXPECT_EQ(q.policy, PolicyVariant::V2);
  EXPECT_EQ(q.helv.thinking_text, " Hmm,");
  EXPECT_EQ(q.thresholds.varentropy_high, 4.5);
  fs::remove_all(dir);
}

TEST(Profile, PartialFileKeepsDefaults) {
  const Profile p = profile_from_json(nlohmann::json{{"thresholds", {{"entropy_low", 0.25}}}});
  EXPECT_EQ(p.thresholds.entropy_low, 0.25);
  EXPECT_EQ(p.thresholds.entropy_high, Profile{}.thresholds.entropy_high);
  EXPECT_EQ(p.base.top_k, 27);
}

TEST(Profile, BadFilesGiveClearErrors) {
  std::string e = error_of({{"thresholds", {{"entrpy_low", 0.2}}}, {"colour", "red"}});
  EXPECT_NE(e.find("test.json"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown field 'thresholds.entrpy_low'"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown field 'colour'"), std::string::npos) << e;
  e = error_of({{"base", {{"top_k", "27"}}}});
  EXPECT_NE(e.find("field 'base.top_k': expected a 32-bit integer, found a string (\"27\")"), std::string::npos) << e;
  e = error_of({{"base", {{"top_k", 2.5}}}});
  EXPECT_NE(e.find("found a number (2.5)"), std::string::npos) << e;
  e = error_of({{"helv", 3}});
  EXPECT_NE(e.find("field 'helv': expected an object, found an integer (3)"), std::string::npos) << e;
  e = error_of({{"policy", "v3"}});
  EXPECT_NE(e.find("field 'policy': expected \"v1\" or \"v2\""), std::string::npos) << e;
  e = error_of({{"version", 2}});
  EXPECT_NE(e.find("field 'version': expected 1, found 2"), std::string::npos) << e;
  e = error_of({{"thresholds", {{"entropy_low", 4.0}}}});
  EXPECT_NE(e.find("thresholds.entropy_low must be < thresholds.entropy_high"), std::string::npos) << e;
  e = error_of({{"base", {{"top_p", 1.5}}}});
  EXPECT_NE(e.find("base.top_p must be in (0, 1], found 1.5"), std::string::npos) << e;
  EXPECT_NE(error_of(nlohmann::json::array()).find("expected a JSON object"), std::string::npos);

  const fs::path dir = temp_dir("bad");
  {
    std::ofstream(dir / "broken.json") << "{ \"base\": ";
  }
  try {
    load_profile(dir / "broken.json");
    FAIL() << "expected an error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("broken.json: not valid JSON"), std::string::npos) << err.what();
  }
  EXPECT_THROW(load_profile(dir / "missing.json"), Error);
  fs::remove_all(dir);
}

TEST(Profile, FoundBesideTheModelThenInTheXdgCache) {
  const fs::path dir = temp_dir("find");
  const fs::path cache = dir / "cache";
  ::unsetenv("ENTROPIX_CACHE");
  ::setenv("XDG_CACHE_HOME", cache.c_str(), 1);
  const fs::path model = dir / "models" / "tiny-q8.gguf";
  fs::create_directories(model.parent_path());
  const auto cands = profile_candidates(model);
  ASSERT_EQ(cands.size(), 2u);
  EXPECT_EQ(cands[0], dir / "models" / "tiny-q8.profile.json");
  EXPECT_EQ(cands[1], cache / "entropix" / "profiles" / "tiny-q8.gguf.profile.json");
  EXPECT_FALSE(find_profile(model).has_value());
  save_profile(Profile{}, cands[1]);
  EXPECT_EQ(find_profile(model), cands[1]);
  save_profile(Profile{}, cands[0]);
  EXPECT_EQ(find_profile(model), cands[0]);  // beside the model wins
  ::unsetenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (home && *home) {
    EXPECT_EQ(profile_candidates(model)[1], fs::path(home) / ".cache" / "entropix" / "profiles" / "tiny-q8.gguf.profile.json");
  }
  fs::remove_all(dir);
}

// The profile lookup follows the model cache's folder: ENTROPIX_CACHE wins over XDG.
TEST(Profile, CacheCandidateIsInTheModelCacheFolder) {
  const fs::path dir = temp_dir("entropix-cache");
  ::setenv("XDG_CACHE_HOME", (dir / "xdg").c_str(), 1);
  ::setenv("ENTROPIX_CACHE", (dir / "ec").c_str(), 1);
  const fs::path model = dir / "models" / "tiny-q8.gguf";
  const auto cands = profile_candidates(model);
  ::unsetenv("ENTROPIX_CACHE");
  ::unsetenv("XDG_CACHE_HOME");
  ASSERT_EQ(cands.size(), 2u);
  EXPECT_EQ(cands[1], dir / "ec" / "profiles" / "tiny-q8.gguf.profile.json");
  EXPECT_EQ(cands[1].parent_path().parent_path(), dir / "ec");
  fs::remove_all(dir);
}

TEST(Profile, ShippedDefaultProfileLoadsAsTheDefaults) {
  const Profile p = load_profile(entropix::testing::source_dir() / "profiles" / "default.profile.json");
  nlohmann::json a = profile_to_json(p), b = profile_to_json(Profile{});
  a.erase("model");
  a.erase("description");
  b.erase("model");
  b.erase("description");
  EXPECT_EQ(a, b);
}
