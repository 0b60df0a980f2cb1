// The shape of a session's tree, read from its nodes (docs/explorer-api.md): a
// node's path is its parent's path up to `at`, then its own tokens. Answers the
// questions a branch needs: how long a path is, which tokens it holds, and where
// a new branch from a point of it hangs.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

namespace entropix::explore {

class SessionTree {
 public:
  // `nodes`: the session's node objects, each with "id", "parent", "at" and "tokens".
  explicit SessionTree(const nlohmann::json& nodes);

  bool has(int64_t node) const { return index_.count(node) > 0; }
  // Positions in the node's path: `at` plus its own tokens.
  int64_t path_length(int64_t node) const;
  // The token object at each position of the node's path, in order.
  std::vector<const nlohmann::json*> path(int64_t node) const;
  // The token ids of the first `length` positions of the node's path.
  std::vector<int32_t> path_ids(int64_t node, int64_t length) const;
  // Where a new branch that parts from `node`'s path at position `at` hangs: the
  // nearest node on that path (the node itself included) whose own tokens start
  // before `at`, or, for `at` at the very end, the node itself; nullopt: a new
  // first answer (at 0, or every node on the path starts at `at` or after).
  std::optional<int64_t> branch_parent(int64_t node, int64_t at) const;

 private:
  struct Entry {
    std::optional<int64_t> parent;
    int64_t at = 0;
    const nlohmann::json* tokens = nullptr;  // the node's own tokens
  };
  const Entry& entry(int64_t node) const;
  std::map<int64_t, Entry> index_;
};

}  // namespace entropix::explore
