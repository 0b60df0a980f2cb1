// The explorer's models page (/explore/v1/models): the cache's models listed; a
// pull from a fake hub in the background with progress and a cancel; removal,
// refused for the loaded model; a switch of the loaded model, refused while a
// request runs, answered with 503 and Retry-After while it loads, and undone when
// the new model does not load; sessions made with another model get 409.
#include <sys/types.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "core/error.h"
#include "hub/sha256.h"
#include "server_fixture.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::testing;
namespace fs = std::filesystem;

namespace {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};


fs::path demo(const char* file) { return source_dir() / "models/demo" / file; }

// A loader like `serve`'s: the file at `name`, its profile beside it.
server::LoadedModel load(const std::string& name) {
  server::LoadedModel m;
  m.path = name;
  m.decode = demo_server_options().decode;
  m.name = fs::path(name).stem().string();
  EngineOptions eo;
  eo.n_ctx = 2048;
  eo.n_threads = 1;
  set_engine_needs(eo, request_decode_uses(m.decode));
  m.engine = Engine::load(name, eo);
  return m;
}

server::ServerOptions options(const fs::path& dir, server::ModelLoader loader = load) {
  server::ServerOptions o = demo_server_options();
  o.model_name = "demo-q8_0";
  o.model_path = demo("demo-q8_0.gguf").string();
  o.explore_db = (dir / "explore.db").string();
  o.load_model = std::move(loader);
  o.limits.max_tokens = 6000;
  return o;
}

json get(const DemoServer& s, const std::string& path, int expect = 200) {
  auto r = s.client().Get(path.c_str());
  EXPECT_TRUE(r);
  if (!r) return {};
  EXPECT_EQ(r->status, expect) << r->body;
  return json::parse(r->body);
}

// A hub with one repository holding one file, sent slowly (64 KiB every 10 ms).
class SlowHub {
 public:
  explicit SlowHub(std::string bytes) : bytes_(std::move(bytes)) {
    hub::Sha256 h;
    h.update(bytes_);
    sha_ = h.hex_digest();
    server_.Get(R"(/api/models/([^/]+)/([^/]+)/tree/main)", [this](const httplib::Request&, httplib::Response& res) {
      json tree = json::array({{{"type", "file"}, {"path", "tiny-Q8_0.gguf"}, {"size", bytes_.size()},
                                {"oid", std::string(40, 'a')},
                                {"lfs", {{"oid", sha_}, {"size", bytes_.size()}, {"pointerSize", 134}}}}});
      res.set_content(tree.dump(), "application/json");
    });
    server_.Get(R"(/api/models/([^/]+)/([^/]+))", [](const httplib::Request& req, httplib::Response& res) {
      const std::string id = req.matches[1].str() + "/" + req.matches[2].str();
      res.set_content(json{{"id", id}, {"sha", std::string(40, 'b')}, {"siblings", {{{"rfilename", "tiny-Q8_0.gguf"}}}}}.dump(),
                      "application/json");
    });
    server_.Get(R"(/([^/]+)/([^/]+)/resolve/main/(.+))", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content_provider(bytes_.size(), "application/octet-stream",
                               [this](size_t offset, size_t length, httplib::DataSink& sink) {
                                 std::this_thread::sleep_for(std::chrono::milliseconds(10));
                                 const size_t n = std::min<size_t>(length, 64 * 1024);
                                 return sink.write(bytes_.data() + offset, n);
                               });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~SlowHub() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string bytes_, sha_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

json wait_pull(const DemoServer& s) {
  for (int i = 0; i < 3000; ++i) {
    json p = get(s, "/explore/v1/models/pull")["pull"];
    if (p["state"] != "running") return p;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "the pull did not end";
  return {};
}

}  // namespace

TEST(ExploreModels, PullShowsProgressThenTheModelIsListedAndLoadable) {
  TempDir dir;
  ScopedEnv cache("ENTROPIX_CACHE", (dir.path / "cache").string());
  SlowHub hub(read_file(demo("demo-q8_0.gguf")));
  ScopedEnv endpoint("HF_ENDPOINT", hub.url());
  DemoServer s(options(dir.path));
  EXPECT_EQ(get(s, "/explore/v1/models")["models"].size(), 0u);
  EXPECT_EQ(get(s, "/explore/v1/models")["loaded"]["name"], "demo-q8_0");

  const json started = s.post("/explore/v1/models/pull", {{"model", "someone/tiny"}}, 202);
  EXPECT_EQ(started["pull"]["state"], "running");
  expect_api_error(s.raw_post("/explore/v1/models/pull", json({{"model", "someone/tiny"}}).dump()), 409, "pull_running");
  // Progress moves while it runs: bytes grow toward the total.
  uint64_t seen = 0;
  bool saw_partial = false;
  for (int i = 0; i < 3000; ++i) {
    const json p = get(s, "/explore/v1/models/pull")["pull"];
    if (p["state"] != "running") break;
    const uint64_t bytes = p["bytes"];
    EXPECT_GE(bytes, seen);
    seen = bytes;
    if (!p["total"].is_null()) {
      EXPECT_EQ(p["total"], fs::file_size(demo("demo-q8_0.gguf")));
      saw_partial = saw_partial || (bytes > 0 && bytes < p["total"].get<uint64_t>());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(saw_partial) << "no progress was seen between 0 and the total";
  const json done = wait_pull(s);
  EXPECT_EQ(done["state"], "done") << done.dump();
  EXPECT_EQ(done["bytes"], fs::file_size(demo("demo-q8_0.gguf")));
  const json listed = get(s, "/explore/v1/models");
  ASSERT_EQ(listed["models"].size(), 1u);
  EXPECT_EQ(listed["models"][0]["name"], "someone/tiny/tiny-Q8_0.gguf");

  // Load it: /v1/models and new sessions follow.
  const json loaded = s.post("/explore/v1/models/load", {{"model", "someone/tiny:Q8_0"}});
  EXPECT_EQ(loaded["loaded"]["name"], "tiny-Q8_0");
  EXPECT_EQ(get(s, "/v1/models")["data"][0]["id"], "tiny-Q8_0");
  // The loaded model cannot be removed; once another is loaded it can.
  expect_api_error(s.raw_post("/explore/v1/models/remove", json({{"model", "someone/tiny:Q8_0"}}).dump()), 409, "model_loaded");
  s.post("/explore/v1/models/load", {{"model", demo("demo-q8_0.gguf").string()}});
  s.post("/explore/v1/models/remove", {{"model", "someone/tiny:Q8_0"}});
  EXPECT_EQ(get(s, "/explore/v1/models")["models"].size(), 0u);
  expect_api_error(s.raw_post("/explore/v1/models/remove", json({{"model", "someone/tiny:Q8_0"}}).dump()), 404, "model_not_found");
  expect_api_error(s.raw_post("/explore/v1/models/load", json({{"model", "nobody/nothing"}}).dump()), 404, "model_not_found");
}

TEST(ExploreModels, ACancelledPullStopsAndKeepsNothingListed) {
  TempDir dir;
  ScopedEnv cache("ENTROPIX_CACHE", (dir.path / "cache").string());
  SlowHub hub(read_file(demo("demo-f32.gguf")));  // 10 MB: about 1.6 s at this hub's pace
  ScopedEnv endpoint("HF_ENDPOINT", hub.url());
  DemoServer s(options(dir.path));
  s.post("/explore/v1/models/pull", {{"model", "someone/tiny"}}, 202);
  for (int i = 0; i < 1000 && get(s, "/explore/v1/models/pull")["pull"]["bytes"] == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  s.post("/explore/v1/models/pull/cancel", json::object());
  const json p = wait_pull(s);
  EXPECT_EQ(p["state"], "cancelled") << p.dump();
  EXPECT_LT(p["bytes"].get<uint64_t>(), fs::file_size(demo("demo-f32.gguf")));
  EXPECT_EQ(get(s, "/explore/v1/models")["models"].size(), 0u);
}

TEST(ExploreModels, ASwitchWaitsForNoRequestAndMeanwhileRequestsGet503) {
  TempDir dir;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> entered;
  auto slow_loader = [&, released](const std::string& name) {
    if (name == demo("demo-f32.gguf").string()) {
      entered.set_value();
      released.wait();
    }
    return load(name);
  };
  server::ServerOptions o = options(dir.path, slow_loader);
  o.decode.ignore_eos = true;
  DemoServer s(o, 8192);
  const json session = s.post("/explore/v1/sessions", {{"prompt", kArithmeticPrompt}}, 201);
  const std::string base = "/explore/v1/sessions/" + std::to_string(session["id"].get<int>());

  // A long generation holds the model: a switch is refused, nothing changes.
  std::thread long_one([&] {
    httplib::Client c = s.client();
    c.Post((base + "/generate").c_str(), json({{"max_tokens", 6000}}).dump(), "application/json");
  });
  for (int i = 0; i < 500 && get(s, base)["nodes"].empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto busy = s.raw_post("/explore/v1/models/load", json({{"model", demo("demo-f32.gguf").string()}}).dump());
  expect_api_error(busy, 409, "model_busy");
  s.post(base + "/stop", json::object());
  long_one.join();

  // The switch blocks in the loader: meanwhile requests get 503 with Retry-After, /health answers.
  std::thread switcher([&] { s.post("/explore/v1/models/load", {{"model", demo("demo-f32.gguf").string()}}); });
  entered.get_future().wait();
  auto during = s.raw_post("/v1/completions", json({{"prompt", "Q: 1+1?"}, {"max_tokens", 2}}).dump());
  expect_api_error(during, 503, "model_loading");
  EXPECT_EQ(during->get_header_value("Retry-After"), "2");
  EXPECT_EQ(get(s, "/explore/v1/models")["loading"], demo("demo-f32.gguf").string());
  EXPECT_EQ(s.client().Get("/health")->status, 200);
  release.set_value();
  switcher.join();
  EXPECT_EQ(get(s, "/v1/models")["data"][0]["id"], "demo-f32");
  s.post("/v1/completions", {{"prompt", "Q: 1+1?"}, {"max_tokens", 2}});
  // The session was made with demo-q8_0: its token ids belong to that model.
  expect_api_error(s.raw_post(base + "/generate", "{}"), 409, "model_mismatch");
}

TEST(ExploreModels, AModelThatFailsToLoadLeavesThePreviousOneLoaded) {
  TempDir dir;
  auto failing = [](const std::string& name) -> server::LoadedModel {
    if (name.find("broken") != std::string::npos) throw Error("not a GGUF file: " + name);
    return load(name);
  };
  const fs::path broken = dir.path / "broken.gguf";
  std::ofstream(broken) << "junk";
  DemoServer s(options(dir.path, failing));
  expect_api_error(s.raw_post("/explore/v1/models/load", json({{"model", broken.string()}}).dump()), 500, "model_load_failed");
  EXPECT_EQ(get(s, "/explore/v1/models")["loaded"]["name"], "demo-q8_0");
  s.post("/v1/completions", {{"prompt", "Q: 1+1?"}, {"max_tokens", 2}});
}

TEST(ExploreModels, WithoutALoaderTheModelStays) {
  TempDir dir;
  DemoServer s(options(dir.path, nullptr));
  EXPECT_FALSE(get(s, "/explore/v1/models")["can_load"].get<bool>());
  expect_api_error(s.raw_post("/explore/v1/models/load", json({{"model", demo("demo-f32.gguf").string()}}).dump()), 400);
}
