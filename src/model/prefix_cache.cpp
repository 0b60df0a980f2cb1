#include "model/prefix_cache.h"

#include <algorithm>
#include <map>
#include <string>

#include "core/error.h"

namespace entropix {

namespace {

constexpr int32_t kPage = KvCache::kPageSize;

int32_t pages_for(int32_t positions) { return (positions + kPage - 1) / kPage; }

}  // namespace

struct PrefixCache::Node {
  std::vector<int32_t> tokens;  // the edge: ids of positions [start, end())
  int32_t start = 0;
  int32_t first_page = 0;       // page index (position / kPageSize) of pages[0]
  std::vector<int32_t> pages;   // KV pages held, one reference each; none an ancestor holds
  Node* parent = nullptr;
  std::map<int32_t, std::unique_ptr<Node>> children;  // by their first token
  uint64_t last_use = 0;

  int32_t end() const { return start + static_cast<int32_t>(tokens.size()); }
};

// What one pass over the tree finds out about eviction.
struct PrefixCache::Scan {
  int32_t reclaimable = 0;  // pages of the unpinned nodes
  Node* victim = nullptr;   // the least recently used unpinned leaf
};

PrefixCache::PrefixCache(KvCache& kv, const PrefixCacheOptions& options)
    : kv_(kv),
      max_pages_(options.max_pages > 0 ? options.max_pages : kv.n_pages()),
      root_(std::make_unique<Node>()),
      held_(static_cast<size_t>(kv.n_pages()), 0) {
  if (options.max_pages < 0) {
    throw Error("prefix cache budget: expected 0 (the whole KV cache) or a number of pages, got " +
                std::to_string(options.max_pages));
  }
  kv_.set_reclaimer(this);
}

PrefixCache::~PrefixCache() {
  clear();
  kv_.set_reclaimer(nullptr);
}

PrefixCache::Walk PrefixCache::walk(std::span<const int32_t> tokens) const {
  Node* node = root_.get();
  size_t depth = 0;
  while (depth < tokens.size()) {
    auto it = node->children.find(tokens[depth]);
    if (it == node->children.end()) break;
    Node* child = it->second.get();
    const std::vector<int32_t>& edge = child->tokens;
    size_t k = 0;
    while (k < edge.size() && depth + k < tokens.size() && edge[k] == tokens[depth + k]) ++k;
    node = child;
    depth += k;
    if (k < edge.size()) break;
  }
  return {node, static_cast<int32_t>(depth)};
}

void PrefixCache::touch(Node* node) {
  ++clock_;
  for (Node* n = node; n; n = n->parent) n->last_use = clock_;
}

// The page of each position of the path to `node`, up to `length`: per page index,
// the page of the deepest node holding one.
std::vector<int32_t> PrefixCache::path_pages(const Node* node, int32_t length) const {
  std::vector<const Node*> path;
  for (const Node* n = node; n != root_.get(); n = n->parent) path.push_back(n);
  std::vector<int32_t> pages;
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    const Node& n = **it;
    if (n.pages.empty()) continue;
    pages.resize(static_cast<size_t>(n.first_page));  // its own copy of a page at the branch point wins
    pages.insert(pages.end(), n.pages.begin(), n.pages.end());
  }
  pages.resize(static_cast<size_t>(pages_for(length)));
  return pages;
}

PrefixMatch PrefixCache::match(std::span<const int32_t> tokens) {
  ++stats_.lookups;
  stats_.tokens_looked_up += static_cast<int64_t>(tokens.size());
  Walk w = tokens.size() > 1 ? walk(tokens.first(tokens.size() - 1)) : Walk{root_.get(), 0};
  // Sliding-window layers keep only the last positions of what was cached: a match ends
  // where they hold all that the next position reads.
  if (const int32_t usable = usable_length(w); usable < w.length) w = walk(tokens.first(static_cast<size_t>(usable)));
  PrefixMatch m;
  if (w.length == 0) {
    m.seq = kv_.new_sequence();
    return m;
  }
  // A match that ends inside an edge splits it there, so that the part after it is
  // not pinned by this sequence and can be evicted on its own.
  Node* node = w.length < w.node->end() ? split(w.node, w.length) : w.node;
  touch(node);
  m.seq = kv_.sequence_from_pages(path_pages(node, w.length), w.length);
  m.n_cached = w.length;
  ++stats_.hits;
  stats_.tokens_matched += w.length;
  return m;
}

int32_t PrefixCache::usable_length(const Walk& w) const {
  if (kv_.window() <= 0 || w.length == 0) return w.length;
  return kv_.usable_length(path_pages(w.node, w.length), w.length);
}

int32_t PrefixCache::cached_length(std::span<const int32_t> tokens) const { return usable_length(walk(tokens)); }

// Splits `node`'s edge before position `at`; returns the new upper node.
PrefixCache::Node* PrefixCache::split(Node* node, int32_t at) {
  const auto k = static_cast<size_t>(at - node->start);
  auto upper = std::make_unique<Node>();
  upper->tokens.assign(node->tokens.begin(), node->tokens.begin() + static_cast<long>(k));
  upper->start = node->start;
  upper->parent = node->parent;
  upper->last_use = node->last_use;
  // The upper part takes the pages of its positions. One that straddles `at` stays
  // with it: the lower part's positions there are in that same physical page.
  const auto n_upper = static_cast<size_t>(
      std::clamp<int32_t>(pages_for(at) - node->first_page, 0, static_cast<int32_t>(node->pages.size())));
  upper->first_page = node->first_page;
  upper->pages.assign(node->pages.begin(), node->pages.begin() + static_cast<long>(n_upper));
  node->pages.erase(node->pages.begin(), node->pages.begin() + static_cast<long>(n_upper));
  node->first_page += static_cast<int32_t>(n_upper);
  node->tokens.erase(node->tokens.begin(), node->tokens.begin() + static_cast<long>(k));
  node->start = at;

  std::unique_ptr<Node>& slot = node->parent->children[upper->tokens[0]];
  node->parent = upper.get();
  upper->children[node->tokens[0]] = std::move(slot);
  slot = std::move(upper);
  ++stats_.nodes;
  return slot.get();
}

// A leaf under `parent` for tokens[parent->end()..], holding the pages of `seq` the path lacks.
PrefixCache::Node* PrefixCache::add_leaf(Node* parent, std::span<const int32_t> tokens, int32_t seq) {
  const int32_t m = parent->end(), n = static_cast<int32_t>(tokens.size());
  const std::span<const int32_t> seq_pages = kv_.pages(seq);
  const std::vector<int32_t> path = path_pages(parent, m);
  int32_t first = m / kPage;
  // The sequence's positions from m on may be in the very page the path holds there (it
  // wrote them before that page was cached); the path's holder keeps it.
  if (static_cast<size_t>(first) < path.size() && seq_pages[static_cast<size_t>(first)] == path[static_cast<size_t>(first)]) {
    ++first;
  }
  for (int32_t i = first; i < pages_for(n); ++i) {
    const int32_t page = seq_pages[static_cast<size_t>(i)];
    if (held_[static_cast<size_t>(page)]) {
      throw Error("prefix cache: page " + std::to_string(page) + " of sequence " + std::to_string(seq) +
                  " (position " + std::to_string(i * kPage) +
                  ") is cached for other tokens; the tokens given do not match the sequence");
    }
  }
  auto leaf = std::make_unique<Node>();
  leaf->tokens.assign(tokens.begin() + m, tokens.end());
  leaf->start = m;
  leaf->first_page = first;
  leaf->parent = parent;
  for (int32_t i = first; i < pages_for(n); ++i) {
    const int32_t page = seq_pages[static_cast<size_t>(i)];
    kv_.retain_page(page);
    held_[static_cast<size_t>(page)] = 1;
    leaf->pages.push_back(page);
  }
  stats_.pages_held += static_cast<int32_t>(leaf->pages.size());
  stats_.tokens_inserted += n - m;
  ++stats_.nodes;
  std::unique_ptr<Node>& slot = parent->children[tokens[static_cast<size_t>(m)]];
  slot = std::move(leaf);
  return slot.get();
}

void PrefixCache::insert(std::span<const int32_t> tokens, int32_t seq) {
  const int32_t n = static_cast<int32_t>(tokens.size());
  if (n > kv_.length(seq)) {
    throw Error("prefix cache: " + std::to_string(n) + " tokens given for sequence " + std::to_string(seq) +
                " of " + std::to_string(kv_.length(seq)) + " positions");
  }
  if (n == 0) return;
  const Walk w = walk(tokens);
  Node* node = w.node;
  if (w.length < n) {
    if (w.length < node->end()) node = split(node, w.length);
    node = add_leaf(node, tokens, seq);
  }
  touch(node);
  trim_to_budget();
}

void PrefixCache::retire(std::span<const int32_t> tokens, int32_t seq) {
  try {
    insert(tokens, seq);
  } catch (...) {
    kv_.free_sequence(seq);
    throw;
  }
  kv_.free_sequence(seq);
  trim_to_budget();
}

bool PrefixCache::scan(Node* node, int32_t path_last, Scan& s) const {
  // The pages of the node's positions: its own, and the one its first positions share
  // with the parent's last ones when an ancestor holds it (path_last: the last page of
  // the path to the parent).
  const bool straddles = node->start % kPage != 0 && (node->pages.empty() || node->first_page * kPage > node->start);
  bool pinned = straddles && kv_.page_refs(path_last) > 1;
  for (int32_t page : node->pages) {
    if (kv_.page_refs(page) > 1) pinned = true;
  }
  const int32_t last = node->pages.empty() ? path_last : node->pages.back();
  for (auto& entry : node->children) {
    if (scan(entry.second.get(), last, s)) pinned = true;
  }
  if (!pinned) {
    s.reclaimable += static_cast<int32_t>(node->pages.size());
    if (node != root_.get() && node->children.empty() && (!s.victim || node->last_use < s.victim->last_use)) {
      s.victim = node;
    }
  }
  return pinned;
}

int32_t PrefixCache::drop_leaf(Node* leaf) {
  int32_t freed = 0;
  for (int32_t page : leaf->pages) {
    held_[static_cast<size_t>(page)] = 0;
    if (kv_.page_refs(page) == 1) ++freed;
    kv_.release_page(page);
  }
  stats_.pages_held -= static_cast<int32_t>(leaf->pages.size());
  stats_.pages_evicted += freed;
  ++stats_.evictions;
  --stats_.nodes;
  leaf->parent->children.erase(leaf->tokens[0]);
  return freed;
}

int32_t PrefixCache::evict(int32_t pages) {
  int32_t freed = 0;
  while (freed < pages) {
    Scan s;
    scan(root_.get(), -1, s);
    if (!s.victim) break;
    freed += drop_leaf(s.victim);
  }
  return freed;
}

bool PrefixCache::evict_until(int32_t positions) {
  const int32_t missing = pages_for(positions) - kv_.free_pages();
  if (missing > 0) evict(missing);
  return kv_.free_pages() * kPage >= positions;
}

void PrefixCache::trim_to_budget() {
  while (stats_.pages_held > max_pages_) {
    Scan s;
    scan(root_.get(), -1, s);
    if (!s.victim) break;
    drop_leaf(s.victim);
  }
}

void PrefixCache::drop_pages(Node* node) {
  for (auto& entry : node->children) drop_pages(entry.second.get());
  for (int32_t page : node->pages) {
    held_[static_cast<size_t>(page)] = 0;
    kv_.release_page(page);
  }
  node->pages.clear();
}

void PrefixCache::clear() {
  drop_pages(root_.get());
  root_->children.clear();
  stats_.pages_held = 0;
  stats_.nodes = 0;
}

int32_t PrefixCache::reclaimable_pages() const {
  Scan s;
  scan(root_.get(), -1, s);
  return s.reclaimable;
}

int32_t PrefixCache::reclaim(int32_t pages) { return evict(pages); }

PrefixCacheStats PrefixCache::stats() const { return stats_; }

}  // namespace entropix
