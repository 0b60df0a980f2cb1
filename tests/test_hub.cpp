// pull_model() against a fake hub (httplib::Server on 127.0.0.1, ephemeral port): file
// choice, resume with Range, servers that ignore Range, checksums, HTTP errors, tokens,
// redirects, cancellation, and the cache it leaves behind.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "hub/hub.h"
#include "hub/progress.h"
#include "hub/sha256.h"
#include "support.h"

namespace fs = std::filesystem;

namespace {

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

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = char(rng());
  return s;
}

// A hub serving the model API and file bytes, with switches for misbehaviour.
class FakeHub {
 public:
  struct File {
    std::string bytes;
    std::string advertised_sha256;                 // what the tree endpoint claims
    std::optional<std::uint64_t> advertised_size;  // what it claims, if not the real size
    bool blob_missing = false;                     // listed, but /resolve answers 404
  };
  struct Seen {
    std::string path;
    std::string range;          // the Range header, "" if none
    std::string authorization;  // the Authorization header, "" if none
    std::string cursor;         // the tree page asked for, "" if none
  };

  // Switches; read by the server thread under mu_, so set them before a pull.
  std::optional<std::size_t> cut_after;  // the next file response stops after this many body bytes
  bool ignore_range = false;             // answer 200 with the whole file to a Range request
  bool redirect = false;                 // /resolve/ answers 302 to /cdn/...
  std::string required_token;            // when set, anything else gets 401
  bool gate_downloads_only = false;      // required_token applies to file bytes only (gated repos)
  bool bad_content_range = false;        // answer a Range request with 206 and the whole file
  std::size_t page_size = 0;             // when set, the tree comes in pages of this many entries
  std::atomic<bool>* cancel = nullptr;   // set once `cancel_at` body bytes went out; the rest is slow
  std::size_t cancel_at = 0;

  FakeHub() {
    server_.Get(R"(/api/models/([^/]+)/([^/]+)/tree/main)", [this](const auto& req, auto& res) {
      if (!admit(req, res)) return;
      const auto* repo = find_repo(req.matches[1].str() + "/" + req.matches[2].str(), res);
      if (!repo) return;
      nlohmann::json tree = nlohmann::json::array();
      tree.push_back({{"type", "directory"}, {"oid", std::string(40, 'd')}, {"size", 0}, {"path", "docs"}});
      for (const auto& [path, file] : repo->files) {
        const auto size = file.advertised_size.value_or(file.bytes.size());
        nlohmann::json entry = {
            {"type", "file"}, {"oid", std::string(40, 'a')}, {"size", size}, {"path", path}};
        if (path.ends_with(".gguf"))
          entry["lfs"] = {{"oid", file.advertised_sha256}, {"size", size}, {"pointerSize", 134}};
        tree.push_back(entry);
      }
      std::lock_guard lock(mu_);
      if (page_size > 0) {
        const std::size_t from = req.has_param("cursor") ? std::stoul(req.get_param_value("cursor")) : 0;
        const std::size_t to = std::min(tree.size(), from + page_size);
        if (to < tree.size())
          res.set_header("Link", "<" + endpoint() + req.path +
                                     "?recursive=true&cursor=" + std::to_string(to) + ">; rel=\"next\"");
        tree = nlohmann::json(std::vector<nlohmann::json>(tree.begin() + from, tree.begin() + to));
      }
      res.set_content(tree.dump(), "application/json");
    });
    server_.Get(R"(/api/models/([^/]+)/([^/]+))", [this](const auto& req, auto& res) {
      if (!admit(req, res)) return;
      const std::string id = req.matches[1].str() + "/" + req.matches[2].str();
      const auto* repo = find_repo(id, res);
      if (!repo) return;
      nlohmann::json siblings = nlohmann::json::array();
      for (const auto& [path, file] : repo->files) siblings.push_back({{"rfilename", path}});
      res.set_content(nlohmann::json{{"id", id}, {"sha", revision(id)}, {"siblings", siblings}}.dump(),
                      "application/json");
    });
    server_.Get(R"(/([^/]+)/([^/]+)/resolve/main/(.+))", [this](const auto& req, auto& res) {
      if (!admit(req, res)) return;
      bool redirecting;
      {
        std::lock_guard lock(mu_);
        redirecting = redirect;
      }
      if (redirecting)
        res.set_redirect("/cdn/" + req.matches[1].str() + "/" + req.matches[2].str() + "/" +
                         req.matches[3].str());
      else
        serve(req.matches[1].str() + "/" + req.matches[2].str(), req.matches[3].str(), req, res);
    });
    server_.Get(R"(/cdn/([^/]+)/([^/]+)/(.+))", [this](const auto& req, auto& res) {
      if (!admit(req, res)) return;
      serve(req.matches[1].str() + "/" + req.matches[2].str(), req.matches[3].str(), req, res);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 5000 && !server_.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeHub() {
    server_.stop();
    thread_.join();
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  static std::string revision(const std::string& repo) {
    return entropix::hub::sha256_hex(repo).substr(0, 40);
  }

  void add(const std::string& repo, const std::string& path, const std::string& bytes) {
    std::lock_guard lock(mu_);
    repos_[repo].files[path] = File{bytes, entropix::hub::sha256_hex(bytes), std::nullopt, false};
  }
  void edit(const std::string& repo, const std::string& path, const std::function<void(File&)>& change) {
    std::lock_guard lock(mu_);
    change(repos_.at(repo).files.at(path));
  }
  void set(const std::function<void(FakeHub&)>& change) {
    std::lock_guard lock(mu_);
    change(*this);
  }
  std::vector<Seen> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  // The requests for file bytes (/resolve/ and /cdn/).
  std::vector<Seen> downloads() {
    std::vector<Seen> out;
    for (auto& s : seen())
      if (s.path.find("/resolve/") != std::string::npos || s.path.starts_with("/cdn/")) out.push_back(s);
    return out;
  }
  void clear_seen() {
    std::lock_guard lock(mu_);
    seen_.clear();
  }

 private:
  struct Repo {
    std::map<std::string, File> files;
  };

  bool admit(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu_);
    seen_.push_back({req.path, req.get_header_value("Range"), req.get_header_value("Authorization"),
                     req.get_param_value("cursor")});
    const bool file_bytes = req.path.find("/resolve/") != std::string::npos || req.path.starts_with("/cdn/");
    if (!required_token.empty() && (file_bytes || !gate_downloads_only) &&
        req.get_header_value("Authorization") != "Bearer " + required_token) {
      res.status = 401;
      res.set_content(R"({"error":"Invalid username or password."})", "application/json");
      return false;
    }
    return true;
  }

  const Repo* find_repo(const std::string& id, httplib::Response& res) {
    std::lock_guard lock(mu_);
    const auto it = repos_.find(id);
    if (it != repos_.end()) return &it->second;
    res.status = 404;
    res.set_content(R"({"error":"Repository not found"})", "application/json");
    return nullptr;
  }

  void serve(const std::string& repo, const std::string& path, const httplib::Request& req,
             httplib::Response& res) {
    // Ranges are this hub's business: keep httplib from applying them a second time.
    const_cast<httplib::Request&>(req).ranges.clear();
    std::lock_guard lock(mu_);
    const auto r = repos_.find(repo);
    if (r == repos_.end() || !r->second.files.count(path) || r->second.files.at(path).blob_missing) {
      res.status = 404;
      res.set_content("Entry not found", "text/plain");
      return;
    }
    const std::string bytes = r->second.files.at(path).bytes;
    std::size_t start = 0;
    const std::string range = req.get_header_value("Range");
    if (!range.empty() && bad_content_range) {
      res.status = 206;
      res.set_header("Content-Range",
                     "bytes 0-" + std::to_string(bytes.size() - 1) + "/" + std::to_string(bytes.size()));
    } else if (!range.empty() && !ignore_range) {
      start = std::stoull(range.substr(range.find('=') + 1));
      if (start >= bytes.size()) {
        res.status = 416;
        return;
      }
      res.status = 206;
      res.set_header("Content-Range", "bytes " + std::to_string(start) + "-" +
                                          std::to_string(bytes.size() - 1) + "/" +
                                          std::to_string(bytes.size()));
    } else {
      res.status = 200;
    }
    const auto cut = std::exchange(cut_after, std::nullopt);
    auto* cancel_flag = std::exchange(cancel, nullptr);
    const std::size_t cancel_offset = cancel_at;
    res.set_content_provider(bytes.size() - start, "application/octet-stream",
                             [bytes, start, cut, cancel_flag, cancel_offset](
                                 std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                               if (cut && offset >= *cut) return false;  // drop the connection mid-body
                               std::size_t chunk = std::min<std::size_t>(length, 16384);
                               if (cut) chunk = std::min(chunk, *cut - offset);
                               if (cancel_flag && offset >= cancel_offset) {
                                 cancel_flag->store(true);
                                 std::this_thread::sleep_for(std::chrono::milliseconds(20));
                               }
                               return sink.write(bytes.data() + start + offset, chunk);
                             });
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::map<std::string, Repo> repos_;
  std::vector<Seen> seen_;
};

class HubPull : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("entropix_pull_test_" + std::to_string(::getpid()) + "_" +
                                         std::to_string(std::random_device{}()));
    cache_env_.emplace("ENTROPIX_CACHE", root_.string());
    token_env_.emplace("HF_TOKEN", std::nullopt);
    q4_ = random_bytes(300000, 1);
    q8_ = random_bytes(200001, 2);
    hub_.add("acme/tiny-GGUF", "tiny-Q4_K_M.gguf", q4_);
    hub_.add("acme/tiny-GGUF", "tiny-Q4_K_S.gguf", random_bytes(1000, 3));
    hub_.add("acme/tiny-GGUF", "tiny-Q8_0.gguf", q8_);
    hub_.add("acme/tiny-GGUF", "README.md", "# tiny\n");
    options_.endpoint = hub_.endpoint();
    options_.progress = false;
  }
  void TearDown() override {
    cache_env_.reset();
    token_env_.reset();
    fs::remove_all(root_);
  }
  fs::path cached(const std::string& file) const { return root_ / "models" / "acme" / "tiny-GGUF" / file; }
  static std::string part_of(const fs::path& p) { return p.string() + ".part"; }

  FakeHub hub_;
  fs::path root_;
  std::optional<ScopedEnv> cache_env_, token_env_;
  std::string q4_, q8_;
  entropix::PullOptions options_;
};

}  // namespace

TEST_F(HubPull, DefaultPicksQ4KMAndWritesFileAndSidecar) {
  const auto path = entropix::pull_model("acme/tiny-GGUF", options_);
  EXPECT_EQ(path, cached("tiny-Q4_K_M.gguf"));
  EXPECT_EQ(entropix::testing::read_file(path), q4_);
  EXPECT_FALSE(fs::exists(part_of(path)));
  const auto sidecar = nlohmann::json::parse(entropix::testing::read_file(path.string() + ".json"));
  EXPECT_EQ(sidecar.at("repo"), "acme/tiny-GGUF");
  EXPECT_EQ(sidecar.at("file"), "tiny-Q4_K_M.gguf");
  EXPECT_EQ(sidecar.at("revision"), FakeHub::revision("acme/tiny-GGUF"));
  EXPECT_EQ(sidecar.at("size"), q4_.size());
  EXPECT_EQ(sidecar.at("sha256"), entropix::hub::sha256_hex(q4_));
  EXPECT_EQ(sidecar.at("downloaded_at").get<std::string>().size(), 20u);  // 2026-11-29T04:11:26Z

  const auto seen = hub_.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].path, "/api/models/acme/tiny-GGUF");
  EXPECT_EQ(seen[1].path, "/api/models/acme/tiny-GGUF/tree/main");
  EXPECT_EQ(seen[2].path, "/acme/tiny-GGUF/resolve/main/tiny-Q4_K_M.gguf");
  EXPECT_EQ(seen[2].range, "");
  EXPECT_EQ(seen[2].authorization, "");

  const auto models = entropix::list_cached_models();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].name, "acme/tiny-GGUF/tiny-Q4_K_M.gguf");
  EXPECT_EQ(models[0].quant, "Q4_K_M");
  EXPECT_EQ(entropix::resolve_model_path("acme/tiny-GGUF:Q4_K_M"), path.string());
}

TEST_F(HubPull, QuantTagAndFileNameSelectTheFile) {
  EXPECT_EQ(entropix::pull_model("acme/tiny-GGUF:q8_0", options_), cached("tiny-Q8_0.gguf"));
  EXPECT_EQ(entropix::testing::read_file(cached("tiny-Q8_0.gguf")), q8_);
  EXPECT_EQ(entropix::pull_model("acme/tiny-GGUF:tiny-Q4_K_S.gguf", options_), cached("tiny-Q4_K_S.gguf"));
  EXPECT_EQ(entropix::list_cached_models().size(), 2u);
}

TEST_F(HubPull, AmbiguousOrMissingQuantListsCandidatesAndDownloadsNothing) {
  auto message = error_of([&] { entropix::pull_model("acme/tiny-GGUF:Q4_K", options_); });
  EXPECT_NE(message.find("ambiguous"), std::string::npos) << message;
  EXPECT_NE(message.find("tiny-Q4_K_M.gguf"), std::string::npos) << message;
  EXPECT_NE(message.find("tiny-Q4_K_S.gguf"), std::string::npos) << message;
  message = error_of([&] { entropix::pull_model("acme/tiny-GGUF:Q6_K", options_); });
  EXPECT_NE(message.find("matches quantization 'Q6_K'"), std::string::npos) << message;
  EXPECT_NE(message.find("tiny-Q8_0.gguf"), std::string::npos) << message;
  message = error_of([&] { entropix::pull_model("acme/tiny-GGUF:nothere.gguf", options_); });
  EXPECT_NE(message.find("file 'nothere.gguf' not found in repository acme/tiny-GGUF"), std::string::npos)
      << message;
  EXPECT_TRUE(hub_.downloads().empty());
  EXPECT_FALSE(fs::exists(root_ / "models"));
}

TEST_F(HubPull, InterruptedTransferResumesWithRange) {
  hub_.set([](FakeHub& h) { h.cut_after = 100000; });
  const auto target = cached("tiny-Q4_K_M.gguf");
  const auto message = error_of([&] { entropix::pull_model("acme/tiny-GGUF:Q4_K_M", options_); });
  EXPECT_NE(message.find("run the same pull again to resume"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(target));
  ASSERT_TRUE(fs::exists(part_of(target)));
  EXPECT_EQ(fs::file_size(part_of(target)), 100000u);
  EXPECT_TRUE(entropix::list_cached_models().empty());  // a .part is not a model

  hub_.clear_seen();
  EXPECT_EQ(entropix::pull_model("acme/tiny-GGUF:Q4_K_M", options_), target);
  EXPECT_EQ(entropix::testing::read_file(target), q4_);
  EXPECT_FALSE(fs::exists(part_of(target)));
  const auto downloads = hub_.downloads();
  ASSERT_EQ(downloads.size(), 1u);
  EXPECT_EQ(downloads[0].range, "bytes=100000-");
}

TEST_F(HubPull, ServerIgnoringRangeRestartsCleanly) {
  hub_.set([](FakeHub& h) { h.cut_after = 50000; });
  const auto target = cached("tiny-Q8_0.gguf");
  EXPECT_THROW(entropix::pull_model("acme/tiny-GGUF:Q8_0", options_), entropix::Error);
  ASSERT_EQ(fs::file_size(part_of(target)), 50000u);
  hub_.set([](FakeHub& h) { h.ignore_range = true; });
  hub_.clear_seen();
  EXPECT_EQ(entropix::pull_model("acme/tiny-GGUF:Q8_0", options_), target);
  EXPECT_EQ(entropix::testing::read_file(target), q8_);  // not the old prefix twice
  const auto downloads = hub_.downloads();
  ASSERT_EQ(downloads.size(), 1u);
  EXPECT_EQ(downloads[0].range, "bytes=50000-");
}

TEST_F(HubPull, PartialResponseFromTheWrongOffsetStartsOver) {
  hub_.set([](FakeHub& h) { h.cut_after = 70000; });
  const auto target = cached("tiny-Q8_0.gguf");
  EXPECT_THROW(entropix::pull_model("acme/tiny-GGUF:Q8_0", options_), entropix::Error);
  hub_.set([](FakeHub& h) { h.bad_content_range = true; });
  hub_.clear_seen();
  EXPECT_EQ(entropix::pull_model("acme/tiny-GGUF:Q8_0", options_), target);
  EXPECT_EQ(entropix::testing::read_file(target), q8_);
  const auto downloads = hub_.downloads();
  ASSERT_EQ(downloads.size(), 2u);
  EXPECT_EQ(downloads[0].range, "bytes=70000-");
  EXPECT_EQ(downloads[1].range, "");
}

TEST_F(HubPull, ChecksumMismatchRemovesTheDownload) {
  hub_.edit("acme/tiny-GGUF", "tiny-Q8_0.gguf",
            [](auto& f) { f.advertised_sha256 = entropix::hub::sha256_hex("something else"); });
  const auto message = error_of([&] { entropix::pull_model("acme/tiny-GGUF:Q8_0", options_); });
  EXPECT_NE(message.find("checksum mismatch for tiny-Q8_0.gguf"), std::string::npos) << message;
  EXPECT_NE(message.find(entropix::hub::sha256_hex(q8_)), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(cached("tiny-Q8_0.gguf")));
  EXPECT_FALSE(fs::exists(part_of(cached("tiny-Q8_0.gguf"))));
}

TEST_F(HubPull, CorruptPartialFileIsCaughtByTheChecksumThenRefetched) {
  const auto target = cached("tiny-Q4_K_M.gguf");
  fs::create_directories(target.parent_path());
  std::string prefix = q4_.substr(0, 1000);
  prefix[500] ^= 1;
  std::ofstream(part_of(target), std::ios::binary) << prefix;
  const auto message = error_of([&] { entropix::pull_model("acme/tiny-GGUF:Q4_K_M", options_); });
  EXPECT_NE(message.find("checksum mismatch"), std::string::npos) << message;
  EXPECT_EQ(hub_.downloads().back().range, "bytes=1000-");
  EXPECT_FALSE(fs::exists(part_of(target)));
  EXPECT_EQ(entropix::pull_model("acme/tiny-GGUF:Q4_K_M", options_), target);
  EXPECT_EQ(entropix::testing::read_file(target), q4_);
}

TEST_F(HubPull, OversizedPartialFileStartsOver) {
  const auto target = cached("tiny-Q8_0.gguf");
  fs::create_directories(target.parent_path());
  std::ofstream(part_of(target), std::ios::binary) << q8_ << "trailing junk";
  EXPECT_EQ(entropix::pull_model("acme/tiny-GGUF:Q8_0", options_), target);
  EXPECT_EQ(entropix::testing::read_file(target), q8_);
  EXPECT_EQ(hub_.downloads().back().range, "");
}

TEST_F(HubPull, MoreBytesThanAdvertisedIsAnError) {
  hub_.edit("acme/tiny-GGUF", "tiny-Q8_0.gguf", [](auto& f) { f.advertised_size = 1000; });
  const auto message = error_of([&] { entropix::pull_model("acme/tiny-GGUF:Q8_0", options_); });
  EXPECT_NE(message.find("expected 1000 bytes, the server sent more"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(cached("tiny-Q8_0.gguf")));
}

TEST_F(HubPull, MissingRepoIsNamed) {
  const auto message = error_of([&] { entropix::pull_model("nobody/missing-GGUF:Q4_K_M", options_); });
  EXPECT_NE(message.find("repository nobody/missing-GGUF not found (HTTP 404"), std::string::npos) << message;
}

TEST_F(HubPull, MissingFileIsNamedAndLeavesNothing) {
  hub_.edit("acme/tiny-GGUF", "tiny-Q8_0.gguf", [](auto& f) { f.blob_missing = true; });
  const auto message = error_of([&] { entropix::pull_model("acme/tiny-GGUF:Q8_0", options_); });
  EXPECT_NE(message.find("file tiny-Q8_0.gguf not found (HTTP 404"), std::string::npos) << message;
  EXPECT_NE(message.find("/acme/tiny-GGUF/resolve/main/tiny-Q8_0.gguf"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(cached("tiny-Q8_0.gguf")));
  EXPECT_FALSE(fs::exists(part_of(cached("tiny-Q8_0.gguf"))));
}

TEST_F(HubPull, TokenFromHfTokenIsSentAndRequiredWhenGated) {
  hub_.set([](FakeHub& h) { h.required_token = "hf_secret"; });
  auto message = error_of([&] { entropix::pull_model("acme/tiny-GGUF:Q8_0", options_); });
  EXPECT_NE(message.find("HTTP 401"), std::string::npos) << message;
  EXPECT_NE(message.find("set HF_TOKEN"), std::string::npos) << message;

  {
    ScopedEnv token("HF_TOKEN", "hf_wrong");
    message = error_of([&] { entropix::pull_model("acme/tiny-GGUF:Q8_0", options_); });
    EXPECT_NE(message.find("the token in HF_TOKEN was refused"), std::string::npos) << message;
  }

  ScopedEnv token("HF_TOKEN", "hf_secret");
  hub_.clear_seen();
  EXPECT_EQ(entropix::pull_model("acme/tiny-GGUF:Q8_0", options_), cached("tiny-Q8_0.gguf"));
  EXPECT_EQ(entropix::testing::read_file(cached("tiny-Q8_0.gguf")), q8_);
  const auto seen = hub_.seen();
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& s : seen) EXPECT_EQ(s.authorization, "Bearer hf_secret") << s.path;
}

TEST_F(HubPull, ExplicitTokenOptionOverridesTheEnvironment) {
  hub_.set([](FakeHub& h) { h.required_token = "hf_opt"; });
  ScopedEnv token("HF_TOKEN", "hf_env");
  options_.token = "hf_opt";
  EXPECT_NO_THROW(entropix::pull_model("acme/tiny-GGUF:Q8_0", options_));
}

TEST_F(HubPull, FollowsTheCdnRedirectAndResumesThere) {
  hub_.set([](FakeHub& h) {
    h.redirect = true;
    h.cut_after = 123457;
  });
  EXPECT_THROW(entropix::pull_model("acme/tiny-GGUF", options_), entropix::Error);
  hub_.clear_seen();
  EXPECT_EQ(entropix::pull_model("acme/tiny-GGUF", options_), cached("tiny-Q4_K_M.gguf"));
  EXPECT_EQ(entropix::testing::read_file(cached("tiny-Q4_K_M.gguf")), q4_);
  const auto downloads = hub_.downloads();
  ASSERT_EQ(downloads.size(), 2u);
  EXPECT_EQ(downloads[0].path, "/acme/tiny-GGUF/resolve/main/tiny-Q4_K_M.gguf");
  EXPECT_EQ(downloads[1].path, "/cdn/acme/tiny-GGUF/tiny-Q4_K_M.gguf");
  EXPECT_EQ(downloads[1].range, "bytes=123457-");
}

TEST_F(HubPull, CancellationKeepsAResumablePart) {
  std::atomic<bool> cancel{false};
  const std::string big = random_bytes(2 << 20, 9);
  hub_.add("acme/tiny-GGUF", "big-Q5_K_M.gguf", big);
  hub_.set([&](FakeHub& h) {
    h.cancel = &cancel;
    h.cancel_at = 200000;
  });
  options_.cancel = &cancel;
  const auto target = cached("big-Q5_K_M.gguf");
  const auto message = error_of([&] { entropix::pull_model("acme/tiny-GGUF:Q5_K_M", options_); });
  EXPECT_NE(message.find("interrupted"), std::string::npos) << message;
  ASSERT_TRUE(fs::exists(part_of(target)));
  // The hub raised the flag after sending 200000 bytes; the client stops at once, so
  // it kept at most what arrived by then.
  const auto kept = fs::file_size(part_of(target));
  EXPECT_LT(kept, big.size());

  cancel = false;
  hub_.clear_seen();
  EXPECT_EQ(entropix::pull_model("acme/tiny-GGUF:Q5_K_M", options_), target);
  EXPECT_EQ(entropix::testing::read_file(target), big);
  EXPECT_EQ(hub_.downloads().at(0).range, kept > 0 ? "bytes=" + std::to_string(kept) + "-" : "");
}

TEST_F(HubPull, CachedCopyIsNotDownloadedAgainUnlessForced) {
  entropix::pull_model("acme/tiny-GGUF:Q8_0", options_);
  hub_.clear_seen();
  EXPECT_EQ(entropix::pull_model("acme/tiny-GGUF:Q8_0", options_), cached("tiny-Q8_0.gguf"));
  EXPECT_TRUE(hub_.downloads().empty());
  options_.force = true;
  entropix::pull_model("acme/tiny-GGUF:Q8_0", options_);
  EXPECT_EQ(hub_.downloads().size(), 1u);
  EXPECT_EQ(entropix::testing::read_file(cached("tiny-Q8_0.gguf")), q8_);
}

TEST_F(HubPull, NewRevisionOnTheHubReplacesTheCachedCopy) {
  entropix::pull_model("acme/tiny-GGUF:Q8_0", options_);
  const std::string updated = random_bytes(5000, 77);
  hub_.add("acme/tiny-GGUF", "tiny-Q8_0.gguf", updated);
  entropix::pull_model("acme/tiny-GGUF:Q8_0", options_);
  EXPECT_EQ(entropix::testing::read_file(cached("tiny-Q8_0.gguf")), updated);
  EXPECT_EQ(entropix::list_cached_models().at(0).sha256, entropix::hub::sha256_hex(updated));
}

TEST_F(HubPull, EndpointFromHfEndpointWithTrailingSlash) {
  ScopedEnv endpoint("HF_ENDPOINT", hub_.endpoint() + "/");
  options_.endpoint.reset();
  options_.progress = true;  // not a terminal under ctest: plain lines on stderr
  EXPECT_EQ(entropix::pull_model("acme/tiny-GGUF:Q8_0", options_), cached("tiny-Q8_0.gguf"));
}

TEST_F(HubPull, UnreachableHubIsAClearError) {
  // A port that was free a moment ago: bound, then closed without listening.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(fd);
  const std::string dead = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  options_.endpoint = dead;
  const auto message = error_of([&] { entropix::pull_model("acme/tiny-GGUF", options_); });
  EXPECT_NE(message.find("cannot fetch " + dead + "/api/models/acme/tiny-GGUF"), std::string::npos)
      << message;
}

TEST_F(HubPull, HostileFileNamesCannotLeaveTheCache) {
  hub_.add("evil/repo", "../../../escape-Q4_K_M.gguf", "x");
  const auto message = error_of([&] { entropix::pull_model("evil/repo", options_); });
  EXPECT_NE(message.find("relative file path"), std::string::npos) << message;
  EXPECT_TRUE(hub_.downloads().empty());
  EXPECT_FALSE(fs::exists(root_.parent_path() / "escape-Q4_K_M.gguf"));
}

TEST_F(HubPull, GatedDownloadExplainsHfToken) {
  hub_.set([](FakeHub& h) {
    h.required_token = "hf_secret";
    h.gate_downloads_only = true;
  });
  const auto message = error_of([&] { entropix::pull_model("acme/tiny-GGUF:Q8_0", options_); });
  EXPECT_NE(message.find("access to file tiny-Q8_0.gguf denied (HTTP 401"), std::string::npos) << message;
  EXPECT_NE(message.find("set HF_TOKEN"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(part_of(cached("tiny-Q8_0.gguf"))));  // nothing arrived, nothing kept
  options_.token = "hf_secret";
  EXPECT_EQ(entropix::pull_model("acme/tiny-GGUF:Q8_0", options_), cached("tiny-Q8_0.gguf"));
}

TEST_F(HubPull, PaginatedTreeIsFollowed) {
  hub_.set([](FakeHub& h) { h.page_size = 2; });  // 1 directory + 4 files: 3 pages
  EXPECT_EQ(entropix::pull_model("acme/tiny-GGUF:Q8_0", options_), cached("tiny-Q8_0.gguf"));
  EXPECT_EQ(entropix::testing::read_file(cached("tiny-Q8_0.gguf")), q8_);
  std::vector<std::string> cursors;
  for (const auto& s : hub_.seen())
    if (s.path.ends_with("/tree/main")) cursors.push_back(s.cursor);
  EXPECT_EQ(cursors, (std::vector<std::string>{"", "2", "4"}));
}

TEST_F(HubPull, ConcurrentPullOfTheSameFileIsRefused) {
  const auto target = cached("tiny-Q8_0.gguf");
  fs::create_directories(target.parent_path());
  const int fd = ::open(part_of(target).c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);  // as another pull would hold it
  const auto message = error_of([&] { entropix::pull_model("acme/tiny-GGUF:Q8_0", options_); });
  EXPECT_NE(message.find("another download of tiny-Q8_0.gguf is in progress"), std::string::npos) << message;
  EXPECT_TRUE(hub_.downloads().empty());
  ::close(fd);
  EXPECT_EQ(entropix::pull_model("acme/tiny-GGUF:Q8_0", options_), target);
}

TEST_F(HubPull, NotEnoughDiskSpaceFailsBeforeDownloading) {
  hub_.edit("acme/tiny-GGUF", "tiny-Q8_0.gguf", [](auto& f) { f.advertised_size = 1ull << 60; });
  const auto message = error_of([&] { entropix::pull_model("acme/tiny-GGUF:Q8_0", options_); });
  EXPECT_NE(message.find("not enough disk space for tiny-Q8_0.gguf: expected 1.0 EiB free"),
            std::string::npos)
      << message;
  EXPECT_TRUE(hub_.downloads().empty());
}

TEST(HubProgress, FormatsBytesDurationsAndLines) {
  using namespace entropix::hub;
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(5ull << 30), "5.0 GiB");
  EXPECT_EQ(format_bytes(UINT64_MAX), "16.0 EiB");
  EXPECT_EQ(format_duration(42.4), "42s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(7620), "2h07m");
  EXPECT_EQ(format_duration(-1), "?");
  EXPECT_EQ(progress_line("m.gguf", 512 << 20, 1024ull << 20, 64 << 20, 10),
            "m.gguf  50% [#####.....] 512.0 MiB / 1.0 GiB  64.0 MiB/s  ETA 8s");
  EXPECT_EQ(progress_line("m.gguf", 2048, std::nullopt, 0, 10), "m.gguf 2.0 KiB  0 B/s");
  EXPECT_EQ(progress_line("m.gguf", 10, 10, 5, 4), "m.gguf 100% [####] 10 B / 10 B  5 B/s");
}
