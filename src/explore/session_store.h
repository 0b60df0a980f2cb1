// The explorer's sessions on disk: one SQLite database (WAL mode) holding every
// session, its tree of nodes and every token of every node with its
// alternatives and metrics, so that a reload or a restart finds the same tree.
// Objects go in and out as the JSON of docs/explorer-api.md; a token is stored
// as its JSON text, so the store never needs to know its fields.
//
// Each write is one transaction: a process killed mid-write (kill -9) leaves the
// database as it was before that write, and a generation loses at most the
// tokens not yet appended. Nodes left "generating" by such a death read as
// "stopped" once the store is opened again. Safe to use from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace entropix::explore {

// A new node: where it hangs and why it was made.
struct NodeSpec {
  std::optional<int64_t> parent;  // null: a first answer from the prompt
  int64_t at = 0;                 // answer position where its own tokens start
  std::string origin;             // "root", "pick", "resample", "edit", "step"
  uint64_t seed = 0;
};

class SessionStore {
 public:
  // Opens (creating when absent) the database at `path`, with its folder. Throws
  // Error for a file that is not an explorer database or cannot be written.
  explicit SessionStore(const std::string& path);
  ~SessionStore();
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // A new session from its fields (title, model, mode, prompt, messages, settings,
  // prompt_tokens); returns its id.
  int64_t create_session(const nlohmann::json& session);
  // Summaries, newest first: the session fields but nodes and prompt_tokens, plus
  // n_nodes and n_tokens.
  std::vector<nlohmann::json> list_sessions();
  // The whole session (with `nodes`, each with its `tokens`); nullopt when unknown.
  std::optional<nlohmann::json> session(int64_t id);
  // The same as JSON text, built from the stored tokens' text without parsing them
  // (a large tree goes out in a fraction of the time); `extra` fields are added.
  std::optional<std::string> session_text(int64_t id, const nlohmann::json& extra = nlohmann::json::object());
  // What a generation needs of a session, without the tokens' alternatives: id,
  // settings, mode, model, prompt_tokens and nodes (id, parent, at) with tokens
  // holding only their "ids". Cheap on a large tree; nullopt when unknown.
  std::optional<nlohmann::json> skeleton(int64_t id);
  // Sets title, settings and selected where `patch` has them; false when unknown.
  bool update_session(int64_t id, const nlohmann::json& patch);
  bool delete_session(int64_t id);

  // A node of `session` with status "generating"; returns its id.
  int64_t add_node(int64_t session, const NodeSpec& spec);
  // Tokens of a node from its own position `first` on (replacing any already there).
  void append_tokens(int64_t node, int64_t first, const std::vector<nlohmann::json>& tokens);
  // Ends a node's generation: status "done", "stopped" or "error", and the finish reason.
  void finish_node(int64_t node, const std::string& status, const std::string& finish);
  // Deletes a node of `session` and every node below it; false when unknown.
  bool delete_node(int64_t session, int64_t node);
  // A node's own tokens, in order.
  nlohmann::json tokens(int64_t node);
  // A session's node without its tokens; nullopt when unknown.
  std::optional<nlohmann::json> node(int64_t session, int64_t node);

  // A session from an export (docs/explorer-api.md), with new ids, in one
  // transaction; throws Error naming what is malformed (and stores nothing).
  int64_t import_session(const nlohmann::json& exported);

  const std::string& path() const { return path_; }

 private:
  class Statement;
  void exec(const char* sql);
  nlohmann::json read_nodes(int64_t session);
  std::optional<nlohmann::json> read_head(int64_t session);  // the session's fields but its nodes
  void touch(int64_t session);
  // The sessions row of a session object (or an export); its id. With the lock held.
  int64_t insert_session(const nlohmann::json& session, const std::string& default_title);

  std::string path_;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
};

// The default database: $XDG_DATA_HOME/entropix/explore.db, else ~/.local/share/entropix/explore.db.
std::string default_database_path();

}  // namespace entropix::explore
