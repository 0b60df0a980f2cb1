// The shape of an explorer session (explore/session_tree.h), checked against a
// direct reading of the definition on random trees: a node's path is its
// parent's path up to `at`, then its own tokens; a branch from position p of a
// path hangs on the nearest node of that path whose own tokens start before p.
#include <gtest/gtest.h>

#include <random>

#include "explore/session_tree.h"

using nlohmann::json;
using entropix::explore::SessionTree;

namespace {

// Reference: the path's token ids, built recursively from the definition.
std::vector<int32_t> reference_path(const json& nodes, int64_t id) {
  for (const json& n : nodes) {
    if (n["id"] != id) continue;
    std::vector<int32_t> out;
    if (!n["parent"].is_null()) {
      out = reference_path(nodes, n["parent"].get<int64_t>());
      out.resize(static_cast<size_t>(n["at"].get<int64_t>()));
    }
    for (const json& t : n["tokens"]) out.push_back(t["ids"][0].get<int32_t>());
    return out;
  }
  return {};
}

}  // namespace

TEST(ExploreTree, PathsAndBranchPointsMatchTheDefinitionOnRandomTrees) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    json nodes = json::array();
    const int n_nodes = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n_nodes; ++i) {
      json n = {{"id", 10 + i}, {"parent", nullptr}, {"at", 0}, {"tokens", json::array()}};
      if (i > 0 && rng() % 5 != 0) {
        const json& p = nodes[rng() % nodes.size()];
        const int64_t plen = static_cast<int64_t>(reference_path(nodes, p["id"].get<int64_t>()).size());
        n["parent"] = p["id"];
        n["at"] = static_cast<int64_t>(rng() % static_cast<uint32_t>(plen + 1));
      }
      const int len = static_cast<int>(rng() % 6);
      for (int t = 0; t < len; ++t) n["tokens"].push_back({{"ids", {static_cast<int32_t>(rng() % 1000)}}});
      nodes.push_back(n);
    }
    const SessionTree tree(nodes);
    for (const json& n : nodes) {
      const int64_t id = n["id"].get<int64_t>();
      const std::vector<int32_t> ref = reference_path(nodes, id);
      ASSERT_EQ(tree.path_length(id), static_cast<int64_t>(ref.size()));
      ASSERT_EQ(tree.path_ids(id, tree.path_length(id)), ref);
      const int64_t cut = static_cast<int64_t>(rng() % (ref.size() + 1));
      ASSERT_EQ(tree.path_ids(id, cut), std::vector<int32_t>(ref.begin(), ref.begin() + cut));
      for (int64_t at = 0; at <= static_cast<int64_t>(ref.size()); ++at) {
        const std::optional<int64_t> parent = tree.branch_parent(id, at);
        if (!parent) {
          // Every node on the path starts at or after `at`: only a first answer fits.
          EXPECT_TRUE(at == 0 || n["at"].get<int64_t>() >= at);
          continue;
        }
        // The parent's path agrees with this one up to `at` and reaches it.
        const std::vector<int32_t> pp = reference_path(nodes, *parent);
        ASSERT_GE(static_cast<int64_t>(pp.size()), at);
        EXPECT_TRUE(std::equal(pp.begin(), pp.begin() + at, ref.begin())) << "trial " << trial;
        // Its own tokens start before `at` (or it is the node itself, continued at its end).
        const auto& pn = *std::find_if(nodes.begin(), nodes.end(), [&](const json& x) { return x["id"] == *parent; });
        EXPECT_TRUE(pn["at"].get<int64_t>() < at || (*parent == id && at == static_cast<int64_t>(ref.size())));
      }
    }
  }
}

TEST(ExploreTree, UnknownNodesAreErrors) {
  const json nodes = json::array({{{"id", 1}, {"parent", nullptr}, {"at", 0}, {"tokens", json::array()}}});
  const SessionTree tree(nodes);
  EXPECT_TRUE(tree.has(1));
  EXPECT_FALSE(tree.has(2));
  EXPECT_THROW(tree.path_length(2), std::exception);
}
