// The explorer's SQLite store (explore/session_store.h): sessions, nodes and tokens
// round-trip; deleting a node takes its subtree; a reopened database shows the
// same tree and marks a generation cut by the process's death as stopped; a
// process killed with SIGKILL while writing leaves a sound database holding a
// prefix of what it wrote; malformed imports and files that are not databases
// are refused with errors and store nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/error.h"
#include "explore/session_store.h"
#include "support.h"

using nlohmann::json;
using entropix::Error;
using entropix::explore::NodeSpec;
using entropix::explore::SessionStore;

namespace {

using entropix::testing::TempDir;

std::string db_path(const TempDir& dir) { return (dir.path / "explore.db").string(); }

json token(int32_t id, const std::string& text) {
  return {{"ids", {id}}, {"text", text}, {"logprob", -0.5}, {"top", json::array({{{"id", id}, {"p", 0.6}}})},
          {"others", 0.4}};
}

json new_session() {
  return {{"title", "story"},
          {"model", "demo"},
          {"mode", "text"},
          {"prompt", "Once"},
          {"settings", {{"sampler", "greedy"}}},
          {"prompt_tokens", json::array({token(1, "Once")})}};
}

}  // namespace

TEST(ExploreStore, SessionsNodesAndTokensRoundTrip) {
  TempDir dir;
  SessionStore store(db_path(dir));
  const int64_t s = store.create_session(new_session());
  const int64_t root = store.add_node(s, {std::nullopt, 0, "root", 7});
  store.append_tokens(root, 0, {token(10, " upon"), token(11, " a")});
  store.append_tokens(root, 2, {token(12, " time")});
  store.finish_node(root, "done", "length");
  const int64_t branch = store.add_node(s, {root, 1, "pick", 8});
  store.append_tokens(branch, 0, {token(13, " the")});
  store.finish_node(branch, "done", "stop");

  const json got = *store.session(s);
  EXPECT_EQ(got["title"], "story");
  EXPECT_EQ(got["prompt"], "Once");
  EXPECT_EQ(got["settings"]["sampler"], "greedy");
  EXPECT_EQ(got["selected"], branch);  // a new node is selected
  ASSERT_EQ(got["nodes"].size(), 2u);
  EXPECT_EQ(got["nodes"][0]["tokens"].size(), 3u);
  EXPECT_EQ(got["nodes"][0]["tokens"][2]["text"], " time");
  EXPECT_EQ(got["nodes"][0]["finish"], "length");
  EXPECT_EQ(got["nodes"][0]["seed"], 7u);
  EXPECT_EQ(got["nodes"][1]["parent"], root);
  EXPECT_EQ(got["nodes"][1]["at"], 1);
  EXPECT_EQ(got["nodes"][1]["origin"], "pick");
  EXPECT_EQ(got["nodes"][1]["tokens"][0], token(13, " the"));

  // The session as text is the same object; a node's tokens alone are its own.
  EXPECT_EQ(json::parse(*store.session_text(s)), got);
  EXPECT_EQ(json::parse(*store.session_text(s, {{"format", "x"}}))["format"], "x");
  EXPECT_EQ(store.tokens(root), got["nodes"][0]["tokens"]);
  EXPECT_FALSE(store.session_text(s + 100).has_value());
  // The skeleton is the same tree with only the ids of each token.
  const json skeleton = *store.skeleton(s);
  ASSERT_EQ(skeleton["nodes"].size(), got["nodes"].size());
  for (size_t i = 0; i < got["nodes"].size(); ++i) {
    EXPECT_EQ(skeleton["nodes"][i]["parent"], got["nodes"][i]["parent"]);
    EXPECT_EQ(skeleton["nodes"][i]["at"], got["nodes"][i]["at"]);
    ASSERT_EQ(skeleton["nodes"][i]["tokens"].size(), got["nodes"][i]["tokens"].size());
    for (size_t t = 0; t < got["nodes"][i]["tokens"].size(); ++t)
      EXPECT_EQ(skeleton["nodes"][i]["tokens"][t], json({{"ids", got["nodes"][i]["tokens"][t]["ids"]}}));
  }
  EXPECT_EQ(skeleton["prompt_tokens"], json::array({{{"ids", {1}}}}));
  EXPECT_FALSE(store.skeleton(s + 100).has_value());

  const auto list = store.list_sessions();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["n_nodes"], 2);
  EXPECT_EQ(list[0]["n_tokens"], 4);
  EXPECT_FALSE(list[0].contains("nodes"));

  EXPECT_TRUE(store.update_session(s, {{"title", "renamed"}, {"selected", root}}));
  EXPECT_EQ((*store.session(s))["title"], "renamed");
  EXPECT_EQ((*store.session(s))["selected"], root);
  EXPECT_FALSE(store.update_session(s + 100, {{"title", "x"}}));
  EXPECT_FALSE(store.session(s + 100).has_value());
  EXPECT_TRUE(store.delete_session(s));
  EXPECT_FALSE(store.session(s).has_value());
  EXPECT_FALSE(store.delete_session(s));
}

TEST(ExploreStore, DeletingANodeTakesItsSubtreeOnly) {
  TempDir dir;
  SessionStore store(db_path(dir));
  const int64_t s = store.create_session(new_session());
  const int64_t root = store.add_node(s, {std::nullopt, 0, "root", 1});
  store.append_tokens(root, 0, {token(10, "a"), token(11, "b"), token(12, "c")});
  const int64_t a = store.add_node(s, {root, 1, "pick", 2});
  store.append_tokens(a, 0, {token(13, "x"), token(14, "y")});
  const int64_t a1 = store.add_node(s, {a, 2, "pick", 3});
  store.append_tokens(a1, 0, {token(15, "z")});
  const int64_t b = store.add_node(s, {root, 2, "pick", 4});
  store.append_tokens(b, 0, {token(16, "w")});
  const int64_t other = store.create_session(new_session());
  const int64_t other_root = store.add_node(other, {std::nullopt, 0, "root", 5});

  EXPECT_FALSE(store.delete_node(other, a));  // a node of another session
  EXPECT_TRUE(store.delete_node(s, a));
  const json got = *store.session(s);
  ASSERT_EQ(got["nodes"].size(), 2u);
  EXPECT_EQ(got["nodes"][0]["id"], root);
  EXPECT_EQ(got["nodes"][1]["id"], b);
  EXPECT_TRUE(store.node(other, other_root).has_value());
  // The selected node (the last added, b, was not deleted) stays; tokens of the deleted are gone.
  EXPECT_EQ(got["selected"], b);
  EXPECT_EQ(store.list_sessions().back()["n_tokens"] .get<int>() + store.list_sessions().front()["n_tokens"].get<int>(), 4);
}

TEST(ExploreStore, ReopeningShowsTheSameTreeAndStopsCutGenerations) {
  TempDir dir;
  json before;
  int64_t s = 0, node = 0;
  {
    SessionStore store(db_path(dir));
    s = store.create_session(new_session());
    node = store.add_node(s, {std::nullopt, 0, "root", 1});
    store.append_tokens(node, 0, {token(10, "a")});
    before = *store.session(s);
    EXPECT_EQ(before["nodes"][0]["status"], "generating");
  }
  SessionStore again(db_path(dir));
  json after = *again.session(s);
  EXPECT_EQ(after["nodes"][0]["status"], "stopped");
  EXPECT_EQ(after["nodes"][0]["finish"], "cancelled");
  after["nodes"][0]["status"] = "generating";
  after["nodes"][0]["finish"] = nullptr;
  EXPECT_EQ(after, before);
}

TEST(ExploreStore, AKilledWriterLeavesASoundDatabaseWithAPrefixOfItsTokens) {
  TempDir dir;
  int64_t s = 0, node = 0;
  {
    SessionStore store(db_path(dir));
    s = store.create_session(new_session());
    node = store.add_node(s, {std::nullopt, 0, "root", 1});
  }
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    SessionStore store(db_path(dir));
    for (int64_t i = 0;; ++i) store.append_tokens(node, i, {token(static_cast<int32_t>(i % 500), std::to_string(i))});
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path(dir).c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "ok");
  sqlite3_finalize(st);
  sqlite3_close(db);

  SessionStore store(db_path(dir));
  const json got = *store.session(s);
  const json& tokens = got["nodes"][0]["tokens"];
  EXPECT_GT(tokens.size(), 0u);
  for (size_t i = 0; i < tokens.size(); ++i) ASSERT_EQ(tokens[i]["text"], std::to_string(i)) << "a gap at " << i;
  EXPECT_EQ(got["nodes"][0]["status"], "stopped");
}

TEST(ExploreStore, ImportGivesNewIdsAndRefusesMalformedTreesWhole) {
  TempDir dir;
  SessionStore store(db_path(dir));
  const int64_t s = store.create_session(new_session());
  const int64_t root = store.add_node(s, {std::nullopt, 0, "root", 1});
  store.append_tokens(root, 0, {token(10, "a"), token(11, "b")});
  store.finish_node(root, "done", "stop");
  const int64_t branch = store.add_node(s, {root, 1, "pick", 2});
  store.append_tokens(branch, 0, {token(12, "c")});
  store.finish_node(branch, "done", "stop");
  json exported = *store.session(s);
  exported["format"] = "entropix-explore";
  exported["version"] = 1;

  const int64_t copy = store.import_session(exported);
  const json got = *store.session(copy);
  ASSERT_EQ(got["nodes"].size(), 2u);
  EXPECT_NE(got["nodes"][0]["id"], root);
  EXPECT_EQ(got["nodes"][1]["parent"], got["nodes"][0]["id"]);
  EXPECT_EQ(got["selected"], got["nodes"][1]["id"]);
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(got["nodes"][i]["tokens"], exported["nodes"][i]["tokens"]);
  EXPECT_EQ(got["prompt_tokens"], exported["prompt_tokens"]);

  const size_t sessions = store.list_sessions().size();
  auto refused = [&](json e, const std::string& why) {
    EXPECT_THROW(store.import_session(e), Error) << why;
    EXPECT_EQ(store.list_sessions().size(), sessions) << why << ": a refused import stored something";
  };
  json e = exported;
  e["format"] = "other";
  refused(e, "format");
  e = exported;
  e["version"] = 2;
  refused(e, "version");
  e = exported;
  std::swap(e["nodes"][0], e["nodes"][1]);
  refused(e, "a child before its parent");
  e = exported;
  e["nodes"][1]["at"] = 3;
  refused(e, "at past the parent's path");
  e = exported;
  e["nodes"][1]["id"] = e["nodes"][0]["id"];
  refused(e, "a repeated id");
  e = exported;
  e["nodes"][1]["tokens"][0] = "text";
  refused(e, "a token that is not an object");
  refused(json::array(), "not an object");
}

TEST(ExploreStore, RefusesFilesThatAreNotItsDatabase) {
  TempDir dir;
  const auto junk = dir.path / "junk.db";
  std::ofstream(junk) << std::string(5000, 'x');
  EXPECT_THROW(SessionStore(junk.string()), Error);
  EXPECT_THROW(SessionStore(dir.path.string()), Error);  // a folder
  // Another program's SQLite database with a newer schema of ours: refused, untouched.
  {
    SessionStore store(db_path(dir));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path(dir).c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value = '99' WHERE key = 'schema'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  try {
    SessionStore store(db_path(dir));
    FAIL() << "a newer schema was opened";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
  }
}

TEST(ExploreStore, CreatesItsFolder) {
  TempDir dir;
  const auto nested = dir.path / "a" / "b" / "explore.db";
  SessionStore store(nested.string());
  EXPECT_TRUE(std::filesystem::exists(nested));
}
