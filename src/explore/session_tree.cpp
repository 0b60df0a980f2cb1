#include "explore/session_tree.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace entropix::explore {

using nlohmann::json;

SessionTree::SessionTree(const json& nodes) {
  static const json kNoTokens = json::array();
  for (const json& n : nodes) {
    Entry e;
    if (n.contains("parent") && n["parent"].is_number_integer()) e.parent = n["parent"].get<int64_t>();
    e.at = n.value("at", int64_t{0});
    e.tokens = n.contains("tokens") && n["tokens"].is_array() ? &n["tokens"] : &kNoTokens;
    index_[n.at("id").get<int64_t>()] = e;
  }
}

const SessionTree::Entry& SessionTree::entry(int64_t node) const {
  const auto it = index_.find(node);
  if (it == index_.end()) throw Error("no node " + std::to_string(node) + " in this session");
  return it->second;
}

int64_t SessionTree::path_length(int64_t node) const {
  const Entry& e = entry(node);
  return e.at + static_cast<int64_t>(e.tokens->size());
}

std::vector<const json*> SessionTree::path(int64_t node) const {
  // Walk up collecting (node, positions it contributes), then lay them out root first.
  std::vector<std::pair<const Entry*, int64_t>> chain;  // entry, how many of its tokens the path takes
  int64_t end = path_length(node);
  for (std::optional<int64_t> id = node; id;) {
    const Entry& e = entry(*id);
    const int64_t take = std::clamp<int64_t>(end - e.at, 0, static_cast<int64_t>(e.tokens->size()));
    chain.emplace_back(&e, take);
    end = std::min(end, e.at);
    if (chain.size() > index_.size()) throw Error("the session's nodes form a cycle");
    id = e.parent;
  }
  std::vector<const json*> out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    for (int64_t i = 0; i < it->second; ++i) out.push_back(&(*it->first->tokens)[static_cast<size_t>(i)]);
  return out;
}

std::vector<int32_t> SessionTree::path_ids(int64_t node, int64_t length) const {
  const std::vector<const json*> p = path(node);
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < length && i < static_cast<int64_t>(p.size()); ++i)
    for (const json& id : p[static_cast<size_t>(i)]->at("ids")) ids.push_back(id.get<int32_t>());
  return ids;
}

std::optional<int64_t> SessionTree::branch_parent(int64_t node, int64_t at) const {
  if (at == path_length(node) && at > 0) return node;  // a continuation hangs at the node's end
  for (std::optional<int64_t> id = node; id;) {
    const Entry& e = entry(*id);
    if (e.at < at) return id;
    id = e.parent;
  }
  return std::nullopt;
}

}  // namespace entropix::explore
