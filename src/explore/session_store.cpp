#include "explore/session_store.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/json_text.h"

namespace entropix::explore {

using nlohmann::json;

namespace {

constexpr int kSchemaVersion = 1;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A token's ids as the `ids` column keeps them, "1,2,3": the tree's shape is read
// from these without parsing every token's JSON.
std::string ids_text(const json& token) {
  std::string out;
  for (const json& id : token.at("ids")) {
    if (!out.empty()) out += ',';
    out += std::to_string(id.get<int64_t>());
  }
  return out;
}

// Text of a JSON value for a column, "" for null.
std::string dump_or_empty(const json& v) { return v.is_null() ? std::string() : json_text(v); }

}  // namespace

// A prepared statement, finalized when it goes out of scope.
class SessionStore::Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw Error(std::string("explorer database: ") + sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, int64_t v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
  Statement& bind(int i, const std::string& v) {
    return check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  Statement& bind_null(int i) { return check(sqlite3_bind_null(stmt_, i)); }
  // True while a row is ready.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error(std::string("explorer database: ") + sqlite3_errmsg(db_));
  }
  void run() {
    while (step()) {
    }
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }
  // A column holding JSON text: null when empty.
  json json_column(int col) const {
    const std::string t = text(col);
    return t.empty() ? json() : json::parse(t, nullptr, false);
  }

 private:
  Statement& check(int rc) {
    if (rc != SQLITE_OK) throw Error(std::string("explorer database: ") + sqlite3_errmsg(db_));
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

std::string default_database_path() {
  namespace fs = std::filesystem;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return (fs::path(xdg) / "entropix" / "explore.db").string();
  const char* home = std::getenv("HOME");
  if (!home || !*home) throw Error("the explorer database needs $XDG_DATA_HOME or $HOME (or --db FILE)");
  return (fs::path(home) / ".local" / "share" / "entropix" / "explore.db").string();
}

SessionStore::SessionStore(const std::string& path) : path_(path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (const fs::path dir = fs::path(path).parent_path(); !dir.empty()) fs::create_directories(dir, ec);
  if (fs::is_directory(path, ec)) throw Error("explorer database " + path + ": is a folder, expected a file");
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw Error("explorer database " + path + ": " + why);
  }
  try {
    sqlite3_busy_timeout(db_, 5000);  // another process on the same file: wait, do not fail at once
    // WAL: readers never block the writer, and a killed writer leaves the last
    // committed state; NORMAL sync is durable against a process crash.
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec(
        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS sessions(id INTEGER PRIMARY KEY, title TEXT NOT NULL, created INTEGER NOT NULL,"
        " updated INTEGER NOT NULL, model TEXT NOT NULL, mode TEXT NOT NULL, prompt TEXT NOT NULL, messages TEXT NOT NULL,"
        " settings TEXT NOT NULL, prompt_tokens TEXT NOT NULL, selected INTEGER);"
        "CREATE TABLE IF NOT EXISTS nodes(id INTEGER PRIMARY KEY, session INTEGER NOT NULL, parent INTEGER,"
        " at INTEGER NOT NULL, origin TEXT NOT NULL, status TEXT NOT NULL, finish TEXT NOT NULL, created INTEGER NOT NULL,"
        " seed INTEGER NOT NULL);"
        "CREATE INDEX IF NOT EXISTS nodes_by_session ON nodes(session);"
        "CREATE TABLE IF NOT EXISTS tokens(node INTEGER NOT NULL, idx INTEGER NOT NULL, ids TEXT NOT NULL,"
        " data TEXT NOT NULL,"
        " PRIMARY KEY(node, idx)) WITHOUT ROWID;");
    Statement version(db_, "SELECT value FROM meta WHERE key = 'schema'");
    if (version.step()) {
      if (version.text(0) != std::to_string(kSchemaVersion))
        throw Error("schema version " + version.text(0) + ", this entropix reads version " + std::to_string(kSchemaVersion));
    } else {
      Statement(db_, "INSERT INTO meta(key, value) VALUES ('schema', ?1)").bind(1, std::to_string(kSchemaVersion)).run();
    }
    // A generation cut by the death of the last process.
    exec("UPDATE nodes SET status = 'stopped', finish = 'cancelled' WHERE status = 'generating'");
  } catch (const Error& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error("explorer database " + path + ": " + e.what());
  }
}

SessionStore::~SessionStore() { sqlite3_close(db_); }

void SessionStore::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string why = message ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    throw Error(why);
  }
}

namespace {

// BEGIN IMMEDIATE ... COMMIT, rolled back when an exception leaves the scope.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { run("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    run("COMMIT");
    done_ = true;
  }

 private:
  void run(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      throw Error(std::string("explorer database: ") + sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  bool done_ = false;
};

}  // namespace

int64_t SessionStore::create_session(const json& s) {
  std::lock_guard<std::mutex> lock(mutex_);
  return insert_session(s, "Untitled");
}

int64_t SessionStore::insert_session(const json& s, const std::string& default_title) {
  const int64_t now = unix_now();
  Statement st(db_,
               "INSERT INTO sessions(title, created, updated, model, mode, prompt, messages, settings, prompt_tokens,"
               " selected) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL)");
  st.bind(1, s.value("title", default_title))
      .bind(2, s.contains("created") && s["created"].is_number_integer() ? s["created"].get<int64_t>() : now)
      .bind(3, now)
      .bind(4, s.value("model", std::string()))
      .bind(5, s.value("mode", std::string("text")))
      .bind(6, s.contains("prompt") && s["prompt"].is_string() ? s["prompt"].get<std::string>() : std::string())
      .bind(7, dump_or_empty(s.value("messages", json())))
      .bind(8, json_text(s.value("settings", json::object())))
      .bind(9, json_text(s.value("prompt_tokens", json::array())));
  st.run();
  return sqlite3_last_insert_rowid(db_);
}

namespace {

json session_row(const std::string& mode, const std::string& prompt, const json& messages) {
  json j;
  j["mode"] = mode;
  j["prompt"] = mode == "chat" ? json() : json(prompt);
  j["messages"] = messages;
  return j;
}

}  // namespace

std::vector<json> SessionStore::list_sessions() {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement st(db_,
               "SELECT s.id, s.title, s.created, s.updated, s.model, s.mode, s.prompt, s.messages, s.settings,"
               " s.selected, (SELECT COUNT(*) FROM nodes n WHERE n.session = s.id),"
               " (SELECT COUNT(*) FROM tokens t JOIN nodes n ON t.node = n.id WHERE n.session = s.id)"
               " FROM sessions s ORDER BY s.updated DESC, s.id DESC");
  std::vector<json> out;
  while (st.step()) {
    json j = session_row(st.text(5), st.text(6), st.json_column(7));
    j["id"] = st.integer(0);
    j["title"] = st.text(1);
    j["created"] = st.integer(2);
    j["updated"] = st.integer(3);
    j["model"] = st.text(4);
    j["settings"] = st.json_column(8);
    j["selected"] = st.is_null(9) ? json() : json(st.integer(9));
    j["n_nodes"] = st.integer(10);
    j["n_tokens"] = st.integer(11);
    out.push_back(std::move(j));
  }
  return out;
}

std::optional<json> SessionStore::skeleton(int64_t session) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement ss(db_, "SELECT settings, prompt_tokens, mode, model FROM sessions WHERE id = ?1");
  ss.bind(1, session);
  if (!ss.step()) return std::nullopt;
  json j = {{"id", session}, {"settings", ss.json_column(0)}, {"mode", ss.text(2)}, {"model", ss.text(3)}};
  json prompt = json::array();
  for (const json& t : ss.json_column(1)) prompt.push_back({{"ids", t.at("ids")}});
  j["prompt_tokens"] = std::move(prompt);
  json nodes = json::array();
  std::map<int64_t, size_t> index;
  Statement st(db_, "SELECT id, parent, at FROM nodes WHERE session = ?1 ORDER BY id");
  st.bind(1, session);
  while (st.step()) {
    index[st.integer(0)] = nodes.size();
    nodes.push_back({{"id", st.integer(0)},
                     {"parent", st.is_null(1) ? json() : json(st.integer(1))},
                     {"at", st.integer(2)},
                     {"tokens", json::array()}});
  }
  Statement tk(db_,
               "SELECT t.node, t.ids FROM tokens t JOIN nodes n ON t.node = n.id WHERE n.session = ?1"
               " ORDER BY t.node, t.idx");
  tk.bind(1, session);
  while (tk.step()) {
    json ids = json::array();
    const std::string text = tk.text(1);
    for (size_t at = 0; at < text.size();) {
      size_t end = text.find(',', at);
      if (end == std::string::npos) end = text.size();
      ids.push_back(std::stoll(text.substr(at, end - at)));
      at = end + 1;
    }
    const auto it = index.find(tk.integer(0));
    if (it != index.end()) nodes[it->second]["tokens"].push_back({{"ids", std::move(ids)}});
  }
  j["nodes"] = std::move(nodes);
  return j;
}

json SessionStore::read_nodes(int64_t session) {
  json nodes = json::array();
  std::map<int64_t, size_t> index;
  Statement st(db_,
               "SELECT id, parent, at, origin, status, finish, created, seed FROM nodes WHERE session = ?1 ORDER BY id");
  st.bind(1, session);
  while (st.step()) {
    json n;
    n["id"] = st.integer(0);
    n["parent"] = st.is_null(1) ? json() : json(st.integer(1));
    n["at"] = st.integer(2);
    n["origin"] = st.text(3);
    n["status"] = st.text(4);
    n["finish"] = st.text(5).empty() ? json() : json(st.text(5));
    n["created"] = st.integer(6);
    n["seed"] = static_cast<uint64_t>(st.integer(7));
    n["tokens"] = json::array();
    index[st.integer(0)] = nodes.size();
    nodes.push_back(std::move(n));
  }
  Statement tk(db_,
               "SELECT t.node, t.data FROM tokens t JOIN nodes n ON t.node = n.id WHERE n.session = ?1"
               " ORDER BY t.node, t.idx");
  tk.bind(1, session);
  while (tk.step()) {
    const auto it = index.find(tk.integer(0));
    if (it != index.end()) nodes[it->second]["tokens"].push_back(tk.json_column(1));
  }
  return nodes;
}

std::optional<json> SessionStore::read_head(int64_t id) {
  Statement st(db_,
               "SELECT title, created, updated, model, mode, prompt, messages, settings, prompt_tokens, selected"
               " FROM sessions WHERE id = ?1");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  json j = session_row(st.text(4), st.text(5), st.json_column(6));
  j["id"] = id;
  j["title"] = st.text(0);
  j["created"] = st.integer(1);
  j["updated"] = st.integer(2);
  j["model"] = st.text(3);
  j["settings"] = st.json_column(7);
  j["prompt_tokens"] = st.json_column(8);
  j["selected"] = st.is_null(9) ? json() : json(st.integer(9));
  return j;
}

std::optional<json> SessionStore::session(int64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::optional<json> j = read_head(id);
  if (j) (*j)["nodes"] = read_nodes(id);
  return j;
}

std::optional<std::string> SessionStore::session_text(int64_t id, const json& extra) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::optional<json> head = read_head(id);
  if (!head) return std::nullopt;
  for (const auto& [key, value] : extra.items()) (*head)[key] = value;
  // The tokens go out as stored: no parse and dump of each one.
  std::vector<std::pair<int64_t, std::string>> nodes;  // id, its object's text up to its tokens
  std::map<int64_t, size_t> index;
  Statement st(db_,
               "SELECT id, parent, at, origin, status, finish, created, seed FROM nodes WHERE session = ?1 ORDER BY id");
  st.bind(1, id);
  while (st.step()) {
    json n = {{"id", st.integer(0)},
              {"parent", st.is_null(1) ? json() : json(st.integer(1))},
              {"at", st.integer(2)},
              {"origin", st.text(3)},
              {"status", st.text(4)},
              {"finish", st.text(5).empty() ? json() : json(st.text(5))},
              {"created", st.integer(6)},
              {"seed", static_cast<uint64_t>(st.integer(7))}};
    std::string text = json_text(n);
    text.back() = ',';
    text += "\"tokens\":[";
    index[st.integer(0)] = nodes.size();
    nodes.emplace_back(st.integer(0), std::move(text));
  }
  std::vector<bool> any(nodes.size(), false);
  Statement tk(db_,
               "SELECT t.node, t.data FROM tokens t JOIN nodes n ON t.node = n.id WHERE n.session = ?1"
               " ORDER BY t.node, t.idx");
  tk.bind(1, id);
  while (tk.step()) {
    const auto it = index.find(tk.integer(0));
    if (it == index.end()) continue;
    std::string& text = nodes[it->second].second;
    if (any[it->second]) text += ',';
    any[it->second] = true;
    text += tk.text(1);
  }
  std::string out = json_text(*head);
  out.back() = ',';
  out += "\"nodes\":[";
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (i) out += ',';
    out += nodes[i].second;
    out += "]}";
  }
  out += "]}";
  return out;
}

void SessionStore::touch(int64_t session) {
  Statement(db_, "UPDATE sessions SET updated = ?2 WHERE id = ?1").bind(1, session).bind(2, unix_now()).run();
}

bool SessionStore::update_session(int64_t id, const json& patch) {
  std::lock_guard<std::mutex> lock(mutex_);
  Transaction tx(db_);
  Statement exists(db_, "SELECT 1 FROM sessions WHERE id = ?1");
  exists.bind(1, id);
  if (!exists.step()) return false;
  if (patch.contains("title"))
    Statement(db_, "UPDATE sessions SET title = ?2 WHERE id = ?1").bind(1, id).bind(2, patch["title"].get<std::string>()).run();
  if (patch.contains("settings"))
    Statement(db_, "UPDATE sessions SET settings = ?2 WHERE id = ?1").bind(1, id).bind(2, json_text(patch["settings"])).run();
  if (patch.contains("selected")) {
    Statement st(db_, "UPDATE sessions SET selected = ?2 WHERE id = ?1");
    st.bind(1, id);
    if (patch["selected"].is_null()) st.bind_null(2);
    else st.bind(2, patch["selected"].get<int64_t>());
    st.run();
  }
  touch(id);
  tx.commit();
  return true;
}

bool SessionStore::delete_session(int64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  Transaction tx(db_);
  Statement(db_, "DELETE FROM tokens WHERE node IN (SELECT id FROM nodes WHERE session = ?1)").bind(1, id).run();
  Statement(db_, "DELETE FROM nodes WHERE session = ?1").bind(1, id).run();
  Statement(db_, "DELETE FROM sessions WHERE id = ?1").bind(1, id).run();
  const bool deleted = sqlite3_changes(db_) > 0;
  tx.commit();
  return deleted;
}

int64_t SessionStore::add_node(int64_t session, const NodeSpec& spec) {
  std::lock_guard<std::mutex> lock(mutex_);
  Transaction tx(db_);
  Statement st(db_,
               "INSERT INTO nodes(session, parent, at, origin, status, finish, created, seed)"
               " VALUES (?1, ?2, ?3, ?4, 'generating', '', ?5, ?6)");
  st.bind(1, session);
  if (spec.parent) st.bind(2, *spec.parent);
  else st.bind_null(2);
  st.bind(3, spec.at).bind(4, spec.origin).bind(5, unix_now()).bind(6, static_cast<int64_t>(spec.seed));
  st.run();
  const int64_t id = sqlite3_last_insert_rowid(db_);
  Statement(db_, "UPDATE sessions SET selected = ?2 WHERE id = ?1").bind(1, session).bind(2, id).run();
  touch(session);
  tx.commit();
  return id;
}

void SessionStore::append_tokens(int64_t node, int64_t first, const std::vector<json>& tokens) {
  if (tokens.empty()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  Transaction tx(db_);
  Statement st(db_, "INSERT OR REPLACE INTO tokens(node, idx, ids, data) VALUES (?1, ?2, ?3, ?4)");
  for (size_t i = 0; i < tokens.size(); ++i) {
    st.bind(1, node)
        .bind(2, first + static_cast<int64_t>(i))
        .bind(3, ids_text(tokens[i]))
        .bind(4, json_text(tokens[i]));
    st.run();
    st.reset();
  }
  tx.commit();
}

void SessionStore::finish_node(int64_t node, const std::string& status, const std::string& finish) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement(db_, "UPDATE nodes SET status = ?2, finish = ?3 WHERE id = ?1").bind(1, node).bind(2, status).bind(3, finish).run();
}

bool SessionStore::delete_node(int64_t session, int64_t node) {
  std::lock_guard<std::mutex> lock(mutex_);
  Transaction tx(db_);
  Statement exists(db_, "SELECT 1 FROM nodes WHERE id = ?1 AND session = ?2");
  exists.bind(1, node).bind(2, session);
  if (!exists.step()) return false;
  static const char* kSubtree =
      "WITH RECURSIVE sub(id) AS (SELECT ?1 UNION ALL SELECT n.id FROM nodes n JOIN sub ON n.parent = sub.id)"
      " SELECT id FROM sub";
  Statement(db_, (std::string("DELETE FROM tokens WHERE node IN (") + kSubtree + ")").c_str()).bind(1, node).run();
  Statement(db_, (std::string("DELETE FROM nodes WHERE id IN (") + kSubtree + ")").c_str()).bind(1, node).run();
  // The selected node may be gone: select the deleted node's parent (or nothing).
  Statement(db_,
            "UPDATE sessions SET selected = (SELECT MAX(id) FROM nodes WHERE session = ?1)"
            " WHERE id = ?1 AND selected NOT IN (SELECT id FROM nodes WHERE session = ?1)")
      .bind(1, session)
      .run();
  touch(session);
  tx.commit();
  return true;
}

json SessionStore::tokens(int64_t node) {
  std::lock_guard<std::mutex> lock(mutex_);
  json out = json::array();
  Statement st(db_, "SELECT data FROM tokens WHERE node = ?1 ORDER BY idx");
  st.bind(1, node);
  while (st.step()) out.push_back(st.json_column(0));
  return out;
}

std::optional<json> SessionStore::node(int64_t session, int64_t node) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement st(db_,
               "SELECT parent, at, origin, status, finish, created, seed FROM nodes WHERE id = ?1 AND session = ?2");
  st.bind(1, node).bind(2, session);
  if (!st.step()) return std::nullopt;
  json n;
  n["id"] = node;
  n["parent"] = st.is_null(0) ? json() : json(st.integer(0));
  n["at"] = st.integer(1);
  n["origin"] = st.text(2);
  n["status"] = st.text(3);
  n["finish"] = st.text(4).empty() ? json() : json(st.text(4));
  n["created"] = st.integer(5);
  n["seed"] = static_cast<uint64_t>(st.integer(6));
  return n;
}

int64_t SessionStore::import_session(const json& e) {
  if (!e.is_object()) throw Error("an import is a JSON object (an export of a session)");
  if (e.value("format", std::string()) != "entropix-explore")
    throw Error("an import needs \"format\": \"entropix-explore\"");
  if (!e.contains("version") || !e["version"].is_number_integer() || e["version"].get<int64_t>() != 1)
    throw Error("an import needs \"version\": 1");
  const json& nodes = e.contains("nodes") ? e["nodes"] : json::array();
  if (!nodes.is_array()) throw Error("\"nodes\" must be an array");
  std::lock_guard<std::mutex> lock(mutex_);
  Transaction tx(db_);
  const int64_t now = unix_now();
  const int64_t session = insert_session(e, "Imported");
  std::map<int64_t, int64_t> new_id;   // export id -> new id
  std::map<int64_t, int64_t> path_end; // new id -> length of its path
  Statement sn(db_,
               "INSERT INTO nodes(session, parent, at, origin, status, finish, created, seed)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  Statement st(db_, "INSERT INTO tokens(node, idx, ids, data) VALUES (?1, ?2, ?3, ?4)");
  for (size_t i = 0; i < nodes.size(); ++i) {
    const json& n = nodes[i];
    const std::string where = "nodes[" + std::to_string(i) + "]";
    if (!n.is_object() || !n.contains("id") || !n["id"].is_number_integer())
      throw Error(where + " needs an integer \"id\"");
    const int64_t old_id = n["id"].get<int64_t>();
    if (new_id.count(old_id)) throw Error(where + " repeats id " + std::to_string(old_id));
    const json parent = n.value("parent", json());
    const int64_t at = n.contains("at") && n["at"].is_number_integer() ? n["at"].get<int64_t>() : -1;
    if (!parent.is_null() && (!parent.is_number_integer() || !new_id.count(parent.get<int64_t>())))
      throw Error(where + ": its parent must be a node listed before it");
    const int64_t limit = parent.is_null() ? 0 : path_end[new_id[parent.get<int64_t>()]];
    if (at < 0 || at > limit || (parent.is_null() && at != 0))
      throw Error(where + ": \"at\" must be within its parent's path (0.." + std::to_string(limit) + ")");
    const json& tokens = n.contains("tokens") ? n["tokens"] : json::array();
    if (!tokens.is_array()) throw Error(where + ": \"tokens\" must be an array");
    for (size_t t = 0; t < tokens.size(); ++t)
      if (!tokens[t].is_object() || !tokens[t].contains("ids") || !tokens[t]["ids"].is_array())
        throw Error(where + ".tokens[" + std::to_string(t) + "] needs an \"ids\" array");
    std::string status = n.value("status", std::string("done"));
    if (status == "generating") status = "stopped";
    sn.bind(1, session);
    if (parent.is_null()) sn.bind_null(2);
    else sn.bind(2, new_id[parent.get<int64_t>()]);
    sn.bind(3, at)
        .bind(4, n.value("origin", std::string("root")))
        .bind(5, status)
        .bind(6, n.contains("finish") && n["finish"].is_string() ? n["finish"].get<std::string>() : std::string())
        .bind(7, n.contains("created") && n["created"].is_number_integer() ? n["created"].get<int64_t>() : now)
        .bind(8, n.contains("seed") && n["seed"].is_number_integer() ? static_cast<int64_t>(n["seed"].get<uint64_t>()) : 0);
    sn.run();
    sn.reset();
    const int64_t id = sqlite3_last_insert_rowid(db_);
    new_id[old_id] = id;
    path_end[id] = at + static_cast<int64_t>(tokens.size());
    for (size_t t = 0; t < tokens.size(); ++t) {
      st.bind(1, id).bind(2, static_cast<int64_t>(t)).bind(3, ids_text(tokens[t])).bind(4, json_text(tokens[t]));
      st.run();
      st.reset();
    }
  }
  if (e.contains("selected") && e["selected"].is_number_integer() && new_id.count(e["selected"].get<int64_t>()))
    Statement(db_, "UPDATE sessions SET selected = ?2 WHERE id = ?1").bind(1, session).bind(2, new_id[e["selected"].get<int64_t>()]).run();
  tx.commit();
  return session;
}

}  // namespace entropix::explore
